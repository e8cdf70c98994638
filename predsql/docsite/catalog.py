"""target/catalog.json in dbt's shape (catalog/v1), read from DuckDB's information_schema.

One entry per model, seed or snapshot whose relation exists, and one per source
whose table exists: `metadata` (type, schema, name, database, comment, owner),
`columns` (type, index, name, comment) and `stats`. dbt-duckdb reports no stats;
predsql adds the row count of every table (views are not counted: that would
run them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb

from predsql import __version__
from predsql.artifacts import INVOCATION_ID, write_json
from predsql.compiler import CompiledProject
from predsql.database import relation

CATALOG_SCHEMA = "https://schemas.getdbt.com/dbt/catalog/v1.json"
RELATION_TYPES = ("model", "seed", "snapshot")
COUNT_BATCH = 200  # tables counted per UNION ALL query


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    index: int
    comment: str | None


@dataclass(frozen=True)
class Relation:
    schema: str
    name: str
    kind: str  # "BASE TABLE" | "VIEW"
    comment: str | None
    columns: tuple[Column, ...]
    row_count: int | None


@dataclass(frozen=True)
class DatabaseContents:
    database: str
    relations: dict[tuple[str, str], Relation]  # keyed by lower-cased (schema, name)

    def get(self, schema: str, name: str) -> Relation | None:
        return self.relations.get((schema.lower(), name.lower()))


def read_database(con: duckdb.DuckDBPyConnection) -> DatabaseContents:
    """Every relation of the current database with its columns and row count."""
    database = con.execute("SELECT current_database()").fetchone()[0]
    tables = con.execute(
        "SELECT table_schema, table_name, table_type, TABLE_COMMENT "
        "FROM information_schema.tables WHERE table_catalog = current_database()"
    ).fetchall()
    columns: dict[tuple[str, str], list[Column]] = {}
    for schema, table, name, position, data_type, comment in con.execute(
        "SELECT table_schema, table_name, column_name, ordinal_position, data_type, "
        "COLUMN_COMMENT FROM information_schema.columns "
        "WHERE table_catalog = current_database() ORDER BY table_schema, table_name, "
        "ordinal_position"
    ).fetchall():
        columns.setdefault((schema, table), []).append(
            Column(name, data_type, int(position), comment or None))
    counts = _row_counts(con, [(s, t) for s, t, kind, _ in tables if kind == "BASE TABLE"])
    relations = {
        (s.lower(), t.lower()): Relation(s, t, kind, comment or None,
                                         tuple(columns.get((s, t), ())), counts.get((s, t)))
        for s, t, kind, comment in tables
    }
    return DatabaseContents(database, relations)


def _row_counts(con: duckdb.DuckDBPyConnection,
                tables: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for start in range(0, len(tables), COUNT_BATCH):
        batch = tables[start:start + COUNT_BATCH]
        sql = " UNION ALL ".join(
            f"SELECT {i} AS i, count(*) AS n FROM {relation(s, t)}" for i, (s, t) in
            enumerate(batch))
        for i, n in con.execute(sql).fetchall():
            counts[batch[i]] = int(n)
    return counts


def _stats(row_count: int | None) -> dict[str, Any]:
    stats: dict[str, Any] = {}
    if row_count is not None:
        stats["row_count"] = {
            "id": "row_count", "label": "Row Count", "value": row_count, "include": True,
            "description": "Rows in this table when the catalog was generated",
        }
    stats["has_stats"] = {
        "id": "has_stats", "label": "Has Stats?", "value": bool(stats), "include": False,
        "description": "Indicates whether there are statistics for this table",
    }
    return stats


def catalog_entry(unique_id: str, rel: Relation, database: str) -> dict[str, Any]:
    return {
        "metadata": {"type": rel.kind, "schema": rel.schema, "name": rel.name,
                     "database": database, "comment": rel.comment, "owner": None},
        "columns": {c.name: {"type": c.type, "index": c.index, "name": c.name,
                             "comment": c.comment} for c in rel.columns},
        "stats": _stats(rel.row_count),
        "unique_id": unique_id,
    }


def build_catalog(compiled: CompiledProject, contents: DatabaseContents | None,
                  started_at: datetime | None = None) -> dict[str, Any]:
    """catalog.json for the project's nodes and sources found in `contents` (None:
    no database yet, an empty catalog)."""
    nodes: dict[str, Any] = {}
    sources: dict[str, Any] = {}
    if contents is not None:
        for uid, node in compiled.nodes.items():
            if node.resource_type not in RELATION_TYPES or node.materialized == "ephemeral":
                continue
            rel = contents.get(node.schema, node.alias)
            if rel is not None:
                nodes[uid] = catalog_entry(uid, rel, contents.database)
        for source in compiled.sources.values():
            rel = contents.get(source.schema, source.identifier)
            if rel is not None:
                sources[source.unique_id] = catalog_entry(source.unique_id, rel,
                                                          contents.database)
    now = datetime.now(timezone.utc)
    return {
        "metadata": {
            "dbt_schema_version": CATALOG_SCHEMA,
            "predsql_version": __version__,
            "generated_at": now.isoformat().replace("+00:00", "Z"),
            "invocation_id": INVOCATION_ID,
            "invocation_started_at": (started_at or now).isoformat().replace("+00:00", "Z"),
            "env": {},
        },
        "nodes": nodes,
        "sources": sources,
        "errors": None,
    }


def write_catalog(target_dir: Path, catalog: dict[str, Any]) -> Path:
    path = target_dir / "catalog.json"
    write_json(path, catalog)
    return path
