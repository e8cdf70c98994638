"""The prediction cache: results stored in DuckDB, keyed by exact input values.

One table per function in schema `__predsql_cache`:
    (fingerprint, h = hash(args), a0 .. ak, result, created_at)
A stage with cached calls (1) finds the argument tuples not yet cached under the
function's fingerprint, (2) streams only those through the model into the cache,
and (3) reads every result from the cache in the statement that builds the
model, by a join on (fingerprint, h) confirmed by comparing a0 .. ak. NULL
arguments are never cached
(their result is NULL); NaN equals NaN in DuckDB, so NaN inputs are served too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import duckdb

from predsql.database import ensure_schema, quote, relation
from predsql.errors import InferenceError
from predsql.ml.mapping import FunctionStats, StageStream, cast_error
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
    return "hash(" + ", ".join(f"{alias}.{quote(c)}" for c in columns) + ")"


def _same_args(cache: str, source: str, call: StageCall) -> str:
    return " AND ".join(f'{cache}."a{i}" = {source}.{quote(c)}'
                        for i, c in enumerate(call.arg_columns))


def _current(fn: MlFunction) -> str:
    """The cache entries of the function's current fingerprint (unique per hash)."""
    return (f"(SELECT * FROM {cache_relation(fn)} "
            f"WHERE fingerprint = {_literal(fn.fingerprint)})")


def _not_null(alias: str, columns: tuple[str, ...]) -> str:
    return " AND ".join(f"{alias}.{quote(c)} IS NOT NULL" for c in columns)


@dataclass(frozen=True)
class Filled:
    """What `fill` leaves for `serve`: results of tuples whose hash collides with
    another tuple's (never cached, so the cache stays unique per hash)."""

    call: StageCall
    fresh: str
    collisions: int


def fill(cursor: duckdb.DuckDBPyConnection, stage: Stage, call: StageCall, work: str,
         fresh: str, runtimes: Any, stats: dict[str, FunctionStats], console: Any,
         node: Any) -> Filled:
    """Send the tuples the cache lacks through the model and store their results.

    The cache holds one entry per (fingerprint, hash of the arguments), so a join
    on the 64-bit hash finds the candidate and comparing the arguments confirms
    it: exact, and much cheaper than joining on every argument column."""
    fn = call.fn
    try:
        if fn.on_null == "error":
            _check_nulls(cursor, stage, call, node)
        with runtimes.cache_lock(fn.name):
            return _fill(cursor, stage, call, work, fresh, runtimes, stats, console, node)
    except duckdb.ConversionException as exc:  # a value of the input that does not cast
        raise cast_error(cursor, node, stage, exc) from exc


def _fill(cursor: duckdb.DuckDBPyConnection, stage: Stage, call: StageCall, work: str,
          fresh: str, runtimes: Any, stats: dict[str, FunctionStats], console: Any,
          node: Any) -> Filled:
    fn = call.fn
    ensure_cache(cursor, fn)
    args = ", ".join(quote(c) for c in call.arg_columns)
    present = _not_null("__k", call.arg_columns)
    scored = cursor.execute(
        f"SELECT count(*) FROM ({stage.input_sql}) AS __k WHERE {present}").fetchall()[0][0]
    keys = ", ".join(f"__k.{quote(c)}" for c in call.arg_columns)
    cursor.execute(
        f"CREATE TABLE {work} AS SELECT {keys}, count(*) AS __rows, "
        f"bool_or(__c.h IS NOT NULL) AS __collision FROM ({stage.input_sql}) AS __k "
        f"LEFT JOIN {_current(fn)} AS __c ON __c.h = {_hash('__k', call.arg_columns)} "
        f"WHERE {present} AND (__c.h IS NULL OR NOT ({_same_args('__c', '__k', call)})) "
        "GROUP BY ALL")
    # new tuples that share a hash cannot all be cached under it
    cursor.execute(
        f"UPDATE {work} SET __collision = true WHERE hash({args}) IN "
        f"(SELECT hash({args}) FROM {work} GROUP BY 1 HAVING count(*) > 1)")
    missing_rows, collisions = cursor.execute(
        f"SELECT coalesce(sum(__rows), 0), count(*) FILTER (WHERE __collision) "
        f"FROM {work}").fetchall()[0]
    if missing_rows:  # else no session is created and nothing is written
        _score_misses(cursor, fn, call, work, fresh, runtimes, stats, console, node)
        cursor.execute(
            f"INSERT INTO {cache_relation(fn)} SELECT {_literal(fn.fingerprint)}, "
            f"hash({args}), {args}, {quote(call.result_column)}, now() FROM {fresh} "
            "WHERE NOT __collision")
    cursor.execute(f"DROP TABLE IF EXISTS {work}")
    record = stats[fn.name]
    with record.lock:
        record.rows_from_cache += int(scored) - int(missing_rows)
    return Filled(call, fresh, int(collisions))


def _score_misses(cursor: duckdb.DuckDBPyConnection, fn: MlFunction, call: StageCall,
                  work: str, fresh: str, runtimes: Any, stats: dict[str, FunctionStats],
                  console: Any, node: Any) -> None:
    args = ", ".join(quote(c) for c in call.arg_columns)
    misses = Stage(
        input_sql=f"SELECT {args}, __collision FROM {work}",
        probe_sql=f"SELECT {args} FROM {work}",
        passthrough=(*call.arg_columns, "__collision"), calls=(call,), relation="",
        streamed=False)
    stream = StageStream(cursor, misses, runtimes, stats, console, node)
    name = f"__predsql_fill_{fn.name}"
    cursor.register(name, stream.reader())
    try:
        stream.run(lambda: cursor.execute(f"CREATE TABLE {fresh} AS SELECT * FROM {name}"))
    finally:
        cursor.unregister(name)


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


def serve(stage: Stage, filled: list[Filled]) -> Stage:
    """The stage's input joined with the caches: cached results arrive as columns."""
    joins = []
    results = []
    for i, item in enumerate(filled):
        call, alias = item.call, f"__cache{i}"
        joins.append(f"LEFT JOIN {_current(call.fn)} AS {alias} ON "
                     f"{alias}.h = {_hash('__k', call.arg_columns)}")
        value = f"CASE WHEN {_same_args(alias, '__k', call)} THEN {alias}.result END"
        if item.collisions:
            other = f"__collided{i}"
            joins.append(
                f"LEFT JOIN (SELECT * FROM {item.fresh} WHERE __collision) AS {other} ON "
                + " AND ".join(f"{other}.{quote(c)} = __k.{quote(c)}"
                               for c in call.arg_columns))
            value = f"coalesce({value}, {other}.{quote(call.result_column)})"
        results.append(f"{value} AS {quote(call.result_column)}")
    sql = (f"SELECT __k.*, {', '.join(results)} FROM ({stage.input_sql}) AS __k "
           + " ".join(joins))
    cached = {item.call.result_column for item in filled}
    remaining = tuple(c for c in stage.calls if c.result_column not in cached)
    passthrough = stage.passthrough + tuple(item.call.result_column for item in filled)
    return replace(stage, input_sql=sql, passthrough=passthrough, calls=remaining)


def pending(cursor: duckdb.DuckDBPyConnection, stage: Stage, call: StageCall) -> tuple[int, int]:
    """For `run --dry-run`: (rows whose arguments the cache lacks, distinct such
    argument tuples: what the model would be sent), counted by DuckDB."""
    fn = call.fn
    present = _not_null("__k", call.arg_columns)
    keys = ", ".join(f"__k.{quote(c)}" for c in call.arg_columns)
    missing = f"({stage.input_sql}) AS __k"
    if fn.name in cache_tables(cursor):
        missing += (f" LEFT JOIN {_current(fn)} AS __c ON __c.h = "
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
