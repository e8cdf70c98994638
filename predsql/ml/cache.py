"""The prediction cache: results stored in DuckDB, keyed by exact input values.

One table per function in schema `__predsql_cache`:
    (fingerprint, h = hash(args), a0 .. ak, result, created_at)
A stage with cached calls reads its input joined once with each cache, on
(fingerprint, h) confirmed by comparing a0 .. ak (`lookup`); while the stage
streams, only the rows without a cached result go to the model, and the tuples
it inferred are spooled to a file; once the stage's statement is done they are
added to the cache (`store`): inserted by a plain scan of that file, the rare tuples
whose hash repeats or is already cached being found first by narrow statements on
the hash alone (so every statement stays within a small memory_limit while the
node's uncommitted output holds most of it).
One pass over the input, one join with the cache.
NULL arguments are never cached (their result is NULL); NaN equals NaN in
DuckDB, so NaN inputs are served too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import duckdb
import pyarrow as pa

from predsql.database import ensure_schema, quote, relation
from predsql.errors import InferenceError
from predsql.ml.mapping import cast_error
from predsql.ml.plan import Stage, StageCall
from predsql.ml.registry import MlFunction, Registry

CACHE_SCHEMA = "__predsql_cache"


def cache_relation(fn: MlFunction) -> str:
    return relation(CACHE_SCHEMA, fn.name)


def ensure_cache(cursor: duckdb.DuckDBPyConnection, fn: MlFunction) -> None:
    """Create the function's cache table; recreate it when the function's argument or
    result types changed (its old entries belong to old fingerprints anyway)."""
    ensure_schema(cursor, CACHE_SCHEMA)
    wanted = [f"a{i}" for i in range(fn.arity)] + ["result"]
    types = [*fn.arg_types(), fn.result_type]
    canonical = cursor.execute(
        "SELECT " + ", ".join(f"typeof(CAST(NULL AS {t}))" for t in types)).fetchall()[0]
    existing = cursor.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = ? "
        "AND table_name = ? AND table_catalog = current_database() AND column_name NOT IN "
        "('fingerprint', 'h', 'created_at') ORDER BY ordinal_position",
        [CACHE_SCHEMA, fn.name]).fetchall()
    if existing and existing != list(zip(wanted, canonical)):
        cursor.execute(f"DROP TABLE {cache_relation(fn)}")
    args = ", ".join(f'"a{i}" {t}' for i, t in enumerate(fn.arg_types()))
    cursor.execute(
        f"CREATE TABLE IF NOT EXISTS {cache_relation(fn)} (fingerprint VARCHAR, h UBIGINT, "
        f"{args}, result {fn.result_type}, created_at TIMESTAMP)")


def prepare(con: duckdb.DuckDBPyConnection, registry: Registry, nodes: list[Any]) -> None:
    """Create the cache tables the nodes will use before they run: nodes build in their own
    transactions, and two of them creating the same table would conflict."""
    names = {f for node in nodes for f in (node.extra.get("ml_functions") or {})}
    for name in sorted(names):
        fn = registry.functions.get(name)
        if fn is not None and fn.cache:
            ensure_cache(con, fn)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _hash(alias: str, columns: tuple[str, ...]) -> str:
    return _hash_of([f"{alias}.{quote(c)}" for c in columns])


def _hash_of(columns: list[str]) -> str:
    """The cache key of a tuple: the same expression where it is looked up and stored."""
    return "hash(" + ", ".join(columns) + ")"


def _same_args(cache: str, source: str, call: StageCall) -> str:
    return " AND ".join(f'{cache}."a{i}" = {source}.{quote(c)}'
                        for i, c in enumerate(call.arg_columns))


def _entries(fn: MlFunction) -> str:
    """The cache entries of the function's current fingerprint (unique per hash): only
    the columns the lookup reads, so the join's hash table stays small."""
    args = ", ".join(f'"a{i}"' for i in range(fn.arity))
    return (f"(SELECT h, {args}, result FROM {cache_relation(fn)} "
            f"WHERE fingerprint = {_literal(fn.fingerprint)})")


def lookup(cursor: duckdb.DuckDBPyConnection, stage: Stage, node: Any, locks: Any) -> Stage:
    """The stage's input joined once with the cache of each cached call: a column per
    call holds the cached result, NULL where the tuple is not cached (or collides with
    another tuple's hash). The calls stay in the stage, which sends only those rows to
    the model (ml/mapping.py) and spools them for `store`."""
    joins, columns, calls = [], [], []
    for i, call in enumerate(stage.calls):
        if not call.fn.cache:
            calls.append(call)
            continue
        if call.fn.on_null == "error":
            try:
                _check_nulls(cursor, stage, call, node)
            except duckdb.ConversionException as exc:  # a value that does not cast
                raise cast_error(cursor, node, stage, exc) from exc
        with locks.cache_lock(call.fn.name):  # made before nodes run; here for other callers
            ensure_cache(cursor, call.fn)
        alias, column = f"__cache{i}", f"__cached{i}"
        joins.append(f"LEFT JOIN {_entries(call.fn)} AS {alias} ON "
                     f"{alias}.h = {_hash('__k', call.arg_columns)}")
        columns.append(f"CASE WHEN {_same_args(alias, '__k', call)} THEN {alias}.result END "
                       f"AS {quote(column)}")
        calls.append(replace(call, cached=column))
    if not joins:
        return stage
    sql = (f"SELECT __k.*, {', '.join(columns)} FROM ({stage.input_sql}) AS __k "
           + " ".join(joins))
    return replace(stage, input_sql=sql, calls=tuple(calls))


def store(cursor: duckdb.DuckDBPyConnection, call: StageCall,
          open_new: Callable[[], pa.RecordBatchReader | None], lock: Any) -> None:
    """Add the tuples a stage inferred (columns a0 .. ak, result; `open_new` opens a
    reader of them, once per statement) to the cache: each distinct tuple once, none
    whose hash the cache already holds (another model may have stored it meanwhile, or
    it collides), and none of two new tuples sharing a hash.

    Both exceptions are rare, and are found first by narrow statements on the hashes
    alone (kept in a temporary table, so DuckDB knows their number); the wide INSERT is
    then a plain scan of the tuples, joined with those hashes only when there are any.
    Within a small memory_limit, with the node's own uncommitted output still held, a
    single statement that grouped and windowed all columns of a reader of unknown size
    ran out of memory; copying all columns into a temporary table first wrote them to
    disk once more (290 MB for 4M tuples of 16 FLOAT)."""
    fn = call.fn
    args = [f'"a{i}"' for i in range(fn.arity)]
    new = f"__predsql_new_{fn.name}"
    fingerprint = _literal(fn.fingerprint)
    target = cache_relation(fn)
    hashed = f"(SELECT {_hash_of(args)} AS h, {', '.join(args)}, result FROM {new})"
    hashes, repeated, present = (f"{new}_{t}" for t in ("hashes", "repeated", "present"))

    def execute(sql: str) -> None:
        cursor.register(new, open_new())
        try:
            cursor.execute(sql)
        finally:
            cursor.unregister(new)

    try:
        execute(f"CREATE OR REPLACE TEMP TABLE {hashes} AS SELECT h FROM {hashed}")
        cursor.execute(f"CREATE OR REPLACE TEMP TABLE {repeated} AS SELECT h FROM {hashes} "
                       "GROUP BY h HAVING count(*) > 1")
        with lock:  # one model at a time stores into a function's cache
            cursor.execute(f"CREATE OR REPLACE TEMP TABLE {present} AS SELECT DISTINCT h FROM "
                           f"{target} WHERE fingerprint = {fingerprint} AND h IN (SELECT h "
                           f"FROM {hashes})")
            skip = [t for t in (repeated, present)
                    if cursor.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]]
            if repeated in skip:  # stored once per hash, if all its tuples are equal
                same = " AND ".join(f"min({a}) = max({a})" for a in args)
                first = ", ".join(f"any_value({a})" for a in args)
                execute(f"INSERT INTO {target} SELECT {fingerprint}, h, {first}, "
                        f"any_value(result), now() FROM {hashed} WHERE h IN (SELECT h FROM "
                        f"{repeated}) AND h NOT IN (SELECT h FROM {present}) GROUP BY h "
                        f"HAVING {same}")
            sql = (f"INSERT INTO {target} SELECT {fingerprint}, h, {', '.join(args)}, result, "
                   f"now() FROM {hashed}")
            for i, table in enumerate(skip):
                sql += f" {'AND' if i else 'WHERE'} h NOT IN (SELECT h FROM {table})"
            execute(sql)
    finally:
        for table in (hashes, repeated, present):
            cursor.execute(f"DROP TABLE IF EXISTS temp.{table}")


def _check_nulls(cursor: duckdb.DuckDBPyConnection, stage: Stage, call: StageCall,
                 node: Any) -> None:
    any_null = " OR ".join(f"{quote(c)} IS NULL" for c in call.arg_columns)
    nulls = cursor.execute(
        f"SELECT count(*) FROM ({stage.input_sql}) WHERE {any_null}").fetchall()[0][0]
    if nulls:
        raise InferenceError(
            f"{node.name!r}: {call.fn.name}() got NULL arguments in {nulls} rows and has "
            "on_null: error", path=node.node.rel_path,
            hint=f"filter the NULLs out, or set on_null: null in {call.fn.yml_path}")


def pending(cursor: duckdb.DuckDBPyConnection, stage: Stage, call: StageCall) -> tuple[int, int]:
    """For `run --dry-run`: (rows whose arguments the cache lacks, distinct such
    argument tuples: what the model would be sent), counted by DuckDB."""
    fn = call.fn
    present = " AND ".join(f"__k.{quote(c)} IS NOT NULL" for c in call.arg_columns)
    keys = ", ".join(f"__k.{quote(c)}" for c in call.arg_columns)
    missing = f"({stage.input_sql}) AS __k"
    if fn.name in cache_tables(cursor):
        missing += (f" LEFT JOIN {_entries(fn)} AS __c ON __c.h = "
                    f"{_hash('__k', call.arg_columns)}")
        present += f" AND (__c.h IS NULL OR NOT ({_same_args('__c', '__k', call)}))"
    rows, tuples = cursor.execute(
        f"SELECT count(*), count(DISTINCT ({keys})) FROM {missing} WHERE {present}").fetchall()[0]
    return int(rows), int(tuples)


# -- maintenance ----------------------------------------------------------------

def cache_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = ? "
        "AND table_catalog = current_database()", [CACHE_SCHEMA]).fetchall()
    return sorted(r[0] for r in rows)


def stats(con: duckdb.DuckDBPyConnection, registry: Registry) -> list[dict[str, Any]]:
    result = []
    for name in cache_tables(con):
        fn = registry.functions.get(name)
        current = fn.fingerprint if fn else ""
        total, live = con.execute(
            f"SELECT count(*), count(*) FILTER (WHERE fingerprint = ?) "
            f"FROM {relation(CACHE_SCHEMA, name)}", [current]).fetchall()[0]
        result.append({"function": name, "entries": total, "current_fingerprint": live,
                       "stale": total - live,
                       "registered": fn is not None or name in registry.broken})
    return result


def prune(con: duckdb.DuckDBPyConnection, registry: Registry) -> int:
    """Delete entries of fingerprints that are no longer current (and unregistered caches)."""
    removed = 0
    for name in cache_tables(con):
        fn = registry.functions.get(name)
        table = relation(CACHE_SCHEMA, name)
        if fn is None and name in registry.broken:
            continue  # cannot tell its current fingerprint: keep everything until it is fixed
        if fn is None:
            removed += con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
            con.execute(f"DROP TABLE {table}")
            continue
        row = con.execute(f"DELETE FROM {table} WHERE fingerprint <> ?",
                          [fn.fingerprint]).fetchall()[0]
        removed += int(row[0]) if row else 0
    return removed


def clear(con: duckdb.DuckDBPyConnection, function: str | None) -> list[str]:
    cleared = []
    for name in cache_tables(con):
        if function is None or name == function.lower():
            con.execute(f"DROP TABLE {relation(CACHE_SCHEMA, name)}")
            cleared.append(name)
    return cleared


def total_entries(con: duckdb.DuckDBPyConnection) -> int:
    return sum(con.execute(f"SELECT count(*) FROM {relation(CACHE_SCHEMA, n)}").fetchall()[0][0]
               for n in cache_tables(con))
