"""Running a unit test as dbt does, in a fresh in-memory DuckDB.

- Each `given` becomes the relation the model reads. With rows (`dict`, `csv`)
  every value is cast to the column type of the real relation (`cast(v as type)`,
  as dbt's fixture SQL does), columns matched case-insensitively; missing columns
  are NULL. A relation that does not exist yet takes the types DuckDB infers from
  the rows. `format: sql` is used as written.
- The model's SQL runs on them. The expected rows are cast to the types of the
  actual result's columns (so `4.5` equals a DECIMAL `4.50` and `'2024-01-01'` a
  TIMESTAMP at midnight), only the expected columns are compared, as a multiset;
  DOUBLE and FLOAT within a relative 1e-4 (ML outputs are float32).
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import time
from typing import Any

import duckdb
import pyarrow as pa

from predsql.compiler import CompiledNode, strip_sql
from predsql.database import describe_columns, quote, relation_kind
from predsql.dbt_duckdb.profile import load_extensions
from predsql.errors import ExecutionError
from predsql.runner import NodeResult

REL_TOL = 1e-4
ABS_TOL = 1e-6


def literal(value: Any) -> str:
    """A YAML or CSV value as the SQL literal dbt's fixture SQL writes."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, decimal.Decimal)):
        return repr(float(value)) if isinstance(value, float) else str(value)
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        value = value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    elif isinstance(value, (list, dict)):
        value = json.dumps(value)
    return "'" + str(value).replace("'", "''") + "'"


def typed_select(rows: list[dict[str, Any]], columns: dict[str, tuple[str, str]],
                 what: str) -> str:
    """SELECT of `rows` with every value cast to its column's type; `columns` maps
    the lower-case name to (name, type). An unknown column is an error, as in dbt."""
    selects = []
    for row in rows:
        values = {}
        for key, value in row.items():
            name = str(key).lower()
            if name not in columns:
                raise ExecutionError(
                    f"Invalid column name: '{name}' in unit test fixture for {what}",
                    hint=f"accepted columns for {what} are: {[c[0] for c in columns.values()]}")
            values[name] = value
        parts = [f"CAST({literal(values.get(low))} AS {kind}) AS {quote(real)}"
                 for low, (real, kind) in columns.items()
                 if low in values or what != "expected output"]
        selects.append("SELECT " + ", ".join(parts))
    return "\nUNION ALL\n".join(selects)


def describe(con: duckdb.DuckDBPyConnection, rel: str) -> dict[str, tuple[str, str]]:
    return {name.lower(): (name, kind) for name, kind in describe_columns(con, rel)}


def load_given(mem: duckdb.DuckDBPyConnection, target: duckdb.DuckDBPyConnection,
               given: dict[str, Any]) -> None:
    if given.get("error"):
        raise ExecutionError(given["error"])
    if given.get("ephemeral"):
        return  # its SQL stands in the model's CTEs
    schema, table = given["schema"], given["table"]
    mem.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}")
    name = f"{quote(schema)}.{quote(table)}"
    if given["format"] == "sql":
        mem.execute(f"CREATE TABLE {name} AS {strip_sql(given['sql'])}")
        return
    rows = given["rows"]
    if relation_kind(target, schema, table) is not None:
        columns = describe(target, name)
        defs = ", ".join(f"{quote(real)} {kind}" for real, kind in columns.values())
        mem.execute(f"CREATE TABLE {name} ({defs})")
        if rows:
            mem.execute(f"INSERT INTO {name} {typed_select(rows, columns, given['label'])}")
        return
    if not rows:
        raise ExecutionError(f"given {given['label']} has no rows and its relation "
                             f"{schema}.{table} does not exist to take its columns from",
                             hint="add rows, use format: sql, or build it first")
    keys = list(dict.fromkeys(str(k) for r in rows for k in r))
    lowered = {k.lower(): k for k in keys}
    arrow = pa.Table.from_pylist([{k: _plain(_get(r, k, lowered)) for k in keys} for r in rows])
    mem.register("__given", arrow)
    mem.execute(f"CREATE TABLE {name} AS SELECT * FROM __given")
    mem.unregister("__given")


def _get(row: dict[str, Any], key: str, lowered: dict[str, str]) -> Any:
    for k, v in row.items():
        if str(k).lower() == key.lower():
            return v
    return None


def _plain(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def expected_table(mem: duckdb.DuckDBPyConnection, expect: dict[str, Any],
                   actual: dict[str, tuple[str, str]]) -> list[str]:
    """Create __expected; return the (actual) names of the compared columns."""
    if expect["format"] == "sql":  # compared on every column of the model, as in dbt
        mem.execute(f"CREATE TABLE __expected_sql AS {strip_sql(expect['sql'])}")
        given = describe(mem, "__expected_sql")
        missing = [real for low, (real, _) in actual.items() if low not in given]
        if missing:
            raise ExecutionError(f"the expected output (format: sql) has no column "
                                 f"{missing[0]!r}; the model returns "
                                 f"{[c[0] for c in actual.values()]}",
                                 hint="select every column of the model in the expected SQL")
        listed = ", ".join(quote(given[low][0]) for low in actual)
        mem.execute(f"CREATE TABLE __expected AS SELECT {listed} FROM __expected_sql")
        return [real for real, _ in actual.values()]
    rows = expect["rows"]
    if not rows:
        mem.execute("CREATE TABLE __expected AS SELECT * FROM __actual LIMIT 0")
        return [real for real, _ in actual.values()]
    wanted = list(dict.fromkeys(str(k).lower() for r in rows for k in r))
    columns = {k: actual[k] for k in wanted if k in actual}
    for key in wanted:
        if key not in actual:
            raise ExecutionError(
                f"Invalid column name: '{key}' in unit test fixture for expected output",
                hint=f"accepted columns for expected output are: "
                     f"{[c[0] for c in actual.values()]}")
    full = [{k: _get(r, k, {}) for k in wanted} for r in rows]
    mem.execute(f"CREATE TABLE __expected AS {typed_select(full, columns, 'expected output')}")
    return [columns[k][0] for k in wanted]


def run_unit_test(cursor: duckdb.DuckDBPyConnection, node: CompiledNode, kit: Any) -> NodeResult:
    from predsql.ml.executor import MlRows

    started = time.time()
    mem = duckdb.connect(":memory:")
    try:
        load_extensions(mem, kit.compiled.project.target)  # the model may need them
        for given in node.extra["givens"]:
            load_given(mem, cursor, given)
        if node.extra.get("ml_calls"):
            MlRows(node, kit.runtimes.registry, kit.runtimes, mem,
                   kit.console).create_table(mem, "__actual")
        else:
            mem.execute(f"CREATE TABLE __actual AS {strip_sql(node.compiled_sql)}")
        columns = expected_table(mem, node.extra["expect"], describe(mem, "__actual"))
        listed = ", ".join(quote(c) for c in columns)
        actual = mem.execute(f"SELECT {listed} FROM __actual").fetchall()
        expected = mem.execute("SELECT * FROM __expected").fetchall()
    finally:
        mem.close()
    missing, unexpected = compare_rows(expected, actual)
    failures = len(missing) + len(unexpected)
    done = time.time()
    message = "" if not failures else diff_table(columns, missing, unexpected)
    return NodeResult(node.unique_id, node.name, "test", "fail" if failures else "pass",
                      message, execution_time=done - started, failures=failures,
                      started_at=started, completed_at=done, materialized="unit_test")


def values_match(expected: Any, actual: Any) -> bool:
    if expected is None or actual is None:
        return expected is None and actual is None
    if isinstance(actual, (list, tuple)):
        return (isinstance(expected, (list, tuple)) and len(expected) == len(actual)
                and all(values_match(e, a) for e, a in zip(expected, actual)))
    if isinstance(actual, dict):
        return (isinstance(expected, dict) and expected.keys() == actual.keys()
                and all(values_match(expected[k], actual[k]) for k in actual))
    if isinstance(actual, float) or isinstance(expected, float):
        try:
            return math.isclose(float(expected), float(actual), rel_tol=REL_TOL, abs_tol=ABS_TOL)
        except (TypeError, ValueError):
            return False
    return expected == actual or str(expected) == str(actual)


def compare_rows(expected: list[tuple], actual: list[tuple]) -> tuple[list[tuple], list[tuple]]:
    """Multiset comparison with float tolerance: (missing rows, unexpected rows)."""
    remaining = list(actual)
    missing = []
    for row in expected:
        match = next((i for i, other in enumerate(remaining)
                      if all(values_match(e, a) for e, a in zip(row, other))), None)
        if match is None:
            missing.append(row)
        else:
            remaining.pop(match)
    return missing, remaining


def diff_table(columns: list[str], missing: list[tuple], unexpected: list[tuple]) -> str:
    header = ["", *columns]
    body = [["- expected", *map(_fmt, r)] for r in missing]
    body += [["+ actual", *map(_fmt, r)] for r in unexpected]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]
    lines = [" | ".join(str(v).ljust(w) for v, w in zip(row, widths)) for row in [header, *body]]
    return "actual differs from expected:\n    " + "\n    ".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "NULL" if value is None else str(value)
