"""`predsql source freshness`: check the selected sources, print a line each, write
target/sources.json; exit 1 when a source is past error_after or cannot be queried."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from predsql import database, events
from predsql.artifacts import metadata, write_json
from predsql.dbt.loading import package_views
from predsql.errors import ProjectError
from predsql.freshness.artifact import sources_json
from predsql.freshness.check import Freshness, check, criteria_of
from predsql.freshness.selection import select_sources
from predsql.nodes import Source, read_properties
from predsql.project import Project

if TYPE_CHECKING:
    from predsql.console import Console
    from predsql.tasks import Options


@dataclass(frozen=True)
class FreshnessResult:
    """What the command did (the Python API's `result.result`)."""

    exit_code: int
    sources: list[Freshness] = field(default_factory=list)
    path: Path | None = None  # the sources.json written
    elapsed: float = 0.0

    def status(self, name: str) -> str:
        """The status of source `name` ("raw.events" or its unique id)."""
        for result in self.sources:
            if name in (result.name, result.source.unique_id):
                return result.status
        raise KeyError(f"no source {name!r} was checked")


def project_sources(project: Project) -> list[Source]:
    """The sources of the project and of its packages."""
    sources = dict(read_properties(project).sources)
    for view in package_views(project):
        sources.update(read_properties(view).sources)
    return list(sources.values())


def freshness_command(options: Options, console: Console, output: Path | None = None
                      ) -> FreshnessResult:
    from predsql.tasks import load

    started = time.time()
    project = load(options)
    chosen = [(s, c) for s in select_sources(project_sources(project), options.select,
                                             options.exclude)
              if (c := criteria_of(s)) is not None]
    if not chosen:
        console.warn("Nothing to do: no selected source has a freshness (warn_after or "
                     "error_after).")
        return FreshnessResult(0)
    target = project.target
    if target.path != ":memory:" and not Path(target.path).exists():
        raise ProjectError(f"the database {target.path} does not exist yet, so no source "
                           "can be checked", path=target.path,
                           hint="load the sources first (or check the profile's path)")
    con = database.connect(target, read_only=target.path != ":memory:",
                           lock_timeout=options.lock_timeout)
    results = []
    try:
        for index, (source, criteria) in enumerate(chosen, start=1):
            console.emit(events.freshness_started(index, len(chosen), source))
            result = check(con, source, criteria)
            results.append(result)
            console.emit(events.freshness_finished(index, len(chosen), result))
            if result.status == "runtime error":
                console.emit(events.freshness_error(result))
    finally:
        con.close()
    elapsed = time.time() - started
    path = output or project.target_dir / "sources.json"
    write_json(path, sources_json(results, elapsed, metadata("sources/v3.json")))
    counts: dict[str, int] = {}
    for result in results:
        counts[result.status] = counts.get(result.status, 0) + 1
    console.emit(events.freshness_summary(counts, elapsed))
    failed = counts.get("error", 0) + counts.get("runtime error", 0)
    return FreshnessResult(1 if failed else 0, results, path, elapsed)
