"""The docs lineage graph: project nodes and sources, plus ML functions and their
ONNX files as nodes of their own (ONNX file -> function -> models calling it).

Each node also gets a layer (longest path from a root) and an order within its
layer; the page places graphs too large for a layered layout in the browser on
this grid (see docs/decisions.md).
"""

from __future__ import annotations

import graphlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from predsql.compiler import CompiledNode, CompiledProject
from predsql.ml.registry import Registry


def function_id(project: str, name: str) -> str:
    return f"ml_function.{project}.{name}"


def onnx_id(project: str, rel_path: str) -> str:
    return f"onnx_file.{project}.{rel_path}"


@dataclass(frozen=True)
class DocsGraph:
    parents: dict[str, tuple[str, ...]]
    children: dict[str, tuple[str, ...]]
    layer: dict[str, int]
    order: dict[str, int]  # position within the layer


def _test_parents(node: CompiledNode) -> tuple[str, ...]:
    attached = tuple(node.extra.get("attached_to") or ())
    if node.extra.get("test_type") == "unit":
        return attached
    return tuple(dict.fromkeys((*attached, *node.depends_on,
                                *(node.extra.get("source_ids") or ()))))


def node_parents(compiled: CompiledProject, registry: Registry,
                 model_files: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """unique id -> parents, ML functions and ONNX files included.
    `model_files`: function name -> its ONNX file (relative path)."""
    project = compiled.project.name
    parents: dict[str, tuple[str, ...]] = {}
    for source in compiled.sources.values():
        parents[source.unique_id] = ()
    for name, rel_path in model_files.items():
        parents.setdefault(onnx_id(project, rel_path), ())
        parents[function_id(project, name)] = (onnx_id(project, rel_path),)
    for uid, node in compiled.nodes.items():
        if node.resource_type == "test":
            found: tuple[str, ...] = _test_parents(node)
        else:
            found = (*node.depends_on, *(node.extra.get("source_ids") or ()))
        calls = [function_id(project, f) for f in (node.extra.get("ml_functions") or {})
                 if registry.get(f) is not None]
        parents[uid] = tuple(dict.fromkeys((*found, *calls)))
    return {uid: tuple(p for p in ps if p in parents) for uid, ps in parents.items()}


def build_docs_graph(parents: dict[str, tuple[str, ...]],
                     sort_key: Mapping[str, str]) -> DocsGraph:
    children: dict[str, list[str]] = {uid: [] for uid in parents}
    for uid, ps in parents.items():
        for p in ps:
            children[p].append(uid)
    layer = _layers(parents)
    by_layer: dict[int, list[str]] = {}
    for uid, depth in layer.items():
        by_layer.setdefault(depth, []).append(uid)
    order: dict[str, int] = {}
    for members in by_layer.values():
        for i, uid in enumerate(sorted(members, key=lambda u: (sort_key.get(u, u), u))):
            order[uid] = i
    return DocsGraph(parents, {k: tuple(v) for k, v in children.items()}, layer, order)


def _layers(parents: Mapping[str, Iterable[str]]) -> dict[str, int]:
    """Longest path from a root: every node sits right of all its parents."""
    layer: dict[str, int] = {}
    for uid in graphlib.TopologicalSorter(parents).static_order():
        layer[uid] = 1 + max((layer[p] for p in parents.get(uid, ())), default=-1)
    return layer
