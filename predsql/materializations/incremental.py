"""The incremental materialization: strategies and schema changes, in one transaction.

The new rows are built into `__predsql_tmp_<name>` first; schema changes and the
strategy's DELETE / INSERT / MERGE then run inside one transaction, so a failed
run leaves the table exactly as it was.
"""

from __future__ import annotations

from typing import Any

import duckdb

from predsql.compiler import CompiledNode
from predsql.database import RelationCatalog, quote, relation
from predsql.errors import ExecutionError, ProjectError
from predsql.materializations.base import (
    BuildResult,
    RowSource,
    TableMaterialization,
    drop_quietly,
    run_before_commit,
    temp_name,
)

STRATEGIES = ("append", "delete+insert", "merge")
SCHEMA_MODES = ("ignore", "fail", "append_new_columns", "sync_all_columns")


def unique_key(node: CompiledNode) -> list[str]:
    key = node.config.get("unique_key")
    if key is None:
        return []
    return [key] if isinstance(key, str) else [str(k) for k in key]


def strategy_of(node: CompiledNode) -> str:
    default = "delete+insert" if unique_key(node) else "append"
    strategy = str(node.config.get("incremental_strategy") or default)
    if strategy not in STRATEGIES:
        raise ProjectError(f"model {node.name!r}: unknown incremental_strategy {strategy!r}",
                           path=node.node.rel_path, hint=f"use one of: {', '.join(STRATEGIES)}")
    if strategy in ("delete+insert", "merge") and not unique_key(node):
        raise ProjectError(f"model {node.name!r}: incremental_strategy {strategy!r} needs a "
                           "unique_key", path=node.node.rel_path,
                           hint="set unique_key (a column or a list), or use 'append'")
    return strategy


def _columns(cursor: duckdb.DuckDBPyConnection, rel: str) -> dict[str, str]:
    return {r[0]: r[1] for r in cursor.execute(f"DESCRIBE {rel}").fetchall()}


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


def _check_keys(cursor: duckdb.DuckDBPyConnection, node: CompiledNode, temp: str,
                keys: list[str]) -> None:
    condition = " OR ".join(f"{quote(k)} IS NULL" for k in keys)
    nulls = cursor.execute(f"SELECT count(*) FROM {temp} WHERE {condition}").fetchall()[0][0]
    if nulls:
        raise ExecutionError(
            f"model {node.name!r}: {nulls} new rows have NULL in the unique_key "
            f"({', '.join(keys)})",
            path=node.node.rel_path,
            hint="a NULL key can match nothing; filter those rows or coalesce the key",
        )


def apply_strategy(cursor: duckdb.DuckDBPyConnection, strategy: str, target: str, temp: str,
                   columns: list[str], keys: list[str]) -> None:
    cols = ", ".join(quote(c) for c in columns)
    match = " AND ".join(f"t.{quote(k)} = s.{quote(k)}" for k in keys)
    if strategy == "delete+insert":
        cursor.execute(f"DELETE FROM {target} AS t WHERE EXISTS "
                       f"(SELECT 1 FROM {temp} AS s WHERE {match})")
    if strategy in ("append", "delete+insert"):
        cursor.execute(f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {temp}")
        return
    updates = ", ".join(f"{quote(c)} = s.{quote(c)}" for c in columns if c not in keys)
    values = ", ".join(f"s.{quote(c)}" for c in columns)
    matched = f"WHEN MATCHED THEN UPDATE SET {updates} " if updates else ""
    cursor.execute(f"MERGE INTO {target} AS t USING {temp} AS s ON {match} {matched}"
                   f"WHEN NOT MATCHED THEN INSERT ({cols}) VALUES ({values})")


class IncrementalMaterialization:
    def build(self, cursor: duckdb.DuckDBPyConnection, node: CompiledNode, rows: RowSource,
              catalog: RelationCatalog) -> BuildResult:
        if not node.extra.get("is_incremental") or catalog.kind(
                node.schema, node.alias) != "BASE TABLE":
            return TableMaterialization().build(cursor, node, rows, catalog)
        strategy = strategy_of(node)
        keys = unique_key(node)
        temp = temp_name(node)
        temp_rel = relation(node.schema, temp)
        catalog.drop(cursor, node.schema, temp)
        try:
            count = rows.create_table(cursor, temp_rel)
            catalog.record(node.schema, temp, "BASE TABLE")
            if keys:
                _check_keys(cursor, node, temp_rel, keys)
            self._apply(cursor, node, strategy, temp_rel, keys)
        finally:
            drop_quietly(cursor, catalog, node.schema, temp)
        stats: dict[str, Any] = {"incremental_strategy": strategy, **rows.stats()}
        return BuildResult(count, f"INSERT {count}", stats)

    def _apply(self, cursor: duckdb.DuckDBPyConnection, node: CompiledNode, strategy: str,
               temp: str, keys: list[str]) -> None:
        cursor.begin()
        try:
            columns = sync_schema(cursor, node, node.relation, temp)
            apply_strategy(cursor, strategy, node.relation, temp, columns, keys)
            run_before_commit(cursor)
            cursor.commit()
        except BaseException:
            cursor.rollback()
            raise
