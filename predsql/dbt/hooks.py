"""Hooks: `pre-hook` / `post-hook` of models and seeds, `on-run-start` / `on-run-end`.

Hook strings are kept raw when the project loads and rendered when they run, in
the node's context (`this`, `model`, `target`, macros); `on-run-end` also sees
`results` and `schemas`, as in dbt. Each rendered statement runs on the node's
cursor; a hook that renders to nothing runs nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import duckdb

from predsql.errors import ExecutionError

HOOK_KEYS = {"pre-hook": "pre-hook", "pre_hook": "pre-hook",
             "post-hook": "post-hook", "post_hook": "post-hook"}


@dataclass(frozen=True)
class Hook:
    sql: str
    transaction: bool = True


def as_hooks(value: Any) -> list[Hook]:
    """A hook config value (a string, a {sql, transaction} mapping, or a list) as hooks."""
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple)):
        return [h for item in value for h in as_hooks(item)]
    if isinstance(value, dict):
        return [Hook(str(value.get("sql") or ""), bool(value.get("transaction", True)))]
    return [Hook(str(value))]


def node_hooks(config: dict[str, Any], which: str) -> list[Hook]:
    """The `pre-hook` or `post-hook` list of a node's merged config."""
    return as_hooks(config.get(which))


@contextmanager
def on_cursor(renderer: Any, cursor: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Let macros in a hook use `cursor` (run_query, adapter.*) while it renders."""
    with renderer.lock:
        saved = renderer.db.cursor, renderer.db.writes
        renderer.db.cursor, renderer.db.writes = cursor, True
        try:
            yield
        finally:
            renderer.db.cursor, renderer.db.writes = saved


def render_hook(renderer: Any, hook: Hook, path: str, node: Any = None,
                extra: dict[str, Any] | None = None, cursor: Any = None) -> str:
    with on_cursor(renderer, cursor):
        return renderer.render_text(hook.sql, path, node, extra)


def run_node_hooks(compiled: Any, node: Any, cursor: duckdb.DuckDBPyConnection,
                   which: str) -> int:
    """Render and run a node's pre- or post-hooks; returns how many statements ran."""
    renderer = compiled.renderer
    hooks = node_hooks(node.config, which)
    if not hooks or renderer is None:
        return 0
    ran = 0
    for index, hook in enumerate(hooks):
        sql = render_hook(renderer, hook, node.node.rel_path, node.node, cursor=cursor)
        if not _has_sql(sql):
            continue
        try:
            cursor.execute(sql)
        except duckdb.Error as exc:
            raise ExecutionError(f"{which} {index} of {node.name!r} failed: {exc}",
                                 path=node.node.rel_path,
                                 hint=f"the rendered {which} was: {sql.strip()[:300]}") from exc
        ran += 1
    return ran


def _has_sql(sql: str) -> bool:
    from predsql.dbt.adapter import _has_statement

    return _has_statement(sql)


@dataclass(frozen=True)
class ProjectHook:
    """One on-run-start / on-run-end hook of the project or of a package."""

    package: str
    kind: str          # on-run-start | on-run-end
    index: int
    hook: Hook
    path: str

    @property
    def unique_id(self) -> str:
        return f"operation.{self.package}.{self.package}-{self.kind}-{self.index}"

    @property
    def name(self) -> str:
        return f"{self.package}.{self.kind}.{self.index}"


def project_hooks(project: Any, kind: str) -> list[ProjectHook]:
    """Hooks of every package (alphabetically), then the root project's, as dbt orders them."""
    found: list[ProjectHook] = []
    packages = sorted((p for p in project.packages if p.name != project.name),
                      key=lambda p: p.name)
    for package in packages:
        for i, hook in enumerate(as_hooks(package.config.get(kind))):
            found.append(ProjectHook(package.name, kind, i, hook,
                                     str(package.root / "dbt_project.yml")))
    own = project.on_run_start if kind == "on-run-start" else project.on_run_end
    rel = project.config_file.name
    for i, hook in enumerate(as_hooks(list(own))):
        found.append(ProjectHook(project.name, kind, i, hook, rel))
    return found


def run_results_context(results: list[Any], nodes: dict[str, Any]) -> list[dict[str, Any]]:
    """`results` for on-run-end: one entry per node result, with its node."""
    entries = []
    for result in results:
        node = nodes.get(result.unique_id)
        entries.append({
            "status": result.status, "message": result.message,
            "execution_time": result.execution_time, "failures": result.failures,
            "thread_id": "Thread-1",
            "adapter_response": {"rows_affected": result.rows_affected},
            "node": _node_dict(node, result),
        })
    return entries


def _node_dict(node: Any, result: Any) -> dict[str, Any]:
    if node is None:
        return {"unique_id": result.unique_id, "name": result.name,
                "resource_type": result.resource_type}
    return {"unique_id": node.unique_id, "name": node.name,
            "resource_type": node.resource_type, "schema": node.schema,
            "alias": node.alias, "identifier": node.alias, "database": None,
            "package_name": node.node.fqn[0], "config": dict(node.config),
            "tags": node.tags, "relation_name": node.relation,
            "original_file_path": node.node.rel_path}


def run_project_hooks(compiled: Any, con: duckdb.DuckDBPyConnection, kind: str,
                      extra: dict[str, Any] | None = None,
                      ) -> list[tuple[ProjectHook, str | None, float]]:
    """Run one kind of project hooks: (hook, error message or None, seconds) each. A hook
    whose SQL fails is that hook's error and the run goes on; one that cannot be rendered
    (a macro raising, a query it runs failing) stops the command, as in dbt."""
    outcomes: list[tuple[ProjectHook, str | None, float]] = []
    renderer = compiled.renderer
    for hook in project_hooks(compiled.project, kind):
        started = time.time()
        cursor = con.cursor()
        try:
            sql = render_hook(renderer, hook.hook, hook.path, None, extra, cursor)
            if _has_sql(sql):
                cursor.execute(sql)
            outcomes.append((hook, None, time.time() - started))
        except duckdb.Error as exc:
            outcomes.append((hook, f"{hook.name} failed, error:\n {exc}",
                             time.time() - started))
        finally:
            cursor.close()
    return outcomes


def hook_results(compiled: Any, con: duckdb.DuckDBPyConnection, kind: str, console: Any,
                 results: list[Any] | None = None) -> list[Any]:
    """Run the project's `kind` hooks and report each as dbt does (`operation.*` results);
    on-run-end sees `results` and `schemas`."""
    from predsql.runner import NodeResult

    hooks = project_hooks(compiled.project, kind)
    if not hooks or compiled.renderer is None:
        return []
    extra: dict[str, Any] = {}
    if results is not None:
        results = [r for r in results if r.resource_type != "operation"]
        ran = [compiled.nodes[r.unique_id] for r in results if r.unique_id in compiled.nodes]
        schemas = sorted({n.schema for n in ran if n.resource_type != "test"})
        extra = {"results": run_results_context(results, compiled.nodes),
                 "schemas": schemas,
                 "database_schemas": [(compiled.project.target.as_context()["database"], s)
                                      for s in schemas]}
    console.info(f"Running {len(hooks)} {kind} hook{'s' if len(hooks) != 1 else ''}")
    reported = []
    for i, (hook, error, seconds) in enumerate(run_project_hooks(compiled, con, kind, extra)):
        status = "error" if error else "success"
        now = time.time()
        label = "ERROR" if error else "OK"
        console.info(f"{i + 1} of {len(hooks)} {label} hook: {hook.name} [{label} in "
                     f"{seconds:.2f}s]")
        if error:
            console.error(error)
        reported.append(NodeResult(hook.unique_id, hook.name, "operation", status,
                                   error or f"{hook.name} passed", execution_time=seconds,
                                   started_at=now - seconds, completed_at=now))
    return reported
