"""Snapshots: type-2 slowly changing dimensions, with dbt's columns and semantics.

The snapshot's query is first built into a work table (so ML calls work and the
query runs once). The first run creates the table with `dbt_scd_id`,
`dbt_updated_at`, `dbt_valid_from`, `dbt_valid_to` (NULL, or `dbt_valid_to_current`)
and, with `hard_deletes: new_record`, `dbt_is_deleted`. Later runs compute the
changes as dbt's staging query does (new and changed rows to insert, the current
versions of changed rows to close, deleted keys to close or to mark with a deletion
record) and apply them in one transaction: a failed run changes nothing.

Strategies: `timestamp` (a row changed when its `updated_at` is later than the
current version's `dbt_valid_from`) and `check` (any of `check_cols`, or all
columns, differs; `updated_at` defaults to the snapshot time).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from predsql.compiler import CompiledNode
from predsql.database import RelationCatalog, describe_columns, quote, relation
from predsql.errors import ExecutionError, ProjectError
from predsql.materializations.base import (
    BuildResult,
    RowSource,
    drop_quietly,
    run_before_commit,
    swap_in,
)

NOW = "now()::timestamp"
META = ("dbt_valid_to", "dbt_valid_from", "dbt_scd_id", "dbt_updated_at", "dbt_is_deleted")
HARD_DELETES = ("ignore", "invalidate", "new_record")


@dataclass(frozen=True)
class SnapshotConfig:
    strategy: str
    keys: tuple[str, ...]
    key_is_list: bool
    updated_at: str
    check_cols: str | tuple[str, ...]
    hard_deletes: str
    names: dict[str, str]
    valid_to_current: str | None

    def col(self, meta: str) -> str:
        return quote(self.names[meta])


def snapshot_config(node: CompiledNode) -> SnapshotConfig:
    config = node.config
    path = node.node.rel_path

    def fail(message: str, hint: str | None = None) -> ProjectError:
        return ProjectError(f"snapshot {node.name!r}: {message}", path=path, hint=hint)

    strategy = config.get("strategy")
    if strategy not in ("timestamp", "check"):
        raise fail(f"strategy must be 'timestamp' or 'check', not {strategy!r}")
    key = config.get("unique_key")
    if key in (None, "", []):
        raise fail("needs a unique_key", hint="a column, or a list of columns")
    keys = tuple(str(k) for k in key) if isinstance(key, (list, tuple)) else (str(key),)
    updated_at = config.get("updated_at")
    if strategy == "timestamp" and not updated_at:
        raise fail("the timestamp strategy needs `updated_at`")
    check_cols = config.get("check_cols")
    if strategy == "check":
        if check_cols != "all" and not (isinstance(check_cols, (list, tuple)) and check_cols):
            raise fail(f"invalid value for 'check_cols': {check_cols!r}",
                       hint="'all' or a list of columns")
    invalidate, hard = config.get("invalidate_hard_deletes"), config.get("hard_deletes")
    if invalidate is not None and hard is not None:
        raise fail("cannot set both invalidate_hard_deletes and hard_deletes")
    hard_deletes = "invalidate" if invalidate else str(hard or "ignore")
    if hard_deletes not in HARD_DELETES:
        raise fail(f"invalid hard_deletes {hard_deletes!r}", hint=", ".join(HARD_DELETES))
    names = {m: m for m in META}
    names.update({k: str(v) for k, v in (config.get("snapshot_meta_column_names") or {}).items()
                  if k in names and v})
    return SnapshotConfig(
        strategy, keys, isinstance(key, (list, tuple)), str(updated_at) if updated_at else NOW,
        check_cols if check_cols == "all" else tuple(str(c) for c in check_cols or ()),
        hard_deletes, names, config.get("dbt_valid_to_current") or None)


def scd_id(keys: tuple[str, ...], updated_at: str) -> str:
    parts = " || '|' || ".join(f"coalesce(cast({a} as varchar), '')" for a in (*keys, updated_at))
    return f"md5({parts})"


def first_build_sql(cfg: SnapshotConfig, source: str) -> str:
    deleted = f", 'False' AS {cfg.col('dbt_is_deleted')}" if cfg.hard_deletes == "new_record" else ""
    return (f"SELECT *, {scd_id(cfg.keys, cfg.updated_at)} AS {cfg.col('dbt_scd_id')}, "
            f"{cfg.updated_at} AS {cfg.col('dbt_updated_at')}, "
            f"{cfg.updated_at} AS {cfg.col('dbt_valid_from')}, {_valid_to_current(cfg)} "
            f"{deleted} FROM {source} AS sbq")


def _valid_to_current(cfg: SnapshotConfig) -> str:
    return (f"coalesce(nullif({cfg.updated_at}, {cfg.updated_at}), "
            f"{cfg.valid_to_current or 'NULL'}) AS {cfg.col('dbt_valid_to')}")


def _key_fields(cfg: SnapshotConfig) -> str:
    if not cfg.key_is_list:
        return f"{cfg.keys[0]} AS dbt_unique_key"
    return ", ".join(f"{k} AS dbt_unique_key_{i}" for i, k in enumerate(cfg.keys, 1))


def _key_join(cfg: SnapshotConfig, left: str, right: str) -> str:
    if not cfg.key_is_list:
        return f"{left}.dbt_unique_key = {right}.dbt_unique_key"
    return " AND ".join(f"{left}.dbt_unique_key_{i} = {right}.dbt_unique_key_{i}"
                        for i in range(1, len(cfg.keys) + 1))


def _key_null(cfg: SnapshotConfig, alias: str) -> str:
    return f"{alias}.dbt_unique_key{'_1' if cfg.key_is_list else ''} IS NULL"


def _current(cfg: SnapshotConfig, alias: str = "") -> str:
    col = f"{alias}.{cfg.col('dbt_valid_to')}" if alias else cfg.col("dbt_valid_to")
    if cfg.valid_to_current:
        return f"({col} = {cfg.valid_to_current} OR {col} IS NULL)"
    return f"{col} IS NULL"


def row_changed(cfg: SnapshotConfig, check_cols: list[str], column_added: bool) -> str:
    if cfg.strategy == "timestamp":
        return f"(snapshotted_data.{cfg.col('dbt_valid_from')} < source_data.{cfg.updated_at})"
    if column_added:
        return "(TRUE)"
    tests = [f"snapshotted_data.{c} != source_data.{c} OR ((snapshotted_data.{c} IS NULL) "
             f"AND NOT (source_data.{c} IS NULL)) OR ((NOT snapshotted_data.{c} IS NULL) "
             f"AND (source_data.{c} IS NULL))" for c in check_cols]
    return "(" + " OR ".join(tests) + ")"


def staging_sql(cfg: SnapshotConfig, source: str, target: str, changed: str,
                source_columns: list[str], target_columns: set[str]) -> str:
    """dbt's snapshot staging query: every change, tagged insert / update / delete."""
    new_record = cfg.hard_deletes == "new_record"
    deletes = cfg.hard_deletes in ("invalidate", "new_record")
    c = cfg.col
    is_deleted = f"snapshotted_data.{c('dbt_is_deleted')}"
    revived = f" OR {is_deleted} = 'True'" if new_record else ""
    ctes = [
        f"snapshot_query AS (SELECT * FROM {source})",
        f"snapshotted_data AS (SELECT *, {_key_fields(cfg)} FROM {target} "
        f"WHERE {_current(cfg)})",
        f"insertions_source_data AS (SELECT *, {_key_fields(cfg)}, {cfg.updated_at} AS "
        f"{c('dbt_updated_at')}, {cfg.updated_at} AS {c('dbt_valid_from')}, "
        f"{_valid_to_current(cfg)}, {scd_id(cfg.keys, cfg.updated_at)} AS {c('dbt_scd_id')} "
        f"FROM snapshot_query)",
        f"updates_source_data AS (SELECT *, {_key_fields(cfg)}, {cfg.updated_at} AS "
        f"{c('dbt_updated_at')}, {cfg.updated_at} AS {c('dbt_valid_from')}, "
        f"{cfg.updated_at} AS {c('dbt_valid_to')} FROM snapshot_query)",
    ]
    if deletes:
        ctes.append(f"deletes_source_data AS (SELECT *, {_key_fields(cfg)} FROM snapshot_query)")
    join = _key_join(cfg, "snapshotted_data", "source_data")
    ctes.append(
        f"insertions AS (SELECT 'insert' AS dbt_change_type, source_data.*"
        f"{', ' + repr('False') + ' AS ' + c('dbt_is_deleted') if new_record else ''} "
        f"FROM insertions_source_data AS source_data LEFT OUTER JOIN snapshotted_data ON {join} "
        f"WHERE {_key_null(cfg, 'snapshotted_data')} OR (NOT {_key_null(cfg, 'snapshotted_data')} "
        f"AND ({changed}{revived})))")
    ctes.append(
        f"updates AS (SELECT 'update' AS dbt_change_type, source_data.*, "
        f"snapshotted_data.{c('dbt_scd_id')}{', ' + is_deleted if new_record else ''} "
        f"FROM updates_source_data AS source_data JOIN snapshotted_data ON {join} "
        f"WHERE ({changed}{revived}))")
    parts = ["SELECT * FROM insertions", "SELECT * FROM updates"]
    latest_deleted = f"NOT ({is_deleted} = 'True' AND {_current(cfg, 'snapshotted_data')})"
    if deletes:
        keep = f" AND {latest_deleted}" if new_record else ""
        ctes.append(
            f"deletes AS (SELECT 'delete' AS dbt_change_type, source_data.*, {NOW} AS "
            f"{c('dbt_valid_from')}, {NOW} AS {c('dbt_updated_at')}, {NOW} AS "
            f"{c('dbt_valid_to')}, snapshotted_data.{c('dbt_scd_id')}"
            f"{', ' + is_deleted if new_record else ''} FROM snapshotted_data LEFT JOIN "
            f"deletes_source_data AS source_data ON {join} "
            f"WHERE {_key_null(cfg, 'source_data')}{keep})")
        parts.append("SELECT * FROM deletes")
    if new_record:
        picked = ", ".join(
            f"{'snapshotted_data' if col in target_columns else 'source_data'}.{quote(col)}"
            for col in source_columns)
        old_scd = f"snapshotted_data.{c('dbt_scd_id')}"
        keys = ("snapshotted_data.dbt_unique_key AS dbt_unique_key" if not cfg.key_is_list else
                ", ".join(f"snapshotted_data.dbt_unique_key_{i} AS dbt_unique_key_{i}"
                          for i in range(1, len(cfg.keys) + 1)))
        ctes.append(
            f"deletion_records AS (SELECT 'insert' AS dbt_change_type, {picked}, {keys}, "
            f"{NOW} AS {c('dbt_valid_from')}, {NOW} AS {c('dbt_updated_at')}, "
            f"snapshotted_data.{c('dbt_valid_to')} AS {c('dbt_valid_to')}, "
            f"{scd_id((old_scd,), NOW)} AS {c('dbt_scd_id')}, "
            f"'True' AS {c('dbt_is_deleted')} FROM snapshotted_data "
            f"LEFT JOIN deletes_source_data AS source_data ON {join} "
            f"WHERE {_key_null(cfg, 'source_data')} AND {latest_deleted})")
        parts.append("SELECT * FROM deletion_records")
    return "WITH " + ",\n".join(ctes) + "\n" + "\nUNION ALL\n".join(parts)


def _columns(cursor: duckdb.DuckDBPyConnection, rel: str) -> list[tuple[str, str]]:
    return describe_columns(cursor, rel)


class SnapshotMaterialization:
    def build(self, cursor: duckdb.DuckDBPyConnection, node: CompiledNode, rows: RowSource,
              catalog: RelationCatalog) -> BuildResult:
        cfg = snapshot_config(node)
        catalog.ensure_schema(cursor, node.schema)
        kind = catalog.kind(node.schema, node.alias)
        if kind == "VIEW":
            raise ExecutionError(f"snapshot {node.name!r}: {node.relation} is a view, not a "
                                 "snapshot table", path=node.node.rel_path,
                                 hint="drop the view, or give the snapshot another alias")
        source_name = f"__predsql_tmp_{node.alias}__source"
        source = relation(node.schema, source_name)
        work = f"__predsql_tmp_{node.alias}"
        staged = relation(node.schema, work)
        catalog.drop(cursor, node.schema, source_name)
        catalog.drop(cursor, node.schema, work)
        try:
            rows.create_table(cursor, source)
            catalog.record(node.schema, source_name, "BASE TABLE")
            if kind is None:
                count = cursor.execute(f"CREATE TABLE {staged} AS "
                                       f"{first_build_sql(cfg, source)}").fetchall()[0][0]
                catalog.record(node.schema, work, "BASE TABLE")
                swap_in(cursor, catalog, node.schema, work, node.alias)
                return BuildResult(int(count), f"INSERT {count}", rows.stats())
            count = self._merge(cursor, node, cfg, source, work, catalog)
            return BuildResult(count, f"INSERT {count}", rows.stats())
        finally:
            drop_quietly(cursor, catalog, node.schema, source_name)
            drop_quietly(cursor, catalog, node.schema, work)

    def _merge(self, cursor: duckdb.DuckDBPyConnection, node: CompiledNode, cfg: SnapshotConfig,
               source: str, work: str, catalog: RelationCatalog) -> int:
        target = node.relation
        staged = relation(node.schema, work)
        target_columns = dict(_columns(cursor, target))
        self._check_target(node, cfg, target_columns)
        source_columns = [name for name, _ in _columns(cursor, source)]
        changed = row_changed(cfg, *self._check_columns(cfg, source_columns, target_columns))
        select = staging_sql(cfg, source, target, changed, source_columns, set(target_columns))
        cursor.execute(f"CREATE TABLE {staged} AS {select}")
        catalog.record(node.schema, work, "BASE TABLE")
        internal = {"dbt_change_type", "dbt_unique_key",
                    *(f"dbt_unique_key_{i}" for i in range(1, len(cfg.keys) + 1))}
        staged_columns = [(n, t) for n, t in _columns(cursor, staged) if n.lower() not in internal]
        c = cfg.col
        cursor.begin()
        try:
            for name, kind in staged_columns:
                if name not in target_columns:
                    cursor.execute(f"ALTER TABLE {target} ADD COLUMN {quote(name)} {kind}")
            cursor.execute(
                f"UPDATE {target} AS t SET {c('dbt_valid_to')} = s.{c('dbt_valid_to')} "
                f"FROM {staged} AS s WHERE s.{c('dbt_scd_id')}::text = t.{c('dbt_scd_id')}::text "
                f"AND s.dbt_change_type IN ('update', 'delete') AND {_current(cfg, 't')}")
            cols = ", ".join(quote(n) for n, _ in staged_columns)
            count = cursor.execute(f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {staged} "
                                   f"WHERE dbt_change_type = 'insert'").fetchall()[0][0]
            run_before_commit(cursor)  # post-hooks, inside the transaction
            cursor.commit()
        except BaseException:
            cursor.rollback()
            raise
        return int(count)

    @staticmethod
    def _check_target(node: CompiledNode, cfg: SnapshotConfig, columns: dict[str, str]) -> None:
        wanted = ["dbt_scd_id", "dbt_valid_from", "dbt_valid_to"]
        if cfg.hard_deletes == "new_record":
            wanted.append("dbt_is_deleted")
        lowered = {c.lower() for c in columns}
        missing = [cfg.names[m] for m in wanted if cfg.names[m].lower() not in lowered]
        if missing:
            raise ExecutionError(
                f"snapshot {node.name!r}: {node.relation} is not a snapshot table (missing "
                f"{', '.join(missing)})", path=node.node.rel_path,
                hint="drop the table to start the snapshot again, or fix the column names")

    @staticmethod
    def _check_columns(cfg: SnapshotConfig, source: list[str],
                       target: dict[str, str]) -> tuple[list[str], bool]:
        """The columns the check strategy compares, and whether the query has a column the
        snapshot has not (then every row counts as changed, as in dbt)."""
        if cfg.strategy != "check":
            return [], False
        if cfg.check_cols == "all":
            wanted = list(source)
        else:
            by_lower = {c.lower(): c for c in source}
            missing = [c for c in cfg.check_cols if c.lower() not in by_lower]
            if missing:
                raise ProjectError(f"check_cols names {missing[0]!r}, which the snapshot's "
                                   "query does not return")
            wanted = [by_lower[c.lower()] for c in cfg.check_cols]
        added = any(c not in target for c in wanted)
        return [quote(c) for c in wanted if c in target], added
