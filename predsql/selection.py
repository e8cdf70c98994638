"""dbt node selection: `name`, `+name+`, `tag:x`, `path:p`, `config.k:v`, unions, intersections."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable
from pathlib import PurePosixPath

from predsql.compiler import CompiledNode, CompiledProject
from predsql.errors import SelectionError

ATOM_RE = re.compile(
    r"^(?P<up>(?P<up_depth>\d*)\+)?(?P<at>@)?(?P<body>[^+@]+?)(?P<down>\+(?P<down_depth>\d*))?$"
)
Matcher = Callable[[CompiledNode], bool]


def select(
    compiled: CompiledProject,
    selects: Iterable[str] | None,
    excludes: Iterable[str] | None = None,
    extra: dict[str, Callable[[CompiledNode, str], bool]] | None = None,
) -> set[str]:
    """The unique ids selected by `--select`/`--exclude`; everything when no select."""
    select_terms = _terms(selects)
    chosen = (
        set(compiled.nodes)
        if not select_terms
        else set().union(*(_union_member(compiled, t, extra) for t in select_terms))
    )
    for term in _terms(excludes):
        chosen -= _union_member(compiled, term, extra)
    return chosen


def _terms(values: Iterable[str] | None) -> list[str]:
    terms: list[str] = []
    for value in values or ():
        terms += value.split()
    return terms


def _union_member(
    compiled: CompiledProject, term: str, extra: dict[str, Callable[[CompiledNode, str], bool]] | None
) -> set[str]:
    parts = [p for p in term.split(",") if p]
    if not parts:
        raise SelectionError(f"empty selector {term!r}")
    result = _atom(compiled, parts[0], extra)
    for part in parts[1:]:
        result &= _atom(compiled, part, extra)
    return result


def _atom(
    compiled: CompiledProject, atom: str, extra: dict[str, Callable[[CompiledNode, str], bool]] | None
) -> set[str]:
    match = ATOM_RE.match(atom)
    if not match:
        raise SelectionError(
            f"cannot parse selector {atom!r}",
            hint="use forms like `name`, `+name`, `name+`, `tag:nightly`, `path:models/staging`",
        )
    matcher = _matcher(match.group("body"), extra)
    base = {uid for uid, node in compiled.nodes.items() if matcher(node)}
    result = set(base)
    graph = compiled.graph
    if match.group("up"):
        depth = _depth(match.group("up_depth"))
        for uid in base:
            result |= _bounded(uid, graph.parents, depth)
    if match.group("down"):
        depth = _depth(match.group("down_depth"))
        for uid in base:
            result |= _bounded(uid, graph.children, depth)
    if match.group("at"):
        for uid in base:
            for child in graph.descendants(uid) | {uid}:
                result |= graph.ancestors(child) | {child}
    return result


def _depth(text: str | None) -> int | None:
    return int(text) if text else None


def _bounded(start: str, edges: dict, depth: int | None) -> set[str]:
    seen: set[str] = set()
    frontier = [start]
    level = 0
    while frontier and (depth is None or level < depth):
        nxt = []
        for node in frontier:
            for other in edges.get(node, ()):
                if other not in seen:
                    seen.add(other)
                    nxt.append(other)
        frontier = nxt
        level += 1
    return seen


def _matcher(body: str, extra: dict[str, Callable[[CompiledNode, str], bool]] | None) -> Matcher:
    method, _, value = body.partition(":") if ":" in body else ("name", "", body)
    if method == "name":
        return lambda n: _name_matches(n, value)
    if method == "tag":
        return lambda n: any(fnmatch.fnmatchcase(t, value) for t in n.tags)
    if method == "path":
        target = PurePosixPath(value.rstrip("/"))
        return lambda n: _path_matches(n.node.rel_path, target)
    if method == "resource_type":
        return lambda n: n.resource_type == value
    if method == "fqn":
        return lambda n: _fqn_matches(n, value)
    if method.startswith("config."):
        key = method[len("config."):]
        return lambda n: _config_matches(n, key, value)
    if extra and method in extra:
        check = extra[method]
        return lambda n: check(n, value)
    known = "name, tag, path, fqn, resource_type, config.KEY" + (
        ", " + ", ".join(extra) if extra else ""
    )
    raise SelectionError(f"unknown selector method {method!r}", hint=f"known methods: {known}")


def _name_matches(node: CompiledNode, value: str) -> bool:
    if fnmatch.fnmatchcase(node.name, value):
        return True
    return "." in value and _fqn_matches(node, value)


def _fqn_matches(node: CompiledNode, value: str) -> bool:
    parts = value.split(".")
    fqn = list(node.node.fqn)
    if parts and parts[0] != fqn[0]:
        fqn = fqn[1:]
    return fqn[: len(parts)] == parts or fqn[-len(parts):] == parts


def _path_matches(rel_path: str, target: PurePosixPath) -> bool:
    path = PurePosixPath(rel_path)
    return path == target or target in path.parents or fnmatch.fnmatchcase(rel_path, str(target))


def _config_matches(node: CompiledNode, key: str, value: str) -> bool:
    if key == "materialized":
        actual = node.materialized
    else:
        actual = node.config.get(key)
    if isinstance(actual, list):
        return value in [str(v) for v in actual]
    if isinstance(actual, bool):
        return str(actual).lower() == value.lower()
    return actual is not None and str(actual) == value
