"""`predsql run-operation MACRO --args '{...}'`: call a macro against the database.

The macro runs in the project's macro runtime (predsql/dbt/: packages,
dispatch, `run_query`, `statement`, `adapter`, `log`) with `execute` true and
refs resolving to the built relations, on a connection that holds the
database (as a run does). What it changes is committed statement by
statement, as dbt-duckdb does: a macro that fails midway keeps what its
earlier statements did. run_results.json records the call (`macro.PKG.NAME`,
success or error), as dbt's does, so `predsql retry` can repeat a failed one.
Exit codes as dbt's: 0 done, 1 the macro failed, 2 no such macro or bad --args.
"""

from __future__ import annotations

import contextlib
import difflib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import duckdb

from predsql import database, events
from predsql.adhoc import adhoc_renderer
from predsql.artifacts import write_run_results
from predsql.compiler import CompiledProject
from predsql.errors import ExecutionError, PredsqlError, UsageError
from predsql.interrupts import Interrupt
from predsql.runner import NodeResult

if TYPE_CHECKING:
    from predsql.console import Console
    from predsql.tasks import Options


@dataclass(frozen=True)
class FoundMacro:
    function: Any
    package: str  # the package that defines it (the root project's name for its own)
    name: str

    @property
    def unique_id(self) -> str:
        return f"macro.{self.package}.{self.name}"


@dataclass(frozen=True)
class OperationResult:
    """What the command did (the Python API's `result.result`)."""

    exit_code: int
    macro: str  # the macro's unique id
    value: Any = None  # what the macro returned (`{{ return(...) }}`)
    error: PredsqlError | None = None
    elapsed: float = 0.0


def find_macro(compiled: CompiledProject, name: str) -> FoundMacro:
    """`name` or `package.name`; an unqualified name is looked up in the root project,
    then in the installed packages, then among dbt's own macros (as dbt does)."""
    renderer = compiled.renderer
    root = renderer.macros.root
    package, _, short = name.rpartition(".")
    if package and package not in renderer.macros.by_package:
        raise UsageError(f"run-operation: no package named {package!r}",
                         hint="installed: " + ", ".join(sorted(renderer.macros.by_package)))
    for scope in [package] if package else [root, *sorted(renderer.macros.packages)]:
        # the macro as its own package sees it (its unqualified calls resolve there)
        space = renderer.namespace(scope)
        function = _defined(space.packages[scope], short)
        if function is not None:
            return FoundMacro(function, scope, short)
    internal = None if package else renderer.namespace(root).lookup(short)
    if internal is not None:
        return FoundMacro(internal, "dbt", short)
    known = sorted({m for defs in renderer.macros.by_package.values() for m in defs})
    close = difflib.get_close_matches(short, known, n=1)
    raise UsageError(f"run-operation: no macro named {name!r} in the project or its packages",
                     hint=f"did you mean {close[0]!r}?" if close else
                     "define it under macros/ (or install the package that has it: predsql deps)")


def _defined(package: Any, name: str) -> Any:
    try:
        return package[name]
    except KeyError:
        return None


def call_macro(compiled: CompiledProject, cursor: duckdb.DuckDBPyConnection, found: FoundMacro,
               args: dict[str, Any]) -> Any:
    """Call the macro with `args` as keyword arguments, in its package's namespace, its
    statements on `cursor`; its return value."""
    with adhoc_renderer(compiled, cursor) as (renderer, _):
        try:
            return renderer.call_macro(found.function, package=found.package,
                                       path=f"macro {found.name}", **args)
        except PredsqlError as exc:
            message = exc.message.replace("database error while compiling: ", "database error: ")
            raise ExecutionError(f"run-operation {found.name} failed: {message}",
                                 path=exc.path, line=exc.line, hint=exc.hint) from exc


def off_main_thread(work: Callable[[], Any], waiting: Callable[[], None]) -> Any:
    """Run `work` in a thread while this one waits in short steps, calling `waiting`
    each time: a signal's handler runs here, and `waiting` can stop the work."""
    with ThreadPoolExecutor(1, thread_name_prefix="operation") as pool:
        future = pool.submit(work)
        while wait([future], timeout=0.1).not_done:
            waiting()
        return future.result()


def _interrupt_if_signalled(interrupt: Interrupt, cursor: duckdb.DuckDBPyConnection) -> None:
    """Interrupt again and again once signalled: a statement that began just after the
    signal is stopped too."""
    if interrupt.is_set():
        with contextlib.suppress(duckdb.Error):
            cursor.interrupt()


def operation_command(options: Options, console: Console, macro: str, args: dict[str, Any],
                      interrupt: Interrupt) -> OperationResult:
    from predsql.tasks import load, open_session, run_args

    started = time.time()
    project = load(options)
    con = database.connect(project.target, lock_timeout=options.lock_timeout)
    try:
        options.which = "run-operation"
        session = open_session(options, console, project,
                               database.RelationCatalog(con).tables(), con)
        found = find_macro(session.compiled, macro)
        interrupt.check()
        cursor = con.cursor()
        try:
            with interrupt.graceful("running an operation"):
                value = off_main_thread(
                    lambda: call_macro(session.compiled, cursor, found, args),
                    lambda: _interrupt_if_signalled(interrupt, cursor))
            error = None
        except ExecutionError as exc:
            value, error = None, exc
        finally:
            cursor.close()
    finally:
        con.close()
    elapsed = time.time() - started
    signal_name = interrupt.signal_name if interrupt.is_set() else ""
    if signal_name and error is not None:
        error = ExecutionError(f"run-operation {found.name} was interrupted by {signal_name}",
                               hint="statements the macro ran before the signal were "
                                    "committed (each statement commits on its own)")
    status = "error" if error is not None else "success"
    result = NodeResult(found.unique_id, found.name, "macro", status,
                        message=error.message if error else "", execution_time=elapsed,
                        failures=1 if error else 0, started_at=started, completed_at=time.time())
    write_run_results(project.target_dir, [result], elapsed,
                      {**run_args(options, "run-operation"), "macro": macro, "args": args,
                       "interrupted": signal_name or None})
    if error is not None:
        console.emit(events.error(error.message, file=error.path, line=error.line,
                                  hint=error.hint, text=error.format(), kind="OperationError"))
        code = 2 if signal_name else 1
    else:
        console.emit(events.Event(
            "operation_finished", "info", f"Ran operation {macro} in {elapsed:.2f}s",
            {"macro": found.unique_id, "status": status, "elapsed": round(elapsed, 4)},
            summary=True))
        code = 0
    return OperationResult(code, found.unique_id, value, error, elapsed)
