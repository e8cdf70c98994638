"""The incremental materialization: schema changes and the strategy (strategies.py)
in one transaction.

The new rows are built into `__predsql_tmp_<name>` first; schema changes and the
strategy's DELETE / INSERT / MERGE then run inside one transaction, so a failed
run leaves the table exactly as it was.
"""

from __future__ import annotations

from typing import Any

import duckdb

from predsql.compiler import CompiledNode
from predsql.database import RelationCatalog, describe_columns, quote, relation
from predsql.errors import ExecutionError, ProjectError
from predsql.materializations import contracts
from predsql.materializations.base import (
    BuildResult,
    RowSource,
    TableMaterialization,
    drop_quietly,
    run_before_commit,
    temp_name,
)
from predsql.materializations.strategies import (
    StrategyConfig,
    describe,
    strategy_config,
    strategy_sql,
)

SCHEMA_MODES = ("ignore", "fail", "append_new_columns", "sync_all_columns")


def _columns(cursor: duckdb.DuckDBPyConnection, rel: str) -> dict[str, str]:
    return dict(describe_columns(cursor, rel))


def sync_schema(cursor: duckdb.DuckDBPyConnection, node: CompiledNode, target: str,
                temp: str) -> list[str]:
    """Apply on_schema_change; return the columns to write."""
    mode = str(node.config.get("on_schema_change") or "ignore")
    if mode not in SCHEMA_MODES:
        raise ProjectError(f"model {node.name!r}: unknown on_schema_change {mode!r}",
                           path=node.node.rel_path, hint=f"use one of: {', '.join(SCHEMA_MODES)}")
    old = _columns(cursor, target)
    new = _columns(cursor, temp)
    added = [c for c in new if c not in old]
    removed = [c for c in old if c not in new]
    retyped = [c for c in new if c in old and new[c] != old[c]]
    if mode == "fail" and (added or removed or retyped):
        raise ExecutionError(
            f"model {node.name!r}: its columns changed (added {added}, removed {removed}, "
            f"retyped {retyped}) and on_schema_change is 'fail'",
            path=node.node.rel_path,
            hint="run with --full-refresh, or choose append_new_columns / sync_all_columns",
        )
    if mode in ("append_new_columns", "sync_all_columns"):
        for column in added:
            cursor.execute(f"ALTER TABLE {target} ADD COLUMN {quote(column)} {new[column]}")
    if mode == "sync_all_columns":
        for column in removed:
            cursor.execute(f"ALTER TABLE {target} DROP COLUMN {quote(column)}")
        for column in retyped:
            cursor.execute(f"ALTER TABLE {target} ALTER {quote(column)} TYPE {new[column]}")
        return list(new)
    if mode == "append_new_columns":
        return [c for c in new if c in old or c in added]
    return [c for c in new if c in old]


class IncrementalMaterialization:
    def build(self, cursor: duckdb.DuckDBPyConnection, node: CompiledNode, rows: RowSource,
              catalog: RelationCatalog) -> BuildResult:
        if not node.extra.get("is_incremental") or catalog.kind(
                node.schema, node.alias) != "BASE TABLE":
            return TableMaterialization().build(cursor, node, rows, catalog)
        config = strategy_config(node)
        temp = temp_name(node)
        temp_rel = relation(node.schema, temp)
        catalog.drop(cursor, node.schema, temp)
        try:
            count = rows.create_table(cursor, temp_rel)
            catalog.record(node.schema, temp, "BASE TABLE")
            if contracts.enforced(node):
                contracts.check(cursor, node, contracts.describe_sql(cursor, f"SELECT * FROM "
                                                                      f"{temp_rel}"))
            self._apply(cursor, node, config, temp_rel)
        finally:
            drop_quietly(cursor, catalog, node.schema, temp)
        stats: dict[str, Any] = {**describe(config), **rows.stats()}
        return BuildResult(count, f"INSERT {count}", stats)

    def _apply(self, cursor: duckdb.DuckDBPyConnection, node: CompiledNode,
               config: StrategyConfig, temp: str) -> None:
        cursor.begin()
        try:
            columns = sync_schema(cursor, node, node.relation, temp)
            for statement in strategy_sql(config, node.relation, temp, columns):
                cursor.execute(statement)
            run_before_commit(cursor)
            cursor.commit()
        except BaseException:
            cursor.rollback()
            raise
