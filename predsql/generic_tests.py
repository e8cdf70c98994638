"""Turning `tests:` / `data_tests:` entries of properties YAML into test nodes.

`unique`, `not_null`, `accepted_values`, `relationships` and `accepted_range` are
predsql's own SQL (unless the project defines `test_<name>` itself); every other
test runs its `{% test %}` definition (`dbt_utils.expression_is_true`,
`dbt_expectations.*`, the project's own) with dbt's argument binding: `model` is
the tested relation (a subquery when `where` is set), `column_name` the column,
the other arguments rendered as dbt renders them (`ref('x')` is a relation).
Names follow dbt's scheme (`not_null_orders_id`, `source_unique_raw_events_id`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from predsql.compiler import (
    EPHEMERAL_PREFIX,
    VIEW_LIKE,
    CompiledNode,
    CompiledProject,
    strip_sql,
    wrap_with_ctes,
)
from predsql.configs import merge_into, tree_config
from predsql.dbt.relation import Relation
from predsql.errors import CompileError, PredsqlError, ProjectError
from predsql.nodes import Node
from predsql.rendering import Renderer
from predsql.testing import audit_schema

BUILTIN_TESTS = ("unique", "not_null", "accepted_values", "relationships", "accepted_range")
TEST_CONFIG_KEYS = ("severity", "warn_if", "error_if", "store_failures", "limit", "where",
                    "tags", "enabled", "config", "name", "meta", "fail_calc", "alias",
                    "schema", "database", "store_failures_as", "description")
LOOKS_LIKE_FUNC = re.compile(r"^\s*(env_var|ref|var|source|doc)\s*\(.+\)\s*$", re.DOTALL)


@dataclass(frozen=True)
class TestTarget:
    """What a test is attached to: a model, a seed or a source table."""

    unique_id: str
    name: str              # the name used in test names (source_<source>_<table> for sources)
    relation: str
    relation_obj: Relation
    props: dict[str, Any]
    path: str
    package: str
    source_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TestSpec:
    """One test entry of a properties file, normalized."""

    namespace: str | None
    kind: str
    args: dict[str, Any]
    config: dict[str, Any]
    column: str | None
    custom_name: str | None


def _tests_of(entry: dict[str, Any]) -> Any:
    return entry.get("data_tests") or entry.get("tests") or []


def add_generic_tests(compiled: CompiledProject, renderer: Renderer) -> CompiledProject:
    nodes = dict(compiled.nodes)
    recompilers = dict(compiled.recompilers)
    for target in _targets(compiled, renderer):
        scopes: list[tuple[str | None, Any]] = [(None, _tests_of(target.props))]
        for column in target.props.get("columns") or []:
            if isinstance(column, dict) and column.get("name"):
                scopes.append((str(column["name"]), _tests_of(column)))
        for column, raw_tests in scopes:
            for spec in _test_entries(raw_tests, column, target.path):
                test, recompile = _make(compiled, renderer, target, spec)
                if test.config.get("enabled", True) in (False, "false"):
                    continue
                unique = test.unique_id
                suffix = 2
                while unique in nodes:
                    unique = f"{test.unique_id}_{suffix}"
                    suffix += 1
                if unique != test.unique_id:
                    test = replace(test, node=replace(test.node, unique_id=unique,
                                                      name=unique.split(".")[-1]))
                nodes[unique] = with_ephemeral_ctes(compiled, test)
                if recompile is not None:
                    recompilers[unique] = _then_ctes(compiled, recompile)
    return replace(compiled, nodes=nodes, recompilers=recompilers)


def with_ephemeral_ctes(compiled: CompiledProject, test: CompiledNode) -> CompiledNode:
    """A test of (or through) an ephemeral model gets the model's CTE in front."""
    ctes = [(f"{EPHEMERAL_PREFIX}{dep.name}", strip_sql(dep.compiled_sql))
            for dep in (compiled.nodes.get(d) for d in test.depends_on)
            if dep is not None and dep.materialized == "ephemeral"]
    if not ctes or not test.compiled_sql:
        return test
    return replace(test, compiled_sql=wrap_with_ctes(test.compiled_sql, ctes))


def _then_ctes(compiled: CompiledProject, recompile: Callable[[CompiledNode], CompiledNode],
               ) -> Callable[[CompiledNode], CompiledNode]:
    return lambda node: with_ephemeral_ctes(compiled, recompile(node))


def _targets(compiled: CompiledProject, renderer: Renderer) -> list[TestTarget]:
    targets = []
    for node in compiled.nodes.values():
        if node.resource_type not in ("model", "seed", "snapshot"):
            continue
        props = {"model": compiled.properties.models, "seed": compiled.properties.seeds,
                 "snapshot": compiled.properties.snapshots}[node.resource_type].get(node.name)
        if props is None:  # as dbt: tests under `models:` ref the name, a seed's too
            props = compiled.properties.models.get(node.name, {})
        path = props.get("__path__", node.node.rel_path)
        if node.materialized == "ephemeral":  # tested through its CTE, as dbt does
            cte = Relation(identifier=f"{EPHEMERAL_PREFIX}{node.name}", type="cte")
            targets.append(TestTarget(node.unique_id, node.name, str(cte), cte, props, path,
                                      node.node.fqn[0]))
            continue
        kind = "view" if node.materialized in VIEW_LIKE else "table"
        targets.append(TestTarget(node.unique_id, node.name, node.relation,
                                  renderer.state.relation(node.schema, node.alias, kind),
                                  props, path, node.node.fqn[0]))
    for source in compiled.sources.values():
        props = {"columns": list(source.columns.values()), "data_tests": list(source.tests)}
        relation = replace(Relation.create(database=source.database, schema=source.schema,
                                           identifier=source.identifier, type="table"),
                           external=source.external)
        targets.append(TestTarget(source.unique_id, f"{source.source_name}_{source.name}",
                                  source.relation, relation, props, source.path,
                                  source.unique_id.split(".")[1], [source.unique_id]))
    return targets


def _test_entries(raw: Any, column: str | None, path: str) -> list[TestSpec]:
    """Normalize `- unique`, `- accepted_values: {values: [...]}`, `arguments:` and
    `{test_name: x, name: y}` forms."""
    specs = []
    for item in raw or []:
        if isinstance(item, str):
            name, body = item, {}
        elif isinstance(item, dict) and len(item) == 1:
            name, body = next(iter(item.items()))
            body = dict(body or {})
        elif isinstance(item, dict) and "test_name" in item:
            name, body = item["test_name"], {k: v for k, v in item.items() if k != "test_name"}
        else:
            raise ProjectError(f"cannot read test entry {item!r}", path=path,
                               hint="a test is a name, or a mapping of one name to its arguments")
        config, args = _split_config(body)
        test_column = column
        if "column_name" in args:
            test_column = str(args.pop("column_name"))
        namespace, _, kind = str(name).rpartition(".")
        specs.append(TestSpec(namespace or None, kind, args, config, test_column,
                              str(body["name"]) if body.get("name") else None))
    return specs


def _split_config(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    config = dict(body.get("config") or {})
    args: dict[str, Any] = {}
    if isinstance(body.get("arguments"), dict):
        args.update(body["arguments"])
    for key, value in body.items():
        if key in ("config", "arguments", "name"):
            continue
        if key in TEST_CONFIG_KEYS:
            config[key] = value
        else:
            args[key] = value
    return config, args


def synthesize_name(test_type: str, target_name: str, args: dict[str, Any]) -> tuple[str, str]:
    """dbt's test name: (short name for the relation, full name for the node)."""
    flat: list[str] = []
    for key in sorted(args):
        if key == "model":
            continue
        value = args[key]
        parts = (list(value.values()) if isinstance(value, dict)
                 else list(value) if isinstance(value, (list, tuple)) else [value])
        flat.extend(str(part) for part in parts)
    unique = "__".join(re.sub(r"[^0-9a-zA-Z_]+", "_", arg) for arg in flat)
    identifier = f"{test_type}_{target_name}"
    full = f"{identifier}_{unique}"
    if len(full) >= 64:
        return f"{identifier[:30]}_{hashlib.md5(full.encode('utf-8')).hexdigest()}", full
    return full, full


def _find_macro(renderer: Renderer, spec: TestSpec, package: str) -> Any:
    """The `test_<kind>` macro: in the named package, else the project's, else any
    package's (dbt's order); None for predsql's built-in tests."""
    space = renderer.namespace(package)
    name = f"test_{spec.kind}"
    if spec.namespace:
        functions = space.packages.get(spec.namespace)
        return functions.get(name) if functions is not None else None
    own = space.packages.get(renderer.macros.root)
    if own is not None and name in own:
        return own[name]
    if package in space.packages and name in space.packages[package]:
        return space.packages[package][name]
    if spec.kind in BUILTIN_TESTS:
        return None
    for other in renderer.macros.packages:
        functions = space.packages.get(other)
        if functions is not None and name in functions:
            return functions[name]
    return None


def _make(compiled: CompiledProject, renderer: Renderer, target: TestTarget,
          spec: TestSpec) -> tuple[CompiledNode, Callable[[CompiledNode], CompiledNode] | None]:
    test_type = f"{spec.namespace}_{spec.kind}" if spec.namespace else spec.kind
    name_args = dict(spec.args)
    if spec.column is not None:
        name_args["column_name"] = spec.column
    if target.unique_id.startswith("source."):
        test_type = f"source_{test_type}"
    short, full = synthesize_name(test_type, target.name, name_args)
    name = spec.custom_name or full
    config = _rendered_config(renderer, spec.config, target.path)
    if short != full and not spec.custom_name:
        config.setdefault("alias", short)
    macro = _find_macro(renderer, spec, target.package)
    depends = [] if target.unique_id.startswith("source.") else [target.unique_id]
    if macro is None and spec.kind in BUILTIN_TESTS and spec.namespace is None:
        refs: list[str] = []
        sql = _builtin_sql(renderer, target, spec, config, refs)
        return _node(compiled, target, spec, name, sql, config, depends, refs), None
    node = _node(compiled, target, spec, name, "", config, depends, [])
    if macro is None:
        where = f"{spec.namespace}." if spec.namespace else ""
        error = CompileError(
            f"unknown test {where + spec.kind!r}", path=target.path,
            hint=f"built-in tests: {', '.join(BUILTIN_TESTS)}; other tests come from "
            "{% test name(model, column_name) %} blocks in macro or test paths, or from "
            "packages (e.g. dbt_utils.expression_is_true) installed in dbt_packages/")
        return _with_error(node, error), None

    def render(current: CompiledNode) -> CompiledNode:
        return _render_macro_test(compiled, renderer, target, spec, macro, current)

    rendered = render(node)
    recompile = render if rendered.extra.get("introspective") else None
    return rendered, recompile


def _rendered_config(renderer: Renderer, config: dict[str, Any], path: str) -> dict[str, Any]:
    """Test config values are rendered as dbt renders them: natively, so
    `enabled: "{{ target.type == 'duckdb' }}"` is a boolean."""
    rendered = {}
    for key, value in config.items():
        if isinstance(value, str) and ("{{" in value or "{%" in value):
            value = renderer.render_value(value, path)
        rendered[key] = value
    return rendered


def _with_error(node: CompiledNode, error: PredsqlError) -> CompiledNode:
    return replace(node, extra={**node.extra, "compile_error": error.format()})


def _render_macro_test(compiled: CompiledProject, renderer: Renderer, target: TestTarget,
                       spec: TestSpec, macro: Any, node: CompiledNode) -> CompiledNode:
    """Call the test's macro as dbt does; the node records refs, config() and errors."""
    state = renderer.state
    try:
        with renderer.scope(node.node) as space:
            model = space.context["get_where_subquery"](target.relation_obj)
            kwargs = {key: _render_arg(renderer, space.context, value, node.node.rel_path)
                      for key, value in spec.args.items()}
            kwargs["model"] = model
            if spec.column is not None:
                kwargs["column_name"] = spec.column
            sql = str(macro(**kwargs))
            refs = list(state.capture.refs)
            macro_config = dict(state.capture.config)
        introspected = renderer.last_introspected
    except PredsqlError as exc:
        located = exc if exc.path else replace_path(exc, node.node.rel_path)
        errored = _with_error(node, located)
        if renderer.last_introspected:
            errored = replace(errored, extra={**errored.extra, "introspective": True})
        return errored
    except Exception as exc:  # a failure inside the test's macro, as a node error
        from predsql.rendering import as_render_error

        return _with_error(node, as_render_error(exc, node.node.rel_path, node.node))
    depends = list(node.depends_on)
    for ref in refs:
        other = compiled.by_name(ref)
        if other is not None and other.unique_id not in depends:
            depends.append(other.unique_id)
    config = merge_into(dict(macro_config), node.node.config)
    config = merge_into(tree_config(compiled.project.tests_config, node.node.fqn), config)
    extra = {k: v for k, v in node.extra.items() if k not in ("compile_error", "introspective")}
    if introspected:
        extra["introspective"] = True
    return replace(node, config=config, rendered_sql=sql, compiled_sql=sql,
                   depends_on=tuple(depends), refs=tuple(refs), extra=extra)


def replace_path(exc: PredsqlError, path: str) -> PredsqlError:
    exc.path = path
    return exc


def _render_arg(renderer: Renderer, context: dict[str, Any], value: Any, path: str) -> Any:
    """A test argument as dbt renders it: `ref('x')` and other Jinja natively."""
    if isinstance(value, str):
        text = "{{ " + value + " }}" if LOOKS_LIKE_FUNC.match(value) else value
        if "{{" not in text and "{%" not in text:
            return value
        from predsql.yamlio import render_native

        return render_native(renderer.env, text, context, path)
    if isinstance(value, list):
        return [_render_arg(renderer, context, v, path) for v in value]
    if isinstance(value, dict):
        return {k: _render_arg(renderer, context, v, path) for k, v in value.items()}
    return value


def _sql_value(value: Any, quote_values: bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if quote_values and not isinstance(value, (int, float)) or isinstance(value, str):
        return "'" + str(value).replace("'", "''") + "'"
    return str(value)


def _builtin_sql(renderer: Renderer, target: TestTarget, spec: TestSpec,
                 config: dict[str, Any], refs: list[str]) -> str:
    """predsql's SQL for a built-in test, its arguments rendered as dbt renders them."""
    with renderer.scope(None) as space:
        args = {key: _render_arg(renderer, space.context, value, target.path)
                for key, value in spec.args.items()}
        refs.extend(renderer.state.capture.refs)
    where = config.get("where")
    relation = f"(SELECT * FROM {target.relation} WHERE {where})" if where else target.relation
    column = spec.column
    quoted = column if column is None or column.startswith('"') else f'"{column}"'
    return generic_sql(spec.kind, relation, quoted, args, target.path)


def generic_sql(kind: str, relation: str, column: str | None, args: dict[str, Any],
                path: str) -> str:
    col = column or ""
    if kind == "not_null":
        return f"SELECT * FROM {relation} WHERE {col} IS NULL"
    if kind == "unique":
        return (f"SELECT {col} AS unique_field, count(*) AS n_records FROM {relation} "
                f"WHERE {col} IS NOT NULL GROUP BY {col} HAVING count(*) > 1")
    if kind == "accepted_values":
        values = args.get("values")
        if not isinstance(values, list) or not values:
            raise ProjectError("accepted_values needs a `values:` list", path=path)
        quoted = bool(args.get("quote", True))
        listed = ", ".join(_sql_value(v, quoted) if quoted else str(v) for v in values)
        return (f"SELECT {col} AS value_field, count(*) AS n_records FROM {relation} "
                f"WHERE {col} NOT IN ({listed}) GROUP BY {col}")
    if kind == "relationships":
        if "to" not in args or "field" not in args:
            raise ProjectError("relationships needs `to:` and `field:`", path=path)
        parent = str(args["to"])
        field_ = args["field"]
        return (f"SELECT child.{col} AS from_field FROM {relation} AS child "
                f"LEFT JOIN {parent} AS parent ON child.{col} = parent.{field_} "
                f"WHERE child.{col} IS NOT NULL AND parent.{field_} IS NULL")
    inclusive = bool(args.get("inclusive", True))
    conds = []
    if "min_value" in args:
        conds.append(f"{col} {'>=' if inclusive else '>'} {args['min_value']}")
    if "max_value" in args:
        conds.append(f"{col} {'<=' if inclusive else '<'} {args['max_value']}")
    if not conds:
        raise ProjectError("accepted_range needs `min_value:` or `max_value:`", path=path)
    return f"SELECT * FROM {relation} WHERE NOT ({' AND '.join(conds)})"


def _node(compiled: CompiledProject, target: TestTarget, spec: TestSpec, name: str, sql: str,
          config: dict[str, Any], depends: list[str], refs: list[str]) -> CompiledNode:
    for ref in refs:
        other = compiled.by_name(ref)
        if other is not None and other.unique_id not in depends:
            depends.append(other.unique_id)
    node = make_test_node(compiled, name, sql, config, depends, [target.unique_id],
                          target.path, spec.kind, spec.column, target.source_ids,
                          target.package)
    if spec.namespace:
        node = replace(node, extra={**node.extra, "test_namespace": spec.namespace})
    return node


def make_test_node(compiled: CompiledProject, name: str, sql: str, config: dict[str, Any],
                   depends: list[str], attached: list[str], path: str, test_name: str,
                   column: str | None, source_ids: list[str],
                   package: str | None = None) -> CompiledNode:
    project = compiled.project
    package = package or project.name
    node = Node(
        unique_id=f"test.{package}.{name}", resource_type="test", name=name,
        path=project.root / path, rel_path=path, fqn=(package, name), raw_sql=sql,
        config=config,
    )
    return CompiledNode(
        node, merge_into(tree_config(project.tests_config, node.fqn), config),
        schema=audit_schema(compiled), alias=str(config.get("alias") or name),
        rendered_sql=sql, compiled_sql=sql,
        depends_on=tuple(dict.fromkeys(depends)),
        extra={"test_type": "data", "test_name": test_name, "attached_to": attached,
               "column_name": column, "source_ids": source_ids},
    )
