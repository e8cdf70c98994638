"""Turning `tests:` / `data_tests:` entries of properties YAML into test nodes."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from predsql.compiler import CompiledNode, CompiledProject
from predsql.rendering import Renderer
from predsql.testing import (
    _split_config,
    _test_entries,
    generic_sql,
    make_test_node,
    test_node_name,
)


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
