"""Seeds typed as dbt-duckdb types them, loaded without a per-row Python loop.

dbt infers a seed's column types with agate and dbt-duckdb then creates the
table with those types and `COPY`s the file into it. The inference rules, in
order of preference (the first that every non-empty cell of a column passes):

- a number (agate's parsing: `%`, a leading `-`, currency symbols and `,`
  thousands separators are stripped): DOUBLE if any value has a fractional
  part after normalisation (`1.50` has one, `1.0` has none), else INTEGER;
- a date `%Y-%m-%d` -> DATE;
- a timestamp `%Y-%m-%d %H:%M:%S`, or ISO 8601 with a `T` -> TIMESTAMP;
- `true` / `false` (any case) -> BOOLEAN;
- anything else -> VARCHAR.

Empty cells and `null` count as missing for the inference; a column with no
values is INTEGER. `column_types` overrides a column's type, `quote_columns:
false` leaves the names unquoted. Here every rule is a vectorized DuckDB
expression over the file read as text, so a million-row seed is typed in one
scan; the rows are then loaded with `COPY` into a table of those types, so the
values are converted exactly as dbt-duckdb converts them (`007` -> 7, an
integer above INTEGER's range is an error naming the column, as in dbt).
"""

from __future__ import annotations

import uuid
from typing import Any

import duckdb

from predsql.compiler import CompiledNode
from predsql.database import RelationCatalog, quote, relation
from predsql.errors import ExecutionError
from predsql.materializations.base import BuildResult, drop_quietly, swap_in, temp_name

_CURRENCY = "؋$ƒ៛¥₡₱£€¢﷼₪₩₭₮₦฿₤₫"
_DIGITS = r"[0-9]+(_[0-9]+)*"
_DECIMAL = rf"(({_DIGITS}(\.({_DIGITS})?)?|\.{_DIGITS})([eE][+-]?{_DIGITS})?|inf|infinity|s?nan)"
NUMBER_RE = rf"(?i)^%*-?[{_CURRENCY}]*\s*[+-]?{_DECIMAL}\s*[{_CURRENCY}]*%*$"
_MONTH = "(1[0-2]|0[1-9]|[1-9])"
_DAY = "(3[01]|[12][0-9]|0[1-9]|[1-9]| [1-9])"
DATE_RE = rf"^[0-9]{{4}}-{_MONTH}-{_DAY}$"
_CLOCK = "(2[0-3]|[01][0-9]|[0-9]):([0-5][0-9]|[0-9]):([0-5][0-9]|[0-9])"
DATETIME_RE = rf"^[0-9]{{4}}-{_MONTH}-{_DAY}\s+{_CLOCK}$"
ISO_RE = (r"^[0-9]{4}-?[0-9]{2}-?[0-9]{2}T([01][0-9]|2[0-3])(:?[0-5][0-9](:?[0-5][0-9])?)?([.,][0-9]+)?"
          r"(Z|[+-][0-9]{2}(:?[0-9]{2})?)?$")
MISSING = ("", "null")


def _real_day(v: str) -> str:
    """SQL: the `%Y-%m-%d` prefix of `v` names a real day (Feb 30 does not)."""
    prefix = f"replace(regexp_extract({v}, '^[0-9]{{4}}-[0-9]{{1,2}}-\\s?[0-9]{{1,2}}'), ' ', '')"
    return f"try_strptime({prefix}, '%Y-%m-%d') IS NOT NULL"


def _places(v: str) -> str:
    """SQL: decimal places of agate's normalised Decimal of the number `v` with an exponent."""
    parts = (f"regexp_extract(regexp_replace(replace({v}, ',', ''), '^[^0-9.]*', ''), "
             "'([0-9_]*)(?:\\.([0-9_]*))?(?:[eE]([+-]?[0-9_]+))?', ['i', 'f', 'e'])")
    digits = f"replace({parts}.i || {parts}.f, '_', '')"
    return (f"CASE WHEN ltrim({digits}, '0') = '' THEN 0 ELSE length(replace({parts}.f, '_', '')) "
            f"- COALESCE(TRY_CAST(replace({parts}.e, '_', '') AS INTEGER), 0) - (length({digits}) "
            f"- length(rtrim({digits}, '0'))) END")


def _fraction(v: str) -> str:
    """SQL: the number `v` has a fractional part (`1.50` has, `1.0` and `1e3` have not)."""
    return (f"CASE WHEN NOT regexp_matches({v}, '[.eE]') THEN false "
            f"WHEN regexp_matches({v}, '(?i)(inf|nan)') THEN NULL "
            f"WHEN NOT regexp_matches({v}, '[eE]') THEN regexp_matches({v}, '\\.[0-9_]*[1-9]') "
            f"ELSE {_places(v)} > 0 END")


def _hypotheses(v: str) -> list[tuple[str, str]]:
    """agate's types in order of preference, each a SQL test of one trimmed, present
    value: a cheap test for the usual spellings, then the exact rule for the rest."""
    day = f"regexp_full_match({v}, '{DATE_RE}') AND {_real_day(v)}"
    timestamp = f"regexp_full_match({v}, '{DATETIME_RE}') AND {_real_day(v)}"
    iso = (f"regexp_full_match({v}, '{ISO_RE}') AND (NOT regexp_matches({v}, '^[0-9]{{4}}-') "
           f"OR {_real_day(v)})")
    return [
        ("NUMBER", f"regexp_full_match({v}, '-?[0-9]+') OR regexp_full_match("
                   f"replace({v}, ',', ''), '{NUMBER_RE}')"),
        ("DATE", f"(regexp_full_match({v}, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}') AND "
                 f"TRY_CAST({v} AS DATE) IS NOT NULL) OR ({day})"),
        ("TIMESTAMP", f"(regexp_full_match({v}, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}} "
                      f"[0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}') AND TRY_CAST({v} AS TIMESTAMP) "
                      f"IS NOT NULL) OR ({timestamp})"),
        ("TIMESTAMP", iso),
        ("BOOLEAN", f"lower(replace({v}, ',', '')) IN ('true', 'false')"),
    ]


def _read_text(path: str, delimiter: str) -> str:
    return (f"read_csv({_literal(path)}, header = true, all_varchar = true, "
            f"delim = {_literal(delimiter)})")


def _exists(cursor: duckdb.DuckDBPyConnection, table: str, condition: str) -> bool:
    return bool(cursor.execute(f"SELECT 1 FROM {table} WHERE {condition} LIMIT 1").fetchall())


def column_type(cursor: duckdb.DuckDBPyConnection, table: str, name: str) -> str:
    """The first hypothesis with no counterexample. A failing one stops at its first
    counterexample, so each column costs about one scan."""
    v = quote(name)
    for kind, check in _hypotheses(v):
        if _exists(cursor, table, f"{v} IS NOT NULL AND NOT ({check})"):
            continue
        if kind == "NUMBER":
            fraction = _exists(cursor, table, f"{v} IS NOT NULL AND ({_fraction(v)})")
            return "DOUBLE" if fraction else "INTEGER"
        return kind
    return "VARCHAR"


def infer_types(cursor: duckdb.DuckDBPyConnection, path: str, delimiter: str = ",",
                text_columns: frozenset[str] = frozenset()) -> dict[str, str]:
    """Column name -> the DuckDB type dbt-duckdb gives it, in file order."""
    source = _read_text(path, delimiter)
    names = [d[0] for d in cursor.execute(f"SELECT * FROM {source} LIMIT 0").description]
    # each value trimmed once; empty cells and `null` become NULL (missing to agate)
    values = ", ".join(
        f"CASE WHEN lower(trim({quote(n)})) IN {MISSING} THEN NULL ELSE trim({quote(n)}) END "
        f"AS {quote(n)}" for n in names)
    table = quote(f"__predsql_seed_{uuid.uuid4().hex}")
    cursor.execute(f"CREATE TEMP TABLE {table} AS SELECT {values} FROM {source}")
    try:
        return {name: "VARCHAR" if name in text_columns else column_type(cursor, table, name)
                for name in names}
    finally:
        cursor.execute(f"DROP TABLE IF EXISTS {table}")


def seed_columns(cursor: duckdb.DuckDBPyConnection, node: CompiledNode) -> list[tuple[str, str]]:
    """(column SQL, type) of a seed: inferred, then `column_types` overrides."""
    overrides = node.config.get("column_types") or {}
    if not isinstance(overrides, dict):
        raise ExecutionError("`column_types` must map column names to DuckDB types",
                             path=node.node.properties_path or node.node.rel_path)
    quoting = node.config.get("quote_columns")
    if quoting is not None and not isinstance(quoting, bool):
        raise ExecutionError(f"`quote_columns` must be true or false, not {quoting!r}",
                             path=node.node.properties_path or node.node.rel_path)
    inferred = infer_types(cursor, str(node.node.path), delimiter_of(node),
                           frozenset(str(k) for k in overrides))
    return [(quote(name) if quoting is not False else name, str(overrides.get(name, kind)))
            for name, kind in inferred.items()]


def delimiter_of(node: CompiledNode) -> str:
    return str(node.config.get("delimiter") or ",")


def _literal(value: Any) -> str:
    return "'" + str(value).replace("'", "''") + "'"


class SeedMaterialization:
    """CREATE TABLE with the inferred types, COPY the file in, swap atomically."""

    def build(self, cursor: duckdb.DuckDBPyConnection, node: CompiledNode, rows: Any,
              catalog: RelationCatalog) -> BuildResult:
        catalog.ensure_schema(cursor, node.schema)
        columns = seed_columns(cursor, node)
        temp = temp_name(node)
        target = relation(node.schema, temp)
        catalog.drop(cursor, node.schema, temp)
        try:
            defs = ", ".join(f"{name} {kind}" for name, kind in columns)
            cursor.execute(f"CREATE TABLE {target} ({defs})")
            catalog.record(node.schema, temp, "BASE TABLE")
            count = load_rows(cursor, node, target)
            swap_in(cursor, catalog, node.schema, temp, node.alias)
        except BaseException:
            drop_quietly(cursor, catalog, node.schema, temp)
            raise
        return BuildResult(count, f"INSERT {count}")


def load_rows(cursor: duckdb.DuckDBPyConnection, node: CompiledNode, target: str) -> int:
    path = _literal(str(node.node.path))
    delimiter = _literal(delimiter_of(node))
    try:
        row = cursor.execute(f"COPY {target} FROM {path} (FORMAT CSV, HEADER TRUE, "
                             f"DELIMITER {delimiter})").fetchall()
    except duckdb.ConversionException as exc:
        lines = str(exc).splitlines()
        detail = next((line.strip() for line in lines if "converting column" in line), lines[0])
        raise ExecutionError(
            f"seed {node.name!r}: a value does not fit the column type dbt's inference "
            f"gives it. {detail}",
            path=node.node.rel_path,
            hint="set the column's type under `column_types:` in the seed's config "
                 "(e.g. `column_types: {id: bigint}`); dbt-duckdb fails the same way",
        ) from exc
    return int(row[0][0]) if row else 0
