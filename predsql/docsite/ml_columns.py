"""Column-level lineage of ML outputs: which input columns feed each score.

For every model that calls ML functions, sqlglot's lineage walks each output
column back to the columns of the relations it reads (through CTEs and
subqueries). A column whose walk passes through an ML call is an ML output; the
result names the functions and the upstream (node, column) pairs.
"""

from __future__ import annotations

from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.lineage import Node as LineageNode
from sqlglot.lineage import lineage
from sqlglot.schema import MappingSchema

from predsql.compiler import CompiledProject
from predsql.docsite.catalog import DatabaseContents


def lineage_schema(contents: DatabaseContents) -> MappingSchema:
    mapping: dict[str, dict[str, dict[str, str]]] = {}
    for rel in contents.relations.values():
        mapping.setdefault(rel.schema, {})[rel.name] = {c.name: c.type for c in rel.columns}
    return MappingSchema(mapping, dialect="duckdb", normalize=False)


def relation_owners(compiled: CompiledProject) -> dict[tuple[str, str], str]:
    """Lower-cased (schema, name) -> the unique id of the node or source stored there."""
    owners = {(n.schema.lower(), n.alias.lower()): uid for uid, n in compiled.nodes.items()
              if n.resource_type in ("model", "seed", "snapshot")}
    for source in compiled.sources.values():
        owners[(source.schema.lower(), source.identifier.lower())] = source.unique_id
    return owners


def ml_output_columns(compiled: CompiledProject, contents: DatabaseContents | None,
                      ml_names: set[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """uid -> column -> {"functions": [...], "inputs": [{"node", "column"}]} for the
    columns of each model that an ML call computes. Models sqlglot cannot follow
    (or whose inputs are not built yet) are left out."""
    if contents is None or not ml_names:
        return {}
    schema = lineage_schema(contents)
    owners = relation_owners(compiled)
    result: dict[str, dict[str, dict[str, Any]]] = {}
    for uid, node in compiled.nodes.items():
        if not node.extra.get("ml_calls") or node.resource_type == "test":
            continue
        try:
            columns = lineage(None, sqlglot.parse_one(node.compiled_sql, read="duckdb"),
                              schema=schema, dialect="duckdb")
        except (SqlglotError, KeyError, ValueError, AttributeError):
            continue
        found = {name: _ml_column(root, ml_names, owners) for name, root in columns.items()}
        found = {name: info for name, info in found.items() if info}
        if found:
            result[uid] = found
    return result


def _ml_column(root: LineageNode, ml_names: set[str],
               owners: dict[tuple[str, str], str]) -> dict[str, Any] | None:
    functions: set[str] = set()
    inputs: dict[tuple[str, str], None] = {}
    for step in root.walk():
        for call in step.expression.find_all(exp.Anonymous):
            if str(call.this).lower() in ml_names:
                functions.add(str(call.this).lower())
        if not step.downstream and isinstance(step.source, exp.Table):
            owner = owners.get((step.source.db.lower(), step.source.name.lower()))
            if owner:
                inputs[(owner, step.name.split(".")[-1])] = None
    if not functions:
        return None
    return {"functions": sorted(functions),
            "inputs": [{"node": n, "column": c} for n, c in sorted(inputs)]}
