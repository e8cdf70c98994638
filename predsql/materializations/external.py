"""dbt-duckdb's `external` materialization: the model's rows written to Parquet, CSV or
JSON files (dbt_duckdb/external.py says where and how), and a view over those files.

As dbt-duckdb: the rows are built into a temporary table, a model without rows is
written as one row of NULLs (so the file has its columns) which the view filters out,
the files are written with `COPY`, then the view replaces the old relation. The files
are written before the view is swapped in; a failed write leaves the old view.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from predsql.compiler import CompiledNode
from predsql.database import RelationCatalog, relation
from predsql.dbt_duckdb.external import plan, read_sql
from predsql.errors import ExecutionError
from predsql.materializations.base import (
    BuildResult,
    RowSource,
    drop_quietly,
    replace_relation,
    temp_name,
)


@dataclass(frozen=True)
class ExternalMaterialization:
    external_root: str = "."

    def build(self, cursor: duckdb.DuckDBPyConnection, node: CompiledNode, rows: RowSource,
              catalog: RelationCatalog) -> BuildResult:
        files = plan(node.config, node.alias, self.external_root, node.name, node.node.rel_path)
        catalog.ensure_schema(cursor, node.schema)
        temp = temp_name(node)
        staged = relation(node.schema, temp)
        catalog.drop(cursor, node.schema, temp)
        try:
            rows.create_table(cursor, staged)
            catalog.record(node.schema, temp, "BASE TABLE")
            count = int(cursor.execute(f"SELECT count(*) FROM {staged}").fetchone()[0])
            columns = None
            if count == 0:
                columns = [r[0] for r in cursor.execute(f"DESCRIBE {staged}").fetchall()]
                cursor.execute(f"INSERT INTO {staged} VALUES ({', '.join(['NULL'] * len(columns))})")
            _write(cursor, files.copy_sql(staged), files.location, node)
            create = f"CREATE VIEW {node.relation} AS\n{read_sql(files, node.config, columns)}"
            replace_relation(cursor, catalog, node.schema, node.alias, create, "VIEW")
        finally:
            drop_quietly(cursor, catalog, node.schema, temp)
        return BuildResult(count, f"COPY {count} to {files.location}", rows.stats())


def _write(cursor: duckdb.DuckDBPyConnection, sql: str, location: str,
           node: CompiledNode) -> None:
    try:
        cursor.execute(sql)
    except duckdb.IOException as exc:
        raise ExecutionError(
            f"cannot write {location}: {str(exc).splitlines()[0]}", path=node.node.rel_path,
            hint="the folder must exist (a relative location starts at the working "
                 "directory, as in dbt-duckdb; the profile's external_root sets the "
                 "default folder)",
        ) from exc
