"""SQL outside the project's nodes: `predsql show --inline` and the renderer that
`run-operation` calls macros with. Refs resolve to the project's relations, ML
functions work as in models."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp

from predsql import database
from predsql.compiler import (
    EPHEMERAL_PREFIX,
    VIEW_LIKE,
    CompiledNode,
    CompiledProject,
    strip_sql,
    wrap_with_ctes,
)
from predsql.dbt.relation import Relation
from predsql.errors import CompileError
from predsql.explain import closest_name
from predsql.ml.analysis import analyze_node, duckdb_builtin_names
from predsql.ml.executor import MlRows
from predsql.ml.registry import Registry
from predsql.nodes import Node
from predsql.rendering import Renderer

INLINE_NAME = "inline_query"


@contextmanager
def adhoc_renderer(compiled: CompiledProject, cursor: Any = None
                   ) -> Iterator[tuple[Renderer, dict[str, str]]]:
    """The project's renderer (its macros, packages and dbt runtime) with refs that
    resolve to the built relations, and `cursor` for run_query and statements; the
    dict collects the ephemeral models referenced (name -> SQL) for CTEs."""
    renderer = compiled.renderer
    state = renderer.state
    ctes: dict[str, str] = {}

    def resolve_ref(name: str) -> Relation:
        node = compiled.by_name(name)
        if node is None:
            close = closest_name(name, compiled)
            raise CompileError(f"ref({name!r}): no model or seed named {name!r}",
                               hint=f"did you mean {close!r}?" if close else "see `predsql ls`")
        if node.materialized == "ephemeral":
            ctes[f"{EPHEMERAL_PREFIX}{name}"] = strip_sql(node.compiled_sql)
            return Relation(identifier=f"{EPHEMERAL_PREFIX}{name}", type="cte")
        return state.relation(node.schema, node.alias,
                              "view" if node.materialized in VIEW_LIKE else "table")

    with renderer.lock:
        saved = state.resolve_ref, renderer.db.cursor
        state.resolve_ref = resolve_ref
        if cursor is not None:
            renderer.db.cursor = cursor
        try:
            yield renderer, ctes
        finally:
            state.resolve_ref, renderer.db.cursor = saved


def inline_node(compiled: CompiledProject, registry: Registry, sql: str) -> CompiledNode:
    """The inline query as a compiled node (Jinja rendered, ephemerals inlined, ML calls
    checked), named as dbt names it."""
    project = compiled.project
    node = Node(unique_id=f"sql_operation.{project.name}.{INLINE_NAME}", resource_type="model",
                name=INLINE_NAME, path=project.root / "<inline>", rel_path="<inline>",
                fqn=(project.name, INLINE_NAME), raw_sql=sql, config={})
    with adhoc_renderer(compiled) as (renderer, ctes):
        rendered, capture = renderer.render(node)
    depends = tuple(dict.fromkeys(compiled.by_name(r).unique_id for r in capture.refs))
    sources = [compiled.sources[s].unique_id for s in capture.sources]
    compiled_node = CompiledNode(node, {"materialized": "table"}, project.target.schema,
                                 INLINE_NAME, rendered_sql=rendered,
                                 compiled_sql=wrap_with_ctes(rendered, list(ctes.items())),
                                 refs=tuple(capture.refs), sources=tuple(capture.sources),
                                 depends_on=depends, extra={"source_ids": sources})
    calls = analyze_node(compiled_node, registry, duckdb_builtin_names()) if registry.functions \
        else []
    if not calls:
        return compiled_node
    extra = {**compiled_node.extra, "ml_calls": [c.__dict__ for c in calls],
             "ml_functions": {c.function: registry.functions[c.function].fingerprint
                              for c in calls}}
    return replace(compiled_node, extra=extra)


def limited_sql(sql: str, limit: int) -> str:
    """The query with a LIMIT on its outermost SELECT when it has none, so ML
    functions score only the rows shown (DuckDB stops reading early)."""
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError:
        tree = None
    if isinstance(tree, exp.Select) and not tree.args.get("limit"):
        return tree.limit(int(limit)).sql(dialect="duckdb")
    return f"SELECT * FROM (\n{strip_sql(sql)}\n) AS __inline LIMIT {int(limit)}"


def preview_inline(con: duckdb.DuckDBPyConnection, node: CompiledNode, registry: Registry,
                   runtimes: Any, console: Any,
                   limit: int) -> tuple[list[str], list[tuple[Any, ...]]]:
    """(columns, first rows) of the inline query; ML calls run through onnxruntime."""
    limited = replace(node, compiled_sql=limited_sql(node.compiled_sql, limit))
    cursor = con.cursor()
    try:
        if not node.extra.get("ml_calls") or runtimes is None:
            result = cursor.execute(limited.compiled_sql)
            return [d[0] for d in result.description], result.fetchmany(limit)
        database.ensure_schema(cursor, database.WORK_SCHEMA)
        target = database.relation(database.WORK_SCHEMA, f"show_{uuid.uuid4().hex[:10]}")
        try:
            MlRows(limited, registry, runtimes, cursor, console).create_table(cursor, target)
            result = cursor.execute(f"SELECT * FROM {target}")
            return [d[0] for d in result.description], result.fetchmany(limit)
        finally:
            cursor.execute(f"DROP TABLE IF EXISTS {target}")
    finally:
        cursor.close()
