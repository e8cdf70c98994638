"""Tables and views, and the atomic swap every materialization builds on.

Every strategy that replaces a table builds it under a temporary name and swaps
it in inside one transaction, so a failed or killed run leaves the previous
version intact (leftovers are dropped by `database.clean_leftovers`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol

import duckdb

from predsql.compiler import CompiledNode, strip_sql
from predsql.database import TEMP_PREFIX, RelationCatalog, quote, relation
from predsql.materializations import contracts

_SWAP_LOCK = threading.Lock()
# what must run inside the transaction that puts the node's relation in place, just
# before it commits (the node's post-hooks, as dbt runs them); consumed once
BEFORE_COMMIT: ContextVar[Callable[[duckdb.DuckDBPyConnection], None] | None] = ContextVar(
    "predsql_before_commit", default=None)


def run_before_commit(cursor: duckdb.DuckDBPyConnection) -> None:
    hook = BEFORE_COMMIT.get()
    if hook is not None:
        BEFORE_COMMIT.set(None)
        hook(cursor)


class RowSource(Protocol):
    """Produces a node's rows: plain SQL, or SQL with ML functions mapped in."""

    def create_table(self, cursor: duckdb.DuckDBPyConnection, target: str) -> int: ...

    def view_sql(self) -> str: ...

    def stats(self) -> dict[str, Any]: ...


@dataclass
class SqlRows:
    sql: str

    def create_table(self, cursor: duckdb.DuckDBPyConnection, target: str) -> int:
        row = cursor.execute(f"CREATE TABLE {target} AS\n{strip_sql(self.sql)}").fetchall()[0]
        return int(row[0]) if row else 0

    def view_sql(self) -> str:
        return strip_sql(self.sql)

    def stats(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class BuildResult:
    rows_affected: int | None
    message: str
    extra: dict[str, Any] = field(default_factory=dict)


class Materialization(Protocol):
    def build(
        self, cursor: duckdb.DuckDBPyConnection, node: CompiledNode, rows: RowSource,
        catalog: RelationCatalog,
    ) -> BuildResult: ...


def replace_relation(cursor: duckdb.DuckDBPyConnection, catalog: RelationCatalog,
                     schema: str, name: str, create: str, kind: str) -> None:
    """Drop `schema.name` (table or view) and run `create`, in one transaction."""
    with _SWAP_LOCK:
        cursor.begin()
        try:
            drop = catalog.drop_sql(schema, name)
            if drop:
                cursor.execute(drop)
            cursor.execute(create)
            run_before_commit(cursor)
            cursor.commit()
        except BaseException:
            cursor.rollback()
            raise
        catalog.record(schema, name, kind)


def swap_in(cursor: duckdb.DuckDBPyConnection, catalog: RelationCatalog, schema: str,
            temp: str, name: str) -> None:
    """Replace `schema.name` by the already built `schema.temp`, atomically."""
    rename = f"ALTER TABLE {relation(schema, temp)} RENAME TO {quote(name)}"
    replace_relation(cursor, catalog, schema, name, rename, "BASE TABLE")
    catalog.record(schema, temp, None)


def temp_name(node: CompiledNode) -> str:
    return f"{TEMP_PREFIX}{node.alias}"


def create_rows(cursor: duckdb.DuckDBPyConnection, node: CompiledNode, rows: RowSource,
                schema: str, name: str) -> int:
    """Create `schema.name` with the node's rows; a contracted node is checked first and
    its table made with the contract's columns and constraints (contracts.py)."""
    target = relation(schema, name)
    if not contracts.enforced(node):
        return rows.create_table(cursor, target)
    staged = None
    if isinstance(rows, SqlRows):
        source = f"({strip_sql(rows.sql)})"
        contracts.check(cursor, node, contracts.describe_sql(cursor, rows.sql))
    else:  # rows computed in Python (ML calls): built first, then checked and copied
        staged = source = relation(schema, f"{name}__rows")
        cursor.execute(f"DROP TABLE IF EXISTS {staged}")
        rows.create_table(cursor, staged)
        contracts.check(cursor, node, contracts.describe_sql(cursor, f"SELECT * FROM {staged}"))
    try:
        cursor.execute(f"CREATE TABLE {target} {contracts.table_definition(node)}")
        cols = contracts.column_list(node)
        row = cursor.execute(f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {source} "
                             "AS model_subq").fetchall()
    finally:
        if staged is not None:
            cursor.execute(f"DROP TABLE IF EXISTS {staged}")
    return int(row[0][0]) if row else 0


class TableMaterialization:
    def build(
        self, cursor: duckdb.DuckDBPyConnection, node: CompiledNode, rows: RowSource,
        catalog: RelationCatalog,
    ) -> BuildResult:
        catalog.ensure_schema(cursor, node.schema)
        temp = temp_name(node)
        catalog.drop(cursor, node.schema, temp)
        try:
            count = create_rows(cursor, node, rows, node.schema, temp)
            catalog.record(node.schema, temp, "BASE TABLE")
            swap_in(cursor, catalog, node.schema, temp, node.alias)
        except BaseException:
            drop_quietly(cursor, catalog, node.schema, temp)
            raise
        return BuildResult(count, f"SELECT {count}", rows.stats())


class ViewMaterialization:
    def build(
        self, cursor: duckdb.DuckDBPyConnection, node: CompiledNode, rows: RowSource,
        catalog: RelationCatalog,
    ) -> BuildResult:
        catalog.ensure_schema(cursor, node.schema)
        if contracts.enforced(node):
            contracts.check(cursor, node, contracts.describe_sql(cursor, rows.view_sql()))
        create = f"CREATE VIEW {node.relation} AS\n{rows.view_sql()}"
        replace_relation(cursor, catalog, node.schema, node.alias, create, "VIEW")
        return BuildResult(None, "CREATE VIEW")


def drop_quietly(cursor: duckdb.DuckDBPyConnection, catalog: RelationCatalog, schema: str,
                  name: str) -> None:
    try:
        cursor.execute(f"DROP TABLE IF EXISTS {relation(schema, name)}")
        catalog.record(schema, name, None)
    except duckdb.Error:
        pass
