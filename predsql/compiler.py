"""From project files to compiled nodes: configs, rendering, refs, graph, ephemerals."""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any

from predsql.configs import merge_into, tree_config
from predsql.errors import CompileError, ProjectError
from predsql.graph import Graph, build_graph
from predsql.nodes import Node, Properties, Source, discover_nodes, read_properties
from predsql.project import Project
from predsql.rendering import Renderer, RenderState

EPHEMERAL_PREFIX = "__dbt__cte__"
MATERIALIZATIONS = ("table", "view", "ephemeral", "incremental")


@dataclass(frozen=True)
class CompiledNode:
    node: Node
    config: dict[str, Any]
    schema: str
    alias: str
    rendered_sql: str = ""
    compiled_sql: str = ""
    refs: tuple[str, ...] = ()
    sources: tuple[tuple[str, str], ...] = ()
    depends_on: tuple[str, ...] = ()
    checksum: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def unique_id(self) -> str:
        return self.node.unique_id

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def resource_type(self) -> str:
        return self.node.resource_type

    @property
    def materialized(self) -> str:
        default = {"seed": "seed", "test": "test"}.get(self.resource_type, "table")
        return str(self.config.get("materialized", default))

    @property
    def relation(self) -> str:
        return f'"{self.schema}"."{self.alias}"'

    @property
    def tags(self) -> list[str]:
        tags = self.config.get("tags") or []
        return [tags] if isinstance(tags, str) else list(tags)


@dataclass(frozen=True)
class CompiledProject:
    project: Project
    properties: Properties
    nodes: dict[str, CompiledNode]
    graph: Graph
    notes: tuple[str, ...] = ()

    def by_name(self, name: str) -> CompiledNode | None:
        for node in self.nodes.values():
            if node.name == name and node.resource_type in ("model", "seed"):
                return node
        return None

    @property
    def sources(self) -> dict[tuple[str, str], Source]:
        return self.properties.sources

    def sources_ids(self) -> set[str]:
        return {s.unique_id for s in self.properties.sources.values()}


def schema_for(project: Project, config: dict[str, Any]) -> str:
    custom = config.get("schema")
    base = project.target.schema
    return f"{base}_{custom}" if custom else base


def base_config(project: Project, node: Node) -> dict[str, Any]:
    tree = {"model": project.models_config, "seed": project.seeds_config}.get(
        node.resource_type, project.tests_config
    )
    config = tree_config(tree, node.fqn)
    merge_into(config, node.config)
    return config


def incremental_check(project: Project, tables: frozenset[tuple[str, str]],
                      full_refresh: bool):
    """is_incremental(): an incremental model whose table exists, without a full refresh."""

    def check(node: Node) -> bool:
        if node.materialized != "incremental":
            return False
        if full_refresh and node.config.get("full_refresh") is not False:
            return False
        alias = str(node.config.get("alias") or node.name)
        return (schema_for(project, node.config), alias) in tables

    return check


def compile_project(
    project: Project,
    tables: frozenset[tuple[str, str]] = frozenset(),
    full_refresh: bool = False,
) -> CompiledProject:
    """`tables`: the (schema, name) of the tables that exist now, for is_incremental()."""
    props = read_properties(project)
    nodes = [replace(n, config=base_config(project, n)) for n in discover_nodes(project, props)]
    by_name = {n.name: n for n in nodes if n.resource_type != "test"}

    state = RenderState(
        project,
        props,
        resolve_ref=lambda name: f'"__ref__"."{name}"',
        relation_of=lambda n: (schema_for(project, n.config), str(n.config.get("alias") or n.name)),
        incremental=incremental_check(project, tables, full_refresh),
    )
    renderer = Renderer(project, props, state)

    parsed: list[tuple[Node, Any]] = []
    for node in nodes:
        if node.resource_type == "seed":
            parsed.append((node, None))
            continue
        _, capture = renderer.render(node)
        parsed.append((replace(node, config=merge_into(dict(node.config), capture.config)), capture))

    enabled = [(n, c) for n, c in parsed if n.config.get("enabled", True) not in (False, "false")]
    nodes_by_name = {n.name: n for n, _ in enabled if n.resource_type != "test"}
    for node, capture in enabled:
        _check_node_config(node)
        for ref in capture.refs if capture else []:
            if ref not in nodes_by_name:
                raise _missing_ref(node, ref, list(nodes_by_name), ref in by_name)

    compiled = _compile_pass(project, props, renderer, state, enabled, nodes_by_name)
    paths = {uid: c.node.rel_path for uid, c in compiled.items()}
    graph = build_graph({uid: c.depends_on for uid, c in compiled.items()}, paths)
    compiled = _inline_ephemerals(compiled, graph)
    from predsql.generic_tests import add_generic_tests  # tests build on compiled nodes
    from predsql.unit_tests import add_unit_tests

    result = add_generic_tests(CompiledProject(project, props, compiled, graph), renderer)
    result = add_unit_tests(result, renderer)
    paths = {uid: c.node.rel_path for uid, c in result.nodes.items()}
    graph = build_graph({uid: c.depends_on for uid, c in result.nodes.items()}, paths)
    return replace(result, graph=graph)


def _compile_pass(
    project: Project,
    props: Properties,
    renderer: Renderer,
    state: RenderState,
    enabled: list[tuple[Node, Any]],
    nodes_by_name: dict[str, Node],
) -> dict[str, CompiledNode]:
    def relation_of(node: Node) -> tuple[str, str]:
        return schema_for(project, node.config), str(node.config.get("alias") or node.name)

    def resolve_ref(name: str) -> str:
        target = nodes_by_name[name]
        if target.materialized == "ephemeral":
            return f"{EPHEMERAL_PREFIX}{name}"
        schema, alias = relation_of(target)
        return f'"{schema}"."{alias}"'

    state.resolve_ref = resolve_ref
    state.relation_of = relation_of
    compiled: dict[str, CompiledNode] = {}
    for node, _ in enabled:
        schema, alias = relation_of(node)
        if node.resource_type == "seed":
            compiled[node.unique_id] = CompiledNode(
                node, node.config, schema, alias, checksum=_file_checksum(node)
            )
            continue
        sql, capture = renderer.render(node)
        depends = [nodes_by_name[r].unique_id for r in capture.refs]
        compiled[node.unique_id] = CompiledNode(
            node,
            node.config,
            schema,
            alias,
            rendered_sql=sql,
            compiled_sql=sql,
            refs=tuple(capture.refs),
            sources=tuple(capture.sources),
            depends_on=tuple(dict.fromkeys(depends)),
            checksum=_checksum(sql, node.config),
            extra=_extra(node, [props.sources[s].unique_id for s in capture.sources], depends,
                         state.incremental(node)),
        )
    return compiled


def _extra(node: Node, source_ids: list[str], depends: list[str],
           incremental: bool) -> dict[str, Any]:
    extra: dict[str, Any] = {"source_ids": source_ids}
    if incremental:
        extra["is_incremental"] = True
    if node.resource_type == "test":
        extra.update(test_type="data", test_name="singular", attached_to=list(depends))
    return extra


def _check_node_config(node: Node) -> None:
    if node.resource_type == "model" and node.materialized not in MATERIALIZATIONS:
        raise ProjectError(
            f"model {node.name!r} has unknown materialization {node.materialized!r}",
            path=node.rel_path,
            hint=f"use one of: {', '.join(MATERIALIZATIONS)}",
        )


def _missing_ref(node: Node, ref: str, names: list[str], disabled: bool) -> CompileError:
    if disabled:
        return CompileError(
            f"{node.resource_type} {node.name!r} refs {ref!r}, which is disabled",
            path=node.rel_path,
            hint=f"enable {ref!r} or remove the ref",
        )
    close = difflib.get_close_matches(ref, names, n=1)
    hint = f"did you mean {close[0]!r}?" if close else "create the model or fix the name"
    return CompileError(
        f"{node.resource_type} {node.name!r} refs {ref!r}, which does not exist",
        path=node.rel_path,
        line=_line_of(node.raw_sql, ref),
        hint=hint,
    )


def _line_of(text: str, needle: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    return None


def _checksum(sql: str, config: dict[str, Any]) -> str:
    payload = sql + "\x00" + json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def _file_checksum(node: Node) -> str:
    digest = hashlib.sha256(node.path.read_bytes())
    digest.update(json.dumps(node.config, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def strip_sql(sql: str) -> str:
    """Drop trailing whitespace and semicolons so the SQL can be wrapped."""
    text = sql.rstrip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
    return text


def wrap_with_ctes(sql: str, ctes: list[tuple[str, str]]) -> str:
    if not ctes:
        return sql
    defs = ",\n".join(f"{name} AS (\n{body}\n)" for name, body in ctes)
    return f"WITH {defs}\nSELECT * FROM (\n{strip_sql(sql)}\n) AS __predsql_inner"


def _inline_ephemerals(
    compiled: dict[str, CompiledNode], graph: Graph
) -> dict[str, CompiledNode]:
    result = dict(compiled)
    for uid in graph.order:
        node = result.get(uid)
        if node is None or node.resource_type == "seed":
            continue
        ctes = [
            (f"{EPHEMERAL_PREFIX}{dep.name}", strip_sql(dep.compiled_sql))
            for dep in (result[d] for d in node.depends_on)
            if dep.materialized == "ephemeral"
        ]
        if ctes:
            result[uid] = replace(node, compiled_sql=wrap_with_ctes(node.compiled_sql, ctes))
    return result
