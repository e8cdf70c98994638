"""Turning `tests:` / `data_tests:` entries of properties YAML into test nodes."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from predsql.compiler import CompiledNode, CompiledProject
from predsql.configs import merge_into, tree_config
from predsql.errors import CompileError, ProjectError
from predsql.nodes import Node
from predsql.rendering import Renderer
from predsql.testing import audit_schema

BUILTIN_TESTS = ("unique", "not_null", "accepted_values", "relationships", "accepted_range")
TEST_CONFIG_KEYS = ("severity", "warn_if", "error_if", "store_failures", "limit", "where",
                    "tags", "enabled", "config", "name", "meta", "fail_calc")


def _tests_of(entry: dict[str, Any]) -> Any:
    return entry.get("data_tests") or entry.get("tests") or []


def add_generic_tests(compiled: CompiledProject, renderer: Renderer) -> CompiledProject:
    nodes = dict(compiled.nodes)
    macros = renderer.env.globals
    targets: list[tuple[str, str, str, dict[str, Any], str, list[str]]] = []
    for node in compiled.nodes.values():
        if node.resource_type not in ("model", "seed") or node.materialized == "ephemeral":
            continue
        props = (compiled.properties.models if node.resource_type == "model"
                 else compiled.properties.seeds).get(node.name, {})
        path = props.get("__path__", node.node.rel_path)
        targets.append((node.unique_id, node.name, node.relation, props, path, []))
    for source in compiled.sources.values():
        props = {"columns": list(source.columns.values()), "data_tests": list(source.tests)}
        targets.append((source.unique_id, f"source_{source.source_name}_{source.name}",
                        source.relation, props, source.path, [source.unique_id]))

    for uid, name, relation, props, path, source_ids in targets:
        scopes: list[tuple[str | None, Any]] = [(None, _tests_of(props))]
        for column in props.get("columns") or []:
            if isinstance(column, dict) and column.get("name"):
                scopes.append((str(column["name"]), _tests_of(column)))
        for column, raw_tests in scopes:
            for kind, body in _test_entries(raw_tests):
                test = _make(compiled, renderer, macros, uid, name, relation, column, kind,
                             body, path, source_ids)
                if test.config.get("enabled", True) is False:
                    continue
                unique = test.unique_id
                suffix = 2
                while unique in nodes:
                    unique = f"{test.unique_id}_{suffix}"
                    suffix += 1
                if unique != test.unique_id:
                    test = replace(test, node=replace(test.node, unique_id=unique,
                                                      name=unique.split(".")[-1]))
                nodes[unique] = test
    return replace(compiled, nodes=nodes)


def _make(compiled: CompiledProject, renderer: Renderer, macros: Any, uid: str, name: str,
          relation: str, column: str | None, kind: str, body: dict[str, Any], path: str,
          source_ids: list[str]) -> CompiledNode:
    config, args = _split_config(body)
    if column is None and args.get("column_name"):
        column = str(args.pop("column_name"))
    kind = kind.split(".")[-1]  # dbt_utils.accepted_range -> accepted_range
    refs: list[str] = []

    def render_ref(text: str) -> str:
        capture_before = list(renderer.state.capture.refs)
        renderer.state.capture.refs = []
        template = text if "{{" in text else "{{ " + text + " }}"
        rendered = renderer.env.from_string(template).render()
        refs.extend(renderer.state.capture.refs)
        renderer.state.capture.refs = capture_before
        return rendered

    where = config.get("where")
    target = f"(SELECT * FROM {relation} WHERE {where})" if where else relation
    quoted_column = column if column is None or column.startswith('"') else f'"{column}"'
    sql = generic_sql(kind, target, quoted_column, args, render_ref, macros, path)
    depends = [] if uid.startswith("source.") else [uid]
    for ref in refs:
        other = compiled.by_name(ref)
        if other is not None:
            depends.append(other.unique_id)
    test_name = str(body.get("name") or test_node_name(kind, name, column, args))
    return make_test_node(compiled, test_name, sql, config, depends, [uid], path, kind,
                          column, source_ids)


def _test_entries(raw: Any) -> list[tuple[str, dict[str, Any]]]:
    """Normalize `- unique`, `- accepted_values: {values: [...]}` and `arguments:` forms."""
    entries = []
    for item in raw or []:
        if isinstance(item, str):
            entries.append((item, {}))
        elif isinstance(item, dict) and len(item) == 1:
            name, body = next(iter(item.items()))
            body = dict(body or {})
            if isinstance(body.get("arguments"), dict):
                body = {**body, **body.pop("arguments")}
            entries.append((str(name), body))
        elif isinstance(item, dict) and "name" in item and "test_name" in item:
            entries.append((str(item["test_name"]), dict(item)))
    return entries


def _split_config(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    config = dict(body.get("config") or {})
    args = {}
    for key, value in body.items():
        if key == "config":
            continue
        if key in TEST_CONFIG_KEYS:
            config[key] = value
        else:
            args[key] = value
    return config, args


def _sql_value(value: Any, quote_values: bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if quote_values and not isinstance(value, (int, float)) or isinstance(value, str):
        return "'" + str(value).replace("'", "''") + "'"
    return str(value)


def generic_sql(kind: str, relation: str, column: str | None, args: dict[str, Any],
                render_ref: Any, macros: dict[str, Any], path: str) -> str:
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
        parent = render_ref(str(args["to"]))
        field = args["field"]
        return (f"SELECT child.{col} AS from_field FROM {relation} AS child "
                f"LEFT JOIN {parent} AS parent ON child.{col} = parent.{field} "
                f"WHERE child.{col} IS NOT NULL AND parent.{field} IS NULL")
    if kind == "accepted_range":
        inclusive = bool(args.get("inclusive", True))
        conds = []
        if "min_value" in args:
            conds.append(f"{col} {'>=' if inclusive else '>'} {args['min_value']}")
        if "max_value" in args:
            conds.append(f"{col} {'<=' if inclusive else '<'} {args['max_value']}")
        if not conds:
            raise ProjectError("accepted_range needs `min_value:` or `max_value:`", path=path)
        return f"SELECT * FROM {relation} WHERE NOT ({' AND '.join(conds)})"
    macro = macros.get(f"test_{kind}")
    if macro is None:
        raise CompileError(
            f"unknown test {kind!r}", path=path,
            hint=f"built-in tests: {', '.join(BUILTIN_TESTS)}; custom tests come from "
            "{% test name(model, column_name) %} blocks in macro or test paths",
        )
    return str(macro(model=relation, column_name=column, **args))


def test_node_name(kind: str, model: str, column: str | None, args: dict[str, Any]) -> str:
    parts = [kind, model] + ([column] if column else [])
    if kind == "accepted_values":
        parts += [re.sub(r"\W+", "_", str(v)) for v in args.get("values", [])][:4]
    if kind == "relationships":
        target = re.sub(r"\W+", "_", str(args.get("to", ""))).strip("_")
        parts += [target, str(args.get("field", ""))]
    return re.sub(r"_+", "_", "_".join(p for p in parts if p))[:120]


def make_test_node(compiled: CompiledProject, name: str, sql: str, config: dict[str, Any],
                   depends: list[str], attached: list[str], path: str, test_name: str,
                   column: str | None, source_ids: list[str]) -> CompiledNode:
    project = compiled.project
    node = Node(
        unique_id=f"test.{project.name}.{name}", resource_type="test", name=name,
        path=project.root / path, rel_path=path, fqn=(project.name, name), raw_sql=sql,
        config=config,
    )
    return CompiledNode(
        node, merge_into(tree_config(project.tests_config, node.fqn), config),
        schema=audit_schema(compiled), alias=name, rendered_sql=sql, compiled_sql=sql,
        depends_on=tuple(dict.fromkeys(depends)),
        extra={"test_type": "data", "test_name": test_name, "attached_to": attached,
               "column_name": column, "source_ids": source_ids},
    )
