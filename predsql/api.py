"""The Python API: run any predsql command from Python and get a result object.

    from predsql import invoke

    result = invoke(["run", "-s", "churn_scores"], project_dir="analytics/")
    if not result.success:
        raise RuntimeError(result.summary())
    result.node("churn_scores").ml_functions["churn_probability"]["rows_inferred"]

Made for schedulers (Airflow, Dagster) and notebooks: it never calls
sys.exit, installs signal handlers only when called from the main thread (and
puts the previous ones back), and closes every connection and thread pool it
opened, whatever happened. Output goes to the terminal as on the command line
(`-q` quiets it); `callbacks` receive every event as a dict (docs/events.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from predsql.errors import PredsqlError, UsageError
from predsql.invocation import Invocation


@dataclass(frozen=True)
class NodeOutcome:
    """One node of a run: its status, timing, rows and, for ML models, per function
    rows_inferred, rows_from_cache, rows_null, nan_outputs, rows_per_second, provider."""

    unique_id: str
    name: str
    resource_type: str
    status: str  # success | error | skipped | pass | fail | warn (| runtime error: sources)
    message: str
    execution_time: float
    rows_affected: int | None
    failures: int | None
    ml_functions: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class InvocationResult:
    """What `invoke` returns (as dbt's dbtRunnerResult: success, result, exception)."""

    args: tuple[str, ...]
    exit_code: int  # 0 success, 1 a node failed, 2 the project/command line/interrupt
    nodes: tuple[NodeOutcome, ...] = ()  # run, seed, test, build, retry
    result: Any = None  # what the command returned (tasks.CommandResult for runs)
    exception: BaseException | None = None  # the error that ended the command early
    interrupted: str = ""  # the signal's name when one stopped it

    @property
    def success(self) -> bool:
        return self.exit_code == 0

    def node(self, name: str) -> NodeOutcome:
        """The outcome of the node named `name` (or with that unique id)."""
        for outcome in self.nodes:
            if name in (outcome.name, outcome.unique_id):
                return outcome
        raise KeyError(f"no node named {name!r} in this result")

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for outcome in self.nodes:
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
        parts = [f"{status}={n}" for status, n in sorted(counts.items())]
        head = f"predsql {' '.join(self.args)}: exit {self.exit_code}"
        tail = f"; {self.exception}" if self.exception is not None else ""
        return f"{head} ({', '.join(parts) or 'no nodes'}){tail}"


def invoke(args: Sequence[str], *, project_dir: str | Path | None = None,
           profiles_dir: str | Path | None = None,
           callbacks: Iterable[Callable[[dict[str, Any]], None]] = ()) -> InvocationResult:
    """Run `predsql ARGS` in this process; never exits, never raises for what the
    command line would report (the error is in `result.exception`)."""
    import click

    from predsql.cli import main

    argv = [str(a) for a in args]
    if project_dir is not None and "--project-dir" not in argv:
        argv += ["--project-dir", str(project_dir)]
    if profiles_dir is not None and "--profiles-dir" not in argv:
        argv += ["--profiles-dir", str(profiles_dir)]
    invocation = Invocation(api=True, callbacks=list(callbacks))
    try:
        main.main(args=argv, prog_name="predsql", standalone_mode=False, obj=invocation)
    except click.exceptions.Exit as exc:  # --help, --version
        return InvocationResult(tuple(argv), int(exc.exit_code or 0))
    except click.ClickException as exc:  # a command line click cannot parse
        return InvocationResult(tuple(argv), 2, exception=UsageError(exc.format_message()))
    code = invocation.exit_code if invocation.exit_code is not None else 0
    outcome = invocation.result
    return InvocationResult(
        tuple(argv), code, _nodes(outcome), outcome,
        invocation.error if isinstance(invocation.error, BaseException) else None,
        getattr(outcome, "interrupted", "") or invocation.interrupt.signal_name)


def _nodes(outcome: Any) -> tuple[NodeOutcome, ...]:
    checked = getattr(outcome, "sources", None) or []  # source freshness
    if checked:
        return tuple(NodeOutcome(s.source.unique_id, s.name, "source", s.status, s.message,
                                 s.completed - s.started, None, None) for s in checked)
    results = getattr(outcome, "results", None) or []
    return tuple(
        NodeOutcome(r.unique_id, r.name, r.resource_type, r.status, r.message,
                    r.execution_time, r.rows_affected, r.failures,
                    dict((r.extra or {}).get("ml_functions") or {}))
        for r in results)


__all__ = ["InvocationResult", "NodeOutcome", "PredsqlError", "invoke"]
