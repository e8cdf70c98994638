"""From project files to compiled nodes: configs, rendering, refs, graph, ephemerals."""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from predsql.configs import merge_into, tree_config
from predsql.dbt.adapter import Database
from predsql.dbt.loading import package_views
from predsql.dbt.naming import default_relation, flat_graph, relation_names
from predsql.dbt.package_nodes import check_unique_names, package_nodes
from predsql.dbt.relation import Relation
from predsql.errors import CompileError, PredsqlError, ProjectError, UpstreamCompileError
from predsql.graph import Graph, build_graph
from predsql.nodes import (
    Node,
    Properties,
    Source,
    default_materialization,
    discover_nodes,
    is_python_model,
    read_properties,
)
from predsql.project import Project
from predsql.rendering import Renderer, RenderState
from predsql.snapshots import discover_snapshots

EPHEMERAL_PREFIX = "__dbt__cte__"
MATERIALIZATIONS = ("table", "view", "ephemeral", "incremental", "external")
VIEW_LIKE = ("view", "external")  # relations that are views (external: a view over files)


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
        return str(self.config.get("materialized") or default_materialization(self.resource_type))

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
    # how nodes that looked at the database are compiled again just before they run
    recompilers: dict[str, Callable[[CompiledNode], CompiledNode]] = field(
        default_factory=dict, compare=False, repr=False)
    renderer: Any = field(default=None, compare=False, repr=False)

    def by_name(self, name: str) -> CompiledNode | None:
        for node in self.nodes.values():
            if node.name == name and node.resource_type in ("model", "seed", "snapshot"):
                return node
        return None

    @property
    def sources(self) -> dict[tuple[str, str], Source]:
        return self.properties.sources

    def sources_ids(self) -> set[str]:
        return {s.unique_id for s in self.properties.sources.values()}


def base_config(project: Project, node: Node) -> dict[str, Any]:
    tree = {"model": project.models_config, "seed": project.seeds_config,
            "snapshot": project.snapshots_config, "analysis": {}}.get(
        node.resource_type, project.tests_config
    )
    package = node.fqn[0] if node.fqn else project.name
    config: dict[str, Any] = {}
    if package != project.name:
        for candidate in project.packages:
            if candidate.name == package:
                key = {"model": "models", "seed": "seeds", "snapshot": "snapshots"}.get(
                    node.resource_type, "data_tests")
                own = candidate.config.get(key) or (candidate.config.get("tests")
                                                    if key == "data_tests" else None)
                config = tree_config(dict(own or {}), node.fqn)
    merge_into(config, tree_config(tree, node.fqn))
    merge_into(config, node.config)
    return config


def incremental_check(tables: frozenset[tuple[str, str]], full_refresh: bool,
                      relation_of: Callable[[Node], tuple[str, str]]) -> Callable[[Node], bool]:
    """is_incremental(): an incremental model whose table exists, without a full refresh."""

    def check(node: Node) -> bool:
        if node.materialized != "incremental":
            return False
        if full_refresh and node.config.get("full_refresh") is not False:
            return False
        return relation_of(node) in tables

    return check


def compile_project(
    project: Project,
    tables: frozenset[tuple[str, str]] = frozenset(),
    full_refresh: bool = False,
    *,
    db: Database | None = None,
    log: Callable[[str, bool], None] | None = None,
    flags: dict[str, Any] | None = None,
) -> CompiledProject:
    """`tables`: the (schema, name) of the tables that exist now, for is_incremental();
    `db`: the connection macros may introspect while compiling (none: they see nothing)."""
    props = read_properties(project)
    found = discover_nodes(project, props) + discover_snapshots(project, props)
    for view in package_views(project):
        found += package_nodes(view, props)
    check_unique_names(found)
    nodes = [replace(n, config=base_config(project, n)) for n in found]
    by_name = {n.name: n for n in nodes if n.resource_type != "test"}
    names: dict[str, tuple[str, str]] = {}

    def relation_of(node: Node) -> tuple[str, str]:
        return names.get(node.unique_id) or default_relation(project, node)

    def parse_ref(name: str) -> Relation:
        target = by_name.get(name)
        if target is None:
            return state.relation("__ref__", name)
        return state.relation(*relation_of(target))

    state = RenderState(project, props, resolve_ref=parse_ref, relation_of=relation_of,
                        incremental=incremental_check(tables, full_refresh, relation_of))
    state.full_refresh = full_refresh
    state.empty = bool((flags or {}).get("EMPTY"))
    renderer = Renderer(project, props, state, db=db, log=log, flags=flags)

    state.parsing = True
    parsed: list[tuple[Node, Any]] = []
    hook_refs: dict[str, list[str]] = {}  # refs in pre-/post-hooks: parents too, as in dbt
    try:
        for node in nodes:
            capture = None
            if node.resource_type != "seed" and not is_python_model(node):
                _, capture = renderer.render(node)
                node = replace(node, config=merge_into(dict(node.config), capture.config))
            parsed.append((node, capture))
            if node.config.get("pre-hook") or node.config.get("post-hook"):
                hook_refs[node.unique_id] = renderer.hook_refs(node)
        _parse_project_hooks(project, renderer)
    finally:
        state.parsing = False

    enabled = [(n, c) for n, c in parsed if n.config.get("enabled", True) not in (False, "false")]
    nodes_by_name = {n.name: n for n, _ in enabled if n.resource_type != "test"}
    for node, capture in enabled:
        _check_node_config(node)
        for ref in [*(capture.refs if capture else []), *hook_refs.get(node.unique_id, [])]:
            if ref not in nodes_by_name:
                raise _missing_ref(node, ref, list(nodes_by_name), ref in by_name)
    by_name = nodes_by_name
    names.update(relation_names(renderer, [n for n, _ in enabled]))
    renderer.graph["nodes"].update(flat_graph(enabled, relation_of))

    compiled = _compile_pass(renderer, state, enabled, nodes_by_name, relation_of)
    compiled = _resolve_constraint_refs(compiled, nodes_by_name, props, state.resolve_ref)
    for uid, refs in hook_refs.items():
        if uid in compiled and refs:
            extra = [nodes_by_name[r].unique_id for r in refs if r in nodes_by_name]
            node = compiled[uid]
            compiled[uid] = replace(node, depends_on=tuple(dict.fromkeys(
                [*node.depends_on, *extra])))
    paths = {uid: c.node.rel_path for uid, c in compiled.items()}
    graph = build_graph({uid: c.depends_on for uid, c in compiled.items()}, paths)
    compiled = _inline_ephemerals(compiled, graph)
    from predsql.generic_tests import add_generic_tests  # tests build on compiled nodes
    from predsql.unit_tests import add_unit_tests

    result = CompiledProject(project, props, compiled, graph, renderer=renderer,
                             recompilers=_model_recompilers(compiled, renderer, nodes_by_name))
    result = add_generic_tests(result, renderer)
    result = add_unit_tests(result, renderer)
    check_unique_relations(result.nodes)
    paths = {uid: c.node.rel_path for uid, c in result.nodes.items()}
    graph = build_graph({uid: c.depends_on for uid, c in result.nodes.items()}, paths)
    return replace(result, graph=graph)


def check_unique_relations(nodes: dict[str, CompiledNode]) -> None:
    """Two resources that resolve to one relation are refused, as dbt refuses them
    (models, ephemeral ones too, seeds, snapshots, tests that store failures); names
    compare case-insensitively, as DuckDB resolves them."""
    seen: dict[tuple[str, str], CompiledNode] = {}
    for node in nodes.values():
        if node.resource_type == "test" and not (
                node.config.get("store_failures") and node.extra.get("test_type") != "unit"):
            continue
        if node.resource_type not in ("model", "seed", "snapshot", "test"):
            continue
        key = (node.schema.lower(), node.alias.lower())
        other = seen.get(key)
        if other is not None:
            raise CompileError(
                f"two resources resolve to the relation {node.relation}: "
                f"{other.unique_id} ({other.node.rel_path}) and {node.unique_id} "
                f"({node.node.rel_path})",
                path=node.node.rel_path,
                hint="change the alias or schema of one of them (dbt refuses this too)")
        seen[key] = node


def _compile_pass(
    renderer: Renderer,
    state: RenderState,
    enabled: list[tuple[Node, Any]],
    nodes_by_name: dict[str, Node],
    relation_of: Callable[[Node], tuple[str, str]],
) -> dict[str, CompiledNode]:
    props = state.props

    def resolve_ref(name: str) -> Relation:
        target = nodes_by_name[name]
        if target.materialized == "ephemeral":
            return Relation(identifier=f"{EPHEMERAL_PREFIX}{name}", type="cte")
        return state.relation(*relation_of(target),
                              "view" if target.materialized in VIEW_LIKE else "table")

    state.resolve_ref = resolve_ref
    compiled: dict[str, CompiledNode] = {}
    for node, parse_capture in enabled:
        schema, alias = relation_of(node)
        if node.resource_type == "seed":
            compiled[node.unique_id] = CompiledNode(
                node, node.config, schema, alias, checksum=_file_checksum(node)
            )
            continue
        if is_python_model(node):
            compiled[node.unique_id] = _python_model(node, schema, alias, nodes_by_name)
            continue
        error: PredsqlError | None = None
        try:
            sql, capture = renderer.render(node)
        except PredsqlError as exc:
            sql, capture, error = "", parse_capture, exc
        depends = [nodes_by_name[r].unique_id for r in capture.refs if r in nodes_by_name]
        extra = _extra(node, [props.sources[s].unique_id for s in capture.sources
                              if s in props.sources], depends, state.incremental(node))
        if error is not None:
            extra["compile_error"] = error.format()
        if capture.introspected or (error is not None and renderer.last_introspected):
            extra["introspective"] = True
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
            extra=extra,
        )
    return compiled


def _model_recompilers(compiled: dict[str, CompiledNode], renderer: Renderer,
                       nodes_by_name: dict[str, Node]) -> dict[str, Callable[[CompiledNode], CompiledNode]]:
    """A node that looked at the database (or failed to compile because of what it
    saw) is compiled again when it runs, after its parents were built."""

    def recompile(node: CompiledNode) -> CompiledNode:
        sql, _ = renderer.render(node.node)
        extra = {k: v for k, v in node.extra.items() if k != "compile_error"}
        updated = replace(node, rendered_sql=sql, compiled_sql=sql, extra=extra)
        ctes = [(f"{EPHEMERAL_PREFIX}{dep.name}", strip_sql(dep.compiled_sql))
                for dep in (compiled[d] for d in node.depends_on if d in compiled)
                if dep.materialized == "ephemeral"]
        if ctes:
            updated = replace(updated, compiled_sql=wrap_with_ctes(sql, ctes))
        return updated

    return {uid: recompile for uid, node in compiled.items() if node.extra.get("introspective")}


def compile_for_run(compiled: CompiledProject, node: CompiledNode, cursor: Any) -> CompiledNode:
    """The node as it must run now: compiled again against `cursor` if it looked at the
    database while compiling; a node that failed to compile raises its error."""
    recompile = compiled.recompilers.get(node.unique_id)
    if recompile is not None and compiled.renderer is not None:
        renderer = compiled.renderer
        with renderer.lock:
            saved = renderer.db.cursor, renderer.db.writes
            renderer.db.cursor, renderer.db.writes = cursor, True
            try:
                return recompile(node)
            finally:
                renderer.db.cursor, renderer.db.writes = saved
    if node.extra.get("compile_error"):
        if node.extra.get("upstream_compile_error"):
            raise UpstreamCompileError(node.extra["compile_error"])
        raise CompileError(node.extra["compile_error"])
    return node


_PYTHON_REF_RE = re.compile(r"""dbt\.ref\(\s*['"]([^'"]+)['"]""")


def _python_model(node: Node, schema: str, alias: str,
                  nodes_by_name: dict[str, Node]) -> CompiledNode:
    """A Python model as a node that fails with its reason: it keeps its place in the graph
    (its `dbt.ref()` parents run first, the models that ref it are skipped), so nothing is
    silently left out of a build."""
    refs = [r for r in _PYTHON_REF_RE.findall(node.raw_sql) if r in nodes_by_name]
    error = CompileError(
        "dbt Python models are not supported by predsql yet, so this model is not built",
        path=node.rel_path,
        hint="write the model in SQL (an ML function does the scoring a Python model "
             "would), or build it with dbt; docs/dbt-compatibility.md lists what is not yet "
             "supported")
    return CompiledNode(node, node.config, schema, alias, refs=tuple(refs),
                        depends_on=tuple(dict.fromkeys(nodes_by_name[r].unique_id
                                                       for r in refs)),
                        checksum=_file_checksum(node),
                        extra={"source_ids": [], "compile_error": error.format()})


def _parse_project_hooks(project: Project, renderer: Renderer) -> None:
    """Render every on-run-start / on-run-end hook as dbt parses them (`execute` false):
    one that cannot render (a missing env var, a macro raising) stops the command before
    any hook runs."""
    from predsql.dbt.hooks import project_hooks

    parse_extra = {"results": [], "schemas": [], "database_schemas": []}
    for kind in ("on-run-start", "on-run-end"):
        for hook in project_hooks(project, kind):
            renderer.render_text(hook.hook.sql, hook.path, None, parse_extra)


_REF_RE = re.compile(r"""^\s*ref\(\s*['"]([^'"]+)['"]\s*(?:,\s*['"]([^'"]+)['"]\s*)?\)\s*$""")
_SOURCE_RE = re.compile(r"""^\s*source\(\s*['"]([^'"]+)['"]\s*,\s*['"]([^'"]+)['"]\s*\)\s*$""")


def _resolve_constraint_refs(compiled: dict[str, CompiledNode], nodes_by_name: dict[str, Node],
                             props: Properties, resolve_ref: Callable[[str], Relation],
                             ) -> dict[str, CompiledNode]:
    """A foreign_key constraint's `to: ref('x')` / `source('a', 'b')`, as dbt resolves it:
    the relation, and the referenced model becomes a parent of the node."""
    result = dict(compiled)
    for uid, node in compiled.items():
        items = [c for column in node.node.columns.values() if isinstance(column, dict)
                 for c in column.get("constraints") or [] if isinstance(c, dict)]
        items += [c for c in node.config.get("constraints") or [] if isinstance(c, dict)]
        resolved: dict[str, str] = {}
        parents: list[str] = []
        for item in items:
            to = item.get("to")
            if not isinstance(to, str) or to in resolved:
                continue
            ref, source = _REF_RE.match(to), _SOURCE_RE.match(to)
            name = (ref.group(2) or ref.group(1)) if ref else None
            if name and name in nodes_by_name:
                resolved[to] = str(resolve_ref(name))
                parents.append(nodes_by_name[name].unique_id)
            elif source and (source.group(1), source.group(2)) in props.sources:
                resolved[to] = props.sources[(source.group(1), source.group(2))].relation
        if resolved:
            result[uid] = replace(node, extra={**node.extra, "constraint_to": resolved},
                                  depends_on=tuple(dict.fromkeys([*node.depends_on, *parents])))
    return result


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
        if node is None or node.resource_type == "seed" or node.extra.get("compile_error"):
            continue
        broken = [result[d] for d in node.depends_on
                  if result[d].materialized == "ephemeral" and result[d].extra.get("compile_error")]
        if broken:
            message = (f"{node.node.rel_path}: ephemeral model {broken[0].name!r} it selects "
                       f"from failed to compile:\n{broken[0].extra['compile_error']}")
            result[uid] = replace(node, extra={**node.extra, "compile_error": message,
                                               "upstream_compile_error": True})
            continue
        ctes = [
            (f"{EPHEMERAL_PREFIX}{dep.name}", strip_sql(dep.compiled_sql))
            for dep in (result[d] for d in node.depends_on)
            if dep.materialized == "ephemeral"
        ]
        if ctes:
            result[uid] = replace(node, compiled_sql=wrap_with_ctes(node.compiled_sql, ctes))
    return result
