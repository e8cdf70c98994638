"""Relation names as dbt makes them: generate_schema_name / generate_alias_name (the
project's or a package's override, else dbt's default) and the flat `graph`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from predsql.errors import CompileError
from predsql.nodes import Node
from predsql.project import Project
from predsql.rendering import Renderer, model_context


def schema_for(project: Project, config: dict[str, Any]) -> str:
    """dbt's default generate_schema_name (used before the macros are known)."""
    custom = config.get("schema")
    base = project.target.schema
    return f"{base}_{str(custom).strip()}" if custom else base


def default_relation(project: Project, node: Node) -> tuple[str, str]:
    schema = legacy_snapshot_schema(node) or schema_for(project, node.config)
    return schema, str(node.config.get("alias") or node.name)


def legacy_snapshot_schema(node: Node) -> str | None:
    """A snapshot's `target_schema` (dbt < 1.9 style) is used as written."""
    if node.resource_type == "snapshot" and node.config.get("target_schema"):
        return str(node.config["target_schema"])
    return None


NAME_MACROS = (("schema", "generate_schema_name"), ("alias", "generate_alias_name"))


def relation_names(renderer: Renderer, nodes: list[Node]) -> dict[str, tuple[str, str]]:
    """(schema, alias) of every model and seed, from generate_schema_name and
    generate_alias_name (the project's or a package's override, else dbt's default)."""
    names: dict[str, tuple[str, str]] = {}
    state = renderer.state
    overridden = {macro_name: any(renderer.macros.find(f"{prefix}{macro_name}") is not None
                                  for prefix in ("", "default__", "duckdb__"))
                  for _, macro_name in NAME_MACROS}
    state.parsing = True
    try:
        for node in nodes:
            if node.resource_type not in ("model", "seed", "snapshot"):
                continue
            space = renderer.namespace(node.fqn[0])
            values = []
            for key, macro_name in NAME_MACROS:
                if not overridden[macro_name]:  # dbt's default, without a render
                    values.append(default_relation(renderer.project, node)[
                        0 if key == "schema" else 1])
                    continue
                macro = space.lookup(macro_name)
                value = renderer.call_macro(macro, node.config.get(key),
                                            model_context(node), node=node,
                                            path=node.rel_path)
                values.append(str(value).strip())
            _check_database(renderer, node, space)
            names[node.unique_id] = (legacy_snapshot_schema(node) or values[0], values[1])
    finally:
        state.parsing = False
    return names


def _check_database(renderer: Renderer, node: Node, space: Any) -> None:
    custom = node.config.get("database")
    if custom is None and renderer.macros.find("generate_database_name") is None:
        return
    macro = space.lookup("generate_database_name")
    value = str(renderer.call_macro(macro, custom, model_context(node), node=node,
                                    path=node.rel_path)).strip()
    target = str(renderer.project.target.as_context()["database"])
    if value and value != target:
        raise CompileError(
            f"{node.resource_type} {node.name!r} is placed in database {value!r}; predsql "
            f"builds every relation in the target database {target!r}",
            path=node.rel_path, hint="remove the `database` config (or its override)")


def flat_graph(enabled: list[tuple[Node, Any]],
                relation_of: Callable[[Node], tuple[str, str]]) -> dict[str, Any]:
    """`graph.nodes` for macros: what dbt's flat graph holds about each node."""
    flat = {}
    for node, capture in enabled:
        entry = model_context(node, relation_of(node))
        entry["depends_on"] = {"nodes": [], "macros": []}
        entry["refs"] = [{"name": r} for r in (capture.refs if capture else [])]
        entry["sources"] = [list(s) for s in (capture.sources if capture else [])]
        flat[node.unique_id] = entry
    return flat


