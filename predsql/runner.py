"""Running selected nodes in dependency order on a pool of DuckDB cursors."""

from __future__ import annotations

import heapq
import time
import traceback
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import duckdb

from predsql.compiler import CompiledNode
from predsql.errors import ExecutionError, PredsqlError, UpstreamCompileError
from predsql.interrupts import Interrupt

OK_STATUSES = frozenset({"success", "pass", "warn"})


@dataclass(frozen=True)
class NodeResult:
    unique_id: str
    name: str
    resource_type: str
    status: str  # success | error | skipped | pass | fail | warn
    message: str = ""
    execution_time: float = 0.0
    rows_affected: int | None = None
    failures: int | None = None
    started_at: float = 0.0
    completed_at: float = 0.0
    materialized: str = ""
    relation: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status in OK_STATUSES


Work = Callable[[duckdb.DuckDBPyConnection, CompiledNode], NodeResult]


def error_result(node: CompiledNode, exc: BaseException, started: float, debug: bool) -> NodeResult:
    detail = {"file": node.node.rel_path, "line": None, "message": str(exc), "hint": None}
    if isinstance(exc, PredsqlError):
        message = exc.format()
        detail.update(file=exc.path or node.node.rel_path, line=exc.line, message=exc.message,
                      hint=exc.hint)
    elif isinstance(exc, duckdb.Error):
        message = f"{node.node.rel_path}: database error: {exc}"
    else:
        message = f"{node.node.rel_path}: internal error: {type(exc).__name__}: {exc}"
        detail["message"] = f"internal error: {type(exc).__name__}: {exc}"
    if debug:
        message += "\n" + "".join(traceback.format_exception(exc))
    now = time.time()
    status = "skipped" if isinstance(exc, UpstreamCompileError) else "error"
    return NodeResult(
        node.unique_id, node.name, node.resource_type, status, message,
        execution_time=now - started, started_at=started, completed_at=now,
        materialized=node.materialized, relation=node.relation, extra={"error": detail},
    )


def skipped_result(node: CompiledNode, reason: str) -> NodeResult:
    return NodeResult(
        node.unique_id, node.name, node.resource_type, "skipped", reason,
        materialized=node.materialized, relation=node.relation,
    )


def run_nodes(
    con: duckdb.DuckDBPyConnection,
    nodes: Mapping[str, CompiledNode],
    order: list[str],
    parents: Mapping[str, set[str]],
    work: Work,
    *,
    threads: int = 1,
    fail_fast: bool = False,
    debug: bool = False,
    on_start: Callable[[CompiledNode], None] | None = None,
    on_result: Callable[[NodeResult], None] | None = None,
    interrupt: Interrupt | None = None,
) -> list[NodeResult]:
    """Run `order` respecting `parents` (restricted to the run); a failed node
    skips its descendants, independent nodes go on unless `fail_fast`."""
    position = {uid: i for i, uid in enumerate(order)}
    waiting_on = {uid: set(parents.get(uid, ())) & position.keys() for uid in order}
    children: dict[str, list[str]] = {uid: [] for uid in order}
    for uid, deps in waiting_on.items():
        for dep in deps:
            children[dep].append(uid)
    ready = [position[uid] for uid in order if not waiting_on[uid]]
    heapq.heapify(ready)
    results: dict[str, NodeResult] = {}
    running: dict[Future[NodeResult], str] = {}
    stop = False

    def record(result: NodeResult) -> None:
        nonlocal stop
        results[result.unique_id] = result
        if not result.ok and result.status != "skipped" and fail_fast:
            stop = True
        if on_result:
            on_result(result)
        for child in children[result.unique_id]:
            waiting_on[child].discard(result.unique_id)
            if not waiting_on[child]:
                heapq.heappush(ready, position[child])

    def task(node: CompiledNode) -> NodeResult:
        started = time.time()
        cursor = con.cursor()
        if interrupt is not None:
            interrupt.watch(cursor)
        try:
            return work(cursor, node)
        except Exception as exc:  # reported per node; the run goes on
            error: BaseException = exc
            if interrupt is not None and interrupt.is_set():
                error = ExecutionError(f"interrupted by {interrupt.signal_name}; rolled back",
                                       path=node.node.rel_path)
            return error_result(node, error, started, debug)
        finally:
            if interrupt is not None:
                interrupt.forget(cursor)
            cursor.close()

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        while ready or running:
            while ready and len(running) < max(1, threads):
                uid = order[heapq.heappop(ready)]
                node = nodes[uid]
                failed = [d for d in parents.get(uid, ()) if d in results and not results[d].ok]
                if interrupt is not None and interrupt.is_set():
                    record(skipped_result(node, f"skipped: interrupted by {interrupt.signal_name}"))
                elif stop:
                    record(skipped_result(node, "skipped: --fail-fast after an earlier failure"))
                elif failed:
                    upstream = nodes[failed[0]].name
                    record(skipped_result(node, f"skipped because {upstream} did not succeed"))
                else:
                    if on_start:
                        on_start(node)
                    running[pool.submit(task, node)] = uid
            if running:
                done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for future in done:
                    running.pop(future)
                    record(future.result())
    for uid in order:
        if uid not in results:  # never became ready: a scheduling bug, never a success
            waiting = ", ".join(sorted(nodes[d].name for d in waiting_on[uid])) or "nothing"
            results[uid] = unrun_result(nodes[uid], waiting)
    return [results[uid] for uid in order]


def unrun_result(node: CompiledNode, waiting: str) -> NodeResult:
    message = (f"{node.node.rel_path}: internal error: {node.name} never ran (still waiting "
               f"on {waiting}); please report this")
    return NodeResult(node.unique_id, node.name, node.resource_type, "error", message,
                      materialized=node.materialized, relation=node.relation,
                      extra={"internal_error": True})
