"""Opening the DuckDB database and the few catalog helpers the stages share."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import duckdb

from predsql.dbt_duckdb.profile import prepare
from predsql.errors import DatabaseLockedError, ProjectError
from predsql.project import Target

TEMP_PREFIX = "__predsql_tmp_"
# DuckDB's own default (80% of RAM) lets its buffer pool keep every block a run scans, so
# a process's memory grows with the tables. For a database file whose profile sets no
# limit, predsql sets this one: flat memory, and DuckDB spills to <file>.tmp beyond it.
DEFAULT_MEMORY_LIMIT = "192MB"
MEMORY_SETTINGS = ("memory_limit", "max_memory")
WORK_SCHEMA = "__predsql_work"
_PID_RE = re.compile(r"held in (?P<proc>.+?) \(PID (?P<pid>\d+)\)")


def describe_columns(cursor: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[str, str]]:
    """(name, type) of each column of a relation or query, as DuckDB's DESCRIBE gives them."""
    return [(str(r[0]), str(r[1])) for r in cursor.execute(f"DESCRIBE {sql}").fetchall()]


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def relation(schema: str, name: str) -> str:
    return f"{quote(schema)}.{quote(name)}"


def connect(
    target: Target, *, read_only: bool = False, lock_timeout: float = 0.0
) -> duckdb.DuckDBPyConnection:
    """Open the target database; a file held by another process is a clear error."""
    if target.path != ":memory:":
        Path(target.path).parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + lock_timeout
    while True:
        try:
            con = duckdb.connect(target.path, read_only=read_only)
            break
        except duckdb.IOException as exc:
            text = str(exc)
            if "lock" not in text.lower():
                raise ProjectError(
                    f"cannot open database: {text}", path=target.path
                ) from exc
            if time.monotonic() < deadline:
                time.sleep(0.2)
                continue
            raise _locked_error(target.path, text) from exc
    defaults = {}
    if target.path != ":memory:" and not any(str(k).lower() in MEMORY_SETTINGS
                                             for k in target.settings):
        defaults["memory_limit"] = DEFAULT_MEMORY_LIMIT
    prepare(con, target, defaults)  # settings, extensions, attach (dbt_duckdb/profile.py)
    return con


def _locked_error(path: str, text: str) -> DatabaseLockedError:
    match = _PID_RE.search(text)
    holder = f"process {match.group('pid')} ({match.group('proc')})" if match else "another process"
    return DatabaseLockedError(
        f"the database is in use by {holder}; nothing was changed",
        path=path,
        hint="wait for that run to finish, or pass --lock-timeout SECONDS to wait for it",
    )


def existing_relations(cursor: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], str]:
    """(schema, name) -> 'BASE TABLE' | 'VIEW' for the current database."""
    rows = cursor.execute(
        "SELECT table_schema, table_name, table_type FROM information_schema.tables "
        "WHERE table_catalog = current_database()"
    ).fetchall()
    return {(schema, name): kind for schema, name, kind in rows}


def relation_kind(cursor: duckdb.DuckDBPyConnection, schema: str, name: str) -> str | None:
    rows = cursor.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_catalog = "
        "current_database() AND table_schema = ? AND table_name = ?",
        [schema, name],
    ).fetchall()
    return rows[0][0] if rows else None


class RelationCatalog:
    """What relations exist, read once per run and kept current by predsql itself
    (the run holds the database's lock, so nothing else changes it). Looking a
    relation up in information_schema costs ~10 ms on a large catalog."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._kinds = existing_relations(con)
        self._schemas = {schema for schema, _ in self._kinds} | {
            r[0] for r in con.execute(
                "SELECT schema_name FROM information_schema.schemata "
                "WHERE catalog_name = current_database()").fetchall()}
        self._lock = threading.RLock()

    def snapshot(self) -> dict[tuple[str, str], str]:
        with self._lock:
            return dict(self._kinds)

    def forget_schema(self, schema: str) -> None:
        """`schema` was dropped with everything in it."""
        with self._lock:
            self._kinds = {k: v for k, v in self._kinds.items() if k[0] != schema}
            self._schemas.discard(schema)

    def tables(self) -> frozenset[tuple[str, str]]:
        with self._lock:
            return frozenset(k for k, v in self._kinds.items() if v == "BASE TABLE")

    def kind(self, schema: str, name: str) -> str | None:
        with self._lock:
            return self._kinds.get((schema, name))

    def drop_sql(self, schema: str, name: str) -> str | None:
        kind = self.kind(schema, name)
        if kind is None:
            return None
        return f"DROP {'VIEW' if kind == 'VIEW' else 'TABLE'} {relation(schema, name)}"

    def drop(self, cursor: duckdb.DuckDBPyConnection, schema: str, name: str) -> None:
        sql = self.drop_sql(schema, name)
        if sql:
            cursor.execute(sql)
            self.record(schema, name, None)

    def record(self, schema: str, name: str, kind: str | None) -> None:
        with self._lock:
            if kind is None:
                self._kinds.pop((schema, name), None)
            else:
                self._kinds[(schema, name)] = kind

    def ensure_schema(self, cursor: duckdb.DuckDBPyConnection, schema: str) -> None:
        with self._lock:
            if schema not in self._schemas:
                ensure_schema(cursor, schema)
                self._schemas.add(schema)


def drop_relation(cursor: duckdb.DuckDBPyConnection, schema: str, name: str) -> None:
    kind = relation_kind(cursor, schema, name)
    if kind == "VIEW":
        cursor.execute(f"DROP VIEW {relation(schema, name)}")
    elif kind is not None:
        cursor.execute(f"DROP TABLE {relation(schema, name)}")


def peek_tables(target: Target) -> frozenset[tuple[str, str]]:
    """The tables of the target database, read without holding it (for `compile`)."""
    if target.path == ":memory:" or not Path(target.path).exists():
        return frozenset()
    try:
        con = duckdb.connect(target.path, read_only=True)
    except duckdb.Error:
        return frozenset()
    try:
        return frozenset(k for k, v in existing_relations(con).items() if v == "BASE TABLE")
    finally:
        con.close()


def peek_connection(target: Target) -> duckdb.DuckDBPyConnection | None:
    """A read-only connection to the target database when it exists and is free."""
    if target.path == ":memory:" or not Path(target.path).exists():
        return None
    try:
        return duckdb.connect(target.path, read_only=True)
    except duckdb.Error:
        return None


def clean_leftovers(con: duckdb.DuckDBPyConnection,
                    catalog: RelationCatalog | None = None) -> list[str]:
    """Drop temporary relations a killed run left behind; `catalog`, read before,
    forgets them (the catalog is then read once per run)."""
    dropped = []
    kinds = existing_relations(con) if catalog is None else catalog.snapshot()
    for (schema, name), _kind in kinds.items():
        if name.startswith(TEMP_PREFIX):
            drop_relation(con, schema, name)
            if catalog is not None:
                catalog.record(schema, name, None)
            dropped.append(f"{schema}.{name}")
    con.execute(f"DROP SCHEMA IF EXISTS {quote(WORK_SCHEMA)} CASCADE")
    if catalog is not None:
        catalog.forget_schema(WORK_SCHEMA)
    return dropped


_SCHEMA_LOCK = threading.Lock()


def ensure_schema(cursor: duckdb.DuckDBPyConnection, schema: str) -> None:
    """Create a schema once; serialized, since concurrent creation conflicts in DuckDB."""
    with _SCHEMA_LOCK:
        cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}")
