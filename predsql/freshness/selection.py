"""Which sources `predsql source freshness` checks (`-s source:NAME.TABLE`), and the
`source_status:fresher` selector of run/build/test/ls."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from predsql.errors import SelectionError
from predsql.freshness.artifact import fresher_sources
from predsql.nodes import Source


def select_sources(sources: Iterable[Source], selects: Iterable[str],
                   excludes: Iterable[str]) -> list[Source]:
    """`-s source:crm`, `-s source:crm.customers`, `-s crm.customers` (wildcards allowed;
    `+` is accepted and ignored: a source has no parents); every source when nothing is
    selected."""
    every = sorted(sources, key=lambda s: s.unique_id)
    wanted = _terms(selects)
    chosen = [s for s in every if any(_matches(s, t) for t in wanted)] if wanted else every
    unwanted = _terms(excludes)
    return [s for s in chosen if not any(_matches(s, t) for t in unwanted)]


def _terms(values: Iterable[str]) -> list[str]:
    return [term for value in values for term in value.split()]


def _matches(source: Source, term: str) -> bool:
    return all(_matches_one(source, part) for part in term.split(",") if part)


def _matches_one(source: Source, part: str) -> bool:
    method, _, value = part.partition(":") if ":" in part else ("source", "", part)
    if method != "source":
        raise SelectionError(f"source freshness selects sources, not {part!r}",
                             hint="use -s source:NAME or -s source:NAME.TABLE")
    names = value.strip("+").split(".")
    if len(names) == 3:  # package.source.table
        names = names[1:]
    if not fnmatch.fnmatchcase(source.source_name, names[0]):
        return False
    return len(names) == 1 or fnmatch.fnmatchcase(source.name, names[1])


def source_status_selector(state: Path | None, target_dir: Path) -> Callable[[Any, str], bool]:
    """`source_status:fresher`: the sources whose max_loaded_at grew between the --state
    folder's sources.json and target/sources.json (`fresher+`: and everything downstream
    of them), as dbt selects them."""
    fresher: set[str] | None = None

    def matches(node: Any, value: str) -> bool:
        nonlocal fresher
        if value != "fresher":
            raise SelectionError(f"unknown source status {value!r}",
                                 hint="use source_status:fresher (or source_status:fresher+)")
        if fresher is None:
            fresher = _fresher(state, target_dir)
        return node.resource_type == "source" and node.unique_id in fresher

    return matches


def _fresher(state: Path | None, target_dir: Path) -> set[str]:
    if state is None:
        raise SelectionError("source_status: needs --state DIR (a copy of target/ from an "
                             "earlier `predsql source freshness`)",
                             hint="e.g. cp -r target/ state/ before the next freshness check, "
                                  "then --state state/")
    current, previous = target_dir / "sources.json", state / "sources.json"
    for path, when in ((current, "now"), (previous, "earlier")):
        if not path.exists():
            raise SelectionError(f"source_status: no {path}", path=path,
                                 hint=f"run `predsql source freshness` {when} (--state holds "
                                      "the target/ of the previous check)")
    return fresher_sources(current, previous)
