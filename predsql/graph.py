"""The dependency graph between nodes: order, cycles, ancestors, descendants."""

from __future__ import annotations

import graphlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from predsql.errors import CompileError


@dataclass(frozen=True)
class Graph:
    """parents[node] = the nodes it depends on (unique ids)."""

    parents: Mapping[str, tuple[str, ...]]
    children: Mapping[str, tuple[str, ...]]
    order: tuple[str, ...]

    def ancestors(self, node: str) -> set[str]:
        return _walk(node, self.parents)

    def descendants(self, node: str) -> set[str]:
        return _walk(node, self.children)

    def ordered(self, nodes: Iterable[str]) -> list[str]:
        wanted = set(nodes)
        return [n for n in self.order if n in wanted]


def build_graph(parents: Mapping[str, Iterable[str]], paths: Mapping[str, str]) -> Graph:
    frozen = {node: tuple(deps) for node, deps in parents.items()}
    sorter = graphlib.TopologicalSorter(frozen)
    try:
        order = tuple(sorter.static_order())
    except graphlib.CycleError as exc:
        cycle = list(reversed(exc.args[1]))
        names = " -> ".join(n.split(".")[-1] for n in cycle)
        raise CompileError(
            f"dependency cycle: {names}",
            path=paths.get(cycle[0]),
            hint="break the cycle: one of these models must not ref the next",
        ) from exc
    children: dict[str, list[str]] = {node: [] for node in order}
    for node, deps in frozen.items():
        for dep in deps:
            children.setdefault(dep, []).append(node)
    return Graph(frozen, {k: tuple(v) for k, v in children.items()}, order)


def _walk(start: str, edges: Mapping[str, tuple[str, ...]]) -> set[str]:
    seen: set[str] = set()
    stack = list(edges.get(start, ()))
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(edges.get(node, ()))
    return seen
