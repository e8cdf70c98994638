"""`predsql ls`, as `dbt ls` lists: every selected node, sources and tests included,
sorted by unique id, as selectors, names, paths or JSON."""

from __future__ import annotations

import json
from typing import Any

from predsql.compiler import CompiledNode
from predsql.errors import SelectionError
from predsql.selection import source_node

DEFAULT_TYPES = ("model", "snapshot", "seed", "test", "source", "unit_test")
ALL_TYPES = (*DEFAULT_TYPES, "analysis")
OUTPUTS = ("selector", "json", "name", "path")


def resource_type(node: CompiledNode) -> str:
    return "unit_test" if node.extra.get("test_type") == "unit" else node.resource_type


def wanted_types(include: tuple[str, ...], exclude: tuple[str, ...]) -> set[str]:
    for kind in (*include, *exclude):
        if kind not in (*ALL_TYPES, "all", "default"):
            raise SelectionError(f"unknown resource type {kind!r}",
                                 hint=f"use one of: {', '.join(ALL_TYPES)}, all, default")
    wanted: set[str] = set()
    for kind in include or ("default",):
        wanted |= set(ALL_TYPES if kind == "all" else DEFAULT_TYPES if kind == "default"
                      else (kind,))
    return wanted - set(exclude)


def list_lines(session: Any, output: str, include: tuple[str, ...] = (),
               exclude: tuple[str, ...] = (), warn: Any = None) -> list[str]:
    """The lines `ls` prints; warnings go to `warn` so the lines stay pipeable."""
    from predsql.tasks import selected_ids

    warn = warn or session.console.warn
    compiled = session.compiled
    nodes = dict(compiled.nodes)
    for source in compiled.sources.values():
        nodes[source.unique_id] = source_node(compiled, source)
    wanted = wanted_types(include, exclude)
    chosen = [nodes[uid] for uid in sorted(selected_ids(session, warn)) if uid in nodes]
    chosen = [n for n in chosen if resource_type(n) in wanted]
    if not chosen:
        warn("No nodes selected!")
    return [render(node, output) for node in chosen]


def render(node: CompiledNode, output: str) -> str:
    kind = resource_type(node)
    fqn = list(node.node.fqn)
    if output == "name":
        return f"{fqn[1]}.{node.name}" if kind == "source" else node.name
    if output == "path":
        return node.node.rel_path
    if output == "json":
        return json.dumps(json_entry(node, kind))
    if kind == "source":
        return "source:" + ".".join(fqn)
    if kind == "unit_test":
        return f"unit_test:{fqn[0]}.{node.name}"
    return ".".join(fqn)


def json_entry(node: CompiledNode, kind: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": node.name, "resource_type": kind, "package_name": node.node.fqn[0],
        "original_file_path": node.node.rel_path, "unique_id": node.unique_id,
        "tags": node.tags,
    }
    if kind == "source":
        entry["source_name"] = node.node.fqn[1]
        entry["config"] = dict(node.config)
        return entry
    entry["alias"] = node.alias
    entry["config"] = {**node.config, "materialized": node.materialized, "tags": node.tags}
    parents = [*node.depends_on, *node.extra.get("source_ids", [])]
    if kind == "unit_test":
        parents = list(node.extra.get("attached_to", []))
    entry["depends_on"] = {"macros": [], "nodes": parents}
    return entry
