"""dbt node selection: `name`, `+name+`, `@name`, `tag:x`, `path:p`, `source:s.t`,
`config.k:v`, `test_name:`, `test_type:`, unions (space), intersections (comma),
`--exclude`, and dbt's indirect selection of tests (eager by default).

Sources take part as nodes (for `source:` selectors, `ls`, and `source:x+`); unit
tests hang below the model they test, as in dbt's graph.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from predsql.compiler import CompiledNode, CompiledProject
from predsql.errors import SelectionError
from predsql.nodes import Node, Source

ATOM_RE = re.compile(
    r"^(?P<up>(?P<up_depth>\d*)\+)?(?P<at>@)?(?P<body>[^+@]+?)(?P<down>\+(?P<down_depth>\d*))?$"
)
INDIRECT_MODES = ("eager", "cautious", "buildable", "empty")
Matcher = Callable[[CompiledNode], bool]
Methods = dict[str, Callable[[CompiledNode, str], bool]]


@dataclass(frozen=True)
class Universe:
    """Every selectable node (sources included) and dbt's selection graph."""

    nodes: dict[str, CompiledNode]
    parents: dict[str, tuple[str, ...]]
    children: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def walk(self, start: str, edges: dict[str, tuple[str, ...]], depth: int | None) -> set[str]:
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

    def is_test(self, uid: str) -> bool:
        return self.nodes[uid].resource_type in ("test", "unit_test") or uid.startswith(
            "unit_test.")


def source_node(compiled: CompiledProject, source: Source) -> CompiledNode:
    """A source as a node selectors can match (it is never run)."""
    project = compiled.project
    node = Node(unique_id=source.unique_id, resource_type="source", name=source.name,
                path=project.root / source.path, rel_path=source.path,
                fqn=(project.name, source.source_name, source.name), raw_sql="",
                config=dict(getattr(source, "config", {}) or {}))
    return CompiledNode(node, node.config, source.schema, source.identifier)


def universe(compiled: CompiledProject) -> Universe:
    nodes = dict(compiled.nodes)
    parents: dict[str, tuple[str, ...]] = {}
    for source in compiled.sources.values():
        nodes[source.unique_id] = source_node(compiled, source)
        parents[source.unique_id] = ()
    for uid, node in compiled.nodes.items():
        if node.extra.get("test_type") == "unit":
            parents[uid] = tuple(node.extra.get("attached_to", ()))
        else:
            parents[uid] = tuple(dict.fromkeys(
                [*node.depends_on, *node.extra.get("source_ids", ())]))
    children: dict[str, list[str]] = {uid: [] for uid in nodes}
    for uid, deps in parents.items():
        for dep in deps:
            children.setdefault(dep, []).append(uid)
    return Universe(nodes, parents, {k: tuple(v) for k, v in children.items()})


@dataclass
class Picked:
    """Nodes chosen by a spec, and tests waiting on more of their parents."""

    direct: set[str]
    indirect: set[str]


def select(
    compiled: CompiledProject,
    selects: Iterable[str] | None,
    excludes: Iterable[str] | None = None,
    extra: Methods | None = None,
    *,
    indirect: str = "eager",
    warn: Callable[[str], None] | None = None,
) -> set[str]:
    """The unique ids selected by `--select`/`--exclude` (sources included); everything
    when nothing is selected. `warn` hears of each term that matches nothing."""
    if indirect not in INDIRECT_MODES:
        raise SelectionError(f"unknown --indirect-selection {indirect!r}",
                             hint=f"use one of: {', '.join(INDIRECT_MODES)}")
    space = universe(compiled)
    select_terms = _terms(selects)
    if select_terms:
        chosen = _union(space, select_terms, extra, indirect, warn).direct
    else:
        chosen = set(space.nodes)
    exclude_terms = _terms(excludes)
    if exclude_terms:
        chosen -= _union(space, exclude_terms, extra, "eager", warn).direct
    return chosen


def _terms(values: Iterable[str] | None) -> list[str]:
    terms: list[str] = []
    for value in values or ():
        terms += value.split()
    return terms


def _union(space: Universe, terms: list[str], extra: Methods | None, mode: str,
           warn: Callable[[str], None] | None) -> Picked:
    direct: set[str] = set()
    either: set[str] = set()
    for term in terms:
        picked = _intersection(space, term, extra, mode)
        if not picked.direct and warn is not None:
            warn(f"The selection criterion '{term}' does not match any enabled nodes")
        direct |= picked.direct
        either |= picked.direct | picked.indirect
    return Picked(_incorporate(space, direct, either, mode), set())


def _intersection(space: Universe, term: str, extra: Methods | None, mode: str) -> Picked:
    parts = [p for p in term.split(",") if p]
    if not parts:
        raise SelectionError(f"empty selector {term!r}")
    picks = [_criterion(space, part, extra, mode) for part in parts]
    direct = set.intersection(*(p.direct for p in picks))
    either = set.intersection(*(p.direct | p.indirect for p in picks))
    if len(picks) == 1:
        return picks[0]
    return Picked(_incorporate(space, direct, either, mode), either - direct)


def _incorporate(space: Universe, direct: set[str], either: set[str], mode: str) -> set[str]:
    """Tests selected only indirectly join when all their parents made it (cautious),
    or when the parents are selected or upstream of what is (buildable)."""
    if mode not in ("cautious", "buildable") or direct == either:
        return direct
    selected = set(direct)
    allowed = set(direct)
    if mode == "buildable":
        for uid in direct:
            allowed |= space.walk(uid, space.parents, None)
    for uid in either - direct:
        if set(space.parents.get(uid, ())) <= allowed:
            selected.add(uid)
    return selected


def _criterion(space: Universe, atom: str, extra: Methods | None, mode: str) -> Picked:
    match = ATOM_RE.match(atom)
    if not match:
        raise SelectionError(
            f"cannot parse selector {atom!r}",
            hint="use forms like `name`, `+name`, `name+`, `tag:nightly`, `path:models/staging`",
        )
    matcher = _matcher(match.group("body"), extra)
    base = {uid for uid, node in space.nodes.items() if matcher(node)}
    result = set(base)
    if match.group("up"):
        for uid in base:
            result |= space.walk(uid, space.parents, _depth(match.group("up_depth")))
    if match.group("down"):
        for uid in base:
            result |= space.walk(uid, space.children, _depth(match.group("down_depth")))
    if match.group("at"):
        for uid in base:
            for child in space.walk(uid, space.children, None) | {uid}:
                result |= space.walk(child, space.parents, None) | {child}
    return _expand(space, result, mode)


def _expand(space: Universe, selected: set[str], mode: str) -> Picked:
    """dbt's indirect selection: the tests just below the selected nodes."""
    direct = set(selected)
    indirect: set[str] = set()
    if mode == "empty":
        return Picked(direct, indirect)
    allowed = set(selected)
    if mode == "buildable":
        for uid in selected:
            allowed |= space.walk(uid, space.parents, None)
        allowed |= {uid for uid, n in space.nodes.items() if n.resource_type == "source"}
    for uid in {c for s in selected for c in space.children.get(s, ())}:
        if uid in direct or not space.is_test(uid):
            continue
        parents = set(space.parents.get(uid, ()))
        if mode == "eager" or parents <= selected or (mode == "buildable" and parents <= allowed):
            direct.add(uid)
        else:
            indirect.add(uid)
    return Picked(direct, indirect)


def _depth(text: str | None) -> int | None:
    return int(text) if text else None


def _matcher(body: str, extra: Methods | None) -> Matcher:
    method, _, value = body.partition(":") if ":" in body else (_default_method(body), "", body)
    simple: dict[str, Matcher] = {
        "name": lambda n: _name_matches(n, value),
        "fqn": lambda n: _fqn_matches(n, value),
        "tag": lambda n: any(fnmatch.fnmatchcase(t, value) for t in n.tags),
        "resource_type": lambda n: _resource_type(n) == value,
        "source": lambda n: n.resource_type == "source" and _source_matches(n, value),
        "package": lambda n: fnmatch.fnmatchcase(n.node.fqn[0] if n.node.fqn else "", value),
        "file": lambda n: fnmatch.fnmatchcase(PurePosixPath(n.node.rel_path).name, value)
        or fnmatch.fnmatchcase(PurePosixPath(n.node.rel_path).stem, value),
        "test_name": lambda n: _test_name_matches(n, value),
        "test_type": lambda n: _test_type_matches(n, value),
    }
    if method in simple:
        return simple[method]
    if method == "path":
        target = PurePosixPath(value.rstrip("/"))
        return lambda n: _path_matches(n.node.rel_path, target)
    if method.startswith("config."):
        key = method[len("config."):]
        return lambda n: _config_matches(n, key, value)
    if extra and method in extra:
        check = extra[method]
        return lambda n: check(n, value)
    known = ", ".join([*simple, "path", "config.KEY", *(extra or {})])
    raise SelectionError(f"unknown selector method {method!r}", hint=f"known methods: {known}")


def _default_method(value: str) -> str:
    """dbt reads a bare selector as a path when it looks like one."""
    if "/" in value or "\\" in value or value in (".", ".."):
        return "path"
    if value.lower().endswith((".sql", ".py", ".csv")):
        return "file"
    return "fqn"


def _resource_type(node: CompiledNode) -> str:
    return "unit_test" if node.extra.get("test_type") == "unit" else node.resource_type


def _name_matches(node: CompiledNode, value: str) -> bool:
    """`name:` (predsql's own): the node name, with wildcards."""
    return node.resource_type != "source" and fnmatch.fnmatchcase(node.name, value)


def _fqn_matches(node: CompiledNode, value: str) -> bool:
    """dbt's default method for a bare selector: the fqn's leaf, or a dotted prefix of the
    fqn (with or without the package), a wildcard part matching the rest of it. So
    `staging` selects a folder and `stg_*` matches nothing in a folder, as in dbt."""
    if node.resource_type == "source":
        return False
    fqn = list(node.node.fqn)
    return _fqn_selected(fqn, value) or _fqn_selected(fqn[1:], value)


def _fqn_selected(fqn: list[str], selector: str) -> bool:
    if fqn and fqn[-1] == selector:
        return True
    flat = [part for segment in fqn for part in segment.split(".")]
    parts = selector.split(".")
    if len(flat) < len(parts):
        return False
    for i, part in enumerate(parts):
        if any(c in part for c in "*?[]"):
            return fnmatch.fnmatchcase(".".join(flat[i:]), ".".join(parts[i:]))
        if flat[i] != part:
            return False
    return True


def _source_matches(node: CompiledNode, value: str) -> bool:
    """`source:raw`, `source:raw.orders`, `source:pkg.raw.orders`, with wildcards."""
    parts = value.split(".")
    fqn = list(node.node.fqn)
    if len(parts) == 3:
        return all(fnmatch.fnmatchcase(f, p) for f, p in zip(fqn, parts))
    return all(fnmatch.fnmatchcase(f, p) for f, p in zip(fqn[1:], parts))


def _test_name_matches(node: CompiledNode, value: str) -> bool:
    if node.resource_type != "test":
        return False
    if node.extra.get("test_type") == "unit":
        return fnmatch.fnmatchcase(node.name, value)
    kind = node.extra.get("test_name")
    return kind not in (None, "singular") and fnmatch.fnmatchcase(str(kind), value)


def _test_type_matches(node: CompiledNode, value: str) -> bool:
    if node.resource_type != "test":
        return False
    unit = node.extra.get("test_type") == "unit"
    singular = node.extra.get("test_name") == "singular"
    kinds = {"unit": unit, "singular": singular and not unit,
             "generic": not unit and not singular, "schema": not unit and not singular,
             "data": not unit}
    if value not in kinds:
        raise SelectionError(f"invalid test type selector {value!r}",
                             hint='expected "generic", "singular", "unit", or "data"')
    return kinds[value]


def _path_matches(rel_path: str, target: PurePosixPath) -> bool:
    path = PurePosixPath(rel_path)
    return path == target or target in path.parents or fnmatch.fnmatchcase(rel_path, str(target))


def _config_matches(node: CompiledNode, key: str, value: str) -> bool:
    if key == "materialized" and node.resource_type != "source":
        actual = node.materialized
    else:
        actual = node.config.get(key)
    if isinstance(actual, list):
        return value in [str(v) for v in actual]
    if isinstance(actual, bool):
        return str(actual).lower() == value.lower()
    return actual is not None and str(actual) == value
