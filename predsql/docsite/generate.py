"""`predsql docs generate`: manifest.json, catalog.json and the static site in target/."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from predsql import database
from predsql.artifacts import write_compiled_sql, write_manifest
from predsql.console import Console
from predsql.docsite.catalog import DatabaseContents, build_catalog, read_database, write_catalog
from predsql.docsite.run_stats import read_run_results
from predsql.docsite.site_data import SiteInputs, site_document
from predsql.docsite.site_files import site_size, write_site
from predsql.executors.config import executor_config
from predsql.project import Target
from predsql.tasks import Options, Session, open_session


@dataclass(frozen=True)
class GeneratedDocs:
    catalog: Path
    index: Path
    relations: int  # catalog entries (nodes and sources)
    nodes: int  # nodes on the site
    bytes: int  # index.html and its assets


def read_contents(target: Target, lock_timeout: float, console: Console) -> DatabaseContents | None:
    """The database's relations, or None (with a warning) when there is none yet."""
    if target.path == ":memory:":
        console.warn("The profile uses an in-memory database: catalog.json has no tables "
                     "(column types and row counts need a database file).")
        return None
    if not Path(target.path).exists():
        console.warn(f"No database at {target.path} yet: catalog.json has no tables. Run "
                     "`predsql build` first for column types and row counts.")
        return None
    con = database.connect(target, read_only=True, lock_timeout=lock_timeout)
    try:
        return read_database(con)
    finally:
        con.close()


def generate(session: Session, *, empty_catalog: bool = False,
             lock_timeout: float = 0.0) -> GeneratedDocs:
    started_at = datetime.now(timezone.utc)
    project = session.project
    write_compiled_sql(session.compiled)
    write_manifest(session.compiled, {"functions": session.registry.manifest_entries()})
    contents = None if empty_catalog else read_contents(project.target, lock_timeout,
                                                         session.console)
    catalog = build_catalog(session.compiled, contents, started_at)
    catalog_path = write_catalog(project.target_dir, catalog)
    executors = executor_config(project.target.executor, project.target.profile_file,
                                session.options.executor)
    document = site_document(SiteInputs(session.compiled, session.registry, contents,
                                        read_run_results(project.target_dir), executors))
    index = write_site(project.target_dir, document)
    return GeneratedDocs(catalog_path, index, len(catalog["nodes"]) + len(catalog["sources"]),
                         len(document["nodes"]), site_size(project.target_dir))


def generate_command(options: Options, console: Console, empty_catalog: bool = False,
                     lock_timeout: float = 0.0) -> int:
    started = time.perf_counter()
    result = generate(open_session(options, console), empty_catalog=empty_catalog,
                      lock_timeout=lock_timeout)
    seconds = time.perf_counter() - started
    console.info(f"Catalog written to {result.catalog} ({result.relations} relations).")
    console.info(f"Docs site written to {result.index} ({result.nodes} nodes, "
                 f"{result.bytes / 1e6:.1f} MB) in {seconds:.1f}s. Open it in a "
                 "browser, or run `predsql docs serve`.")
    return 0
