"""The commands' logic: compile, seed, run, build, ls, show. The CLI only parses flags."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import duckdb
import yaml

from predsql import database, events
from predsql.artifacts import write_compiled_sql, write_manifest, write_run_results
from predsql.compiler import CompiledNode, CompiledProject, compile_for_run, compile_project
from predsql.configs import ignored_keys, unknown_keys
from predsql.console import Console
from predsql.dbt.adapter import Database
from predsql.dbt.hooks import hook_results, run_node_hooks
from predsql.dbt_duckdb.profile import apply_session_settings, session_only
from predsql.errors import CompileError, ExecutionError, PredsqlError, SelectionError
from predsql.executors.base import Executors
from predsql.executors.config import executor_config
from predsql.explain import closest_name, missing_relation
from predsql.freshness.selection import source_status_selector
from predsql.interrupts import Interrupt, Interrupted
from predsql.materializations import BuildResult, RowSource, SqlRows, materialization_for
from predsql.materializations.base import BEFORE_COMMIT
from predsql.ml import cache
from predsql.ml.analysis import attach_ml_calls
from predsql.ml.devices import probe_cuda
from predsql.ml.executor import MlRows, check_ml_types
from predsql.ml.plan_cache import PlanCache
from predsql.ml.registry import Registry, load_registry
from predsql.ml.runtime import cuda_unusable
from predsql.project import Project, find_project_file, load_project
from predsql.runner import NodeResult, run_nodes, skipped_result
from predsql.selection import select
from predsql.state import state_selector
from predsql.testing import TestKit, build_parents, run_test_node, test_selector_methods
from predsql.vectors.spec import has_nearest

RUNNABLE = {"run": ("model",), "seed": ("seed",), "snapshot": ("snapshot",),
            "build": ("model", "seed", "snapshot", "test"),
            "test": ("test",)}


@dataclass
class Options:
    project_dir: Path = Path(".")
    profiles_dir: str | None = None
    target: str | None = None
    vars: dict[str, Any] = field(default_factory=dict)
    threads: int | None = None
    select: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    full_refresh: bool = False
    fail_fast: bool = False
    debug: bool = False
    device: str | None = None
    executor: str | None = None
    no_cache: bool = False
    lock_timeout: float = 0.0
    state: Path | None = None
    which: str = "compile"
    only: tuple[str, ...] | None = None  # `retry`: exactly these unique ids
    dry_run: bool = False
    indirect_selection: str = "eager"
    empty: bool = False


@dataclass
class Session:
    options: Options
    project: Project
    compiled: CompiledProject
    registry: Registry
    console: Console
    plans: PlanCache | None = None  # ML calls and plans kept in target/ (ml/plan_cache.py)


def load(options: Options) -> Project:
    return load_project(
        options.project_dir,
        cli_vars=options.vars,
        profiles_dir=options.profiles_dir,
        target_name=options.target,
        threads=options.threads,
    )


def open_session(options: Options, console: Console, project: Project | None = None,
                 tables: frozenset[tuple[str, str]] | None = None,
                 con: duckdb.DuckDBPyConnection | None = None) -> Session:
    """Load (unless given), compile against the tables that exist, read the registry.
    Macros that look at the database use `con` (else a read-only peek at the file)."""
    project = project or load(options)
    if tables is None:
        tables = database.peek_tables(project.target)
    registry = load_registry(project)
    peek = None if con is not None else database.peek_connection(project.target)
    source = con if con is not None else peek
    db = Database(cursor=source.cursor() if source is not None else None,
                  database=str(project.target.as_context()["database"]), writes=False)
    try:
        compiled = compile_project(
            project, tables, options.full_refresh, db=db,
            log=lambda msg, info: console.info(msg) if info else console.debug(msg),
            flags={"WHICH": options.which, "FULL_REFRESH": options.full_refresh,
                   "EMPTY": options.empty})
    finally:
        if db.cursor is not None:
            db.cursor.close()
        db.cursor, db.writes = None, True
        if peek is not None:
            peek.close()
    plans = PlanCache(project.target_dir, registry)
    compiled = tables_by_default(attach_ml_calls(compiled, registry, plans))
    session = Session(options, project, compiled, registry, console, plans)
    _report_config_keys(session)
    for node in compiled.nodes.values():
        if node.extra.get("compile_error") and not node.extra.get("introspective"):
            console.debug(f"compile error in {node.unique_id}: {node.extra['compile_error']}")
    return session


def tables_by_default(compiled: CompiledProject) -> CompiledProject:
    """A model with ML calls or predsql.nearest() and no configured materialization is
    built as a table: dbt's default, a view, cannot evaluate them lazily."""
    nodes = dict(compiled.nodes)
    for uid, node in compiled.nodes.items():
        if node.resource_type != "model" or node.config.get("materialized"):
            continue
        if not node.extra.get("ml_calls") and not has_nearest(node):
            continue
        note = (f"model {node.name!r} calls ML functions or predsql.nearest() and configures "
                "no materialization: built as a table (a view cannot evaluate them)")
        nodes[uid] = replace(node, config={**node.config, "materialized": "table"},
                             extra={**node.extra, "notes": [*node.extra.get("notes", []), note]})
    return replace(compiled, nodes=nodes)


def _report_config_keys(session: Session) -> None:
    for node in session.compiled.nodes.values():
        for note in node.extra.get("notes", []):
            session.console.debug(f"{node.node.rel_path}: {note}")
        for key in ignored_keys(node.config):
            session.console.debug(f"{node.node.rel_path}: config `{key}` is accepted and ignored")
        for key, close in unknown_keys(node.config):
            hint = f"; did you mean `{close}`?" if close else ""
            session.console.warn(
                f"{node.node.rel_path}: unknown config key `{key}` is ignored{hint}"
            )


def selected_ids(session: Session, warn: Callable[[str], None] | None = None,
                 indirect: str | None = None) -> set[str]:
    """Every node (sources included) `--select`/`--exclude` pick, tests indirectly as dbt
    does; a selector term that matches nothing is a warning, as in dbt."""
    methods = {**test_selector_methods(session.compiled),
               "state": state_selector(session.options.state),
               "source_status": source_status_selector(session.options.state,
                                                       session.project.target_dir)}
    if session.options.only is not None:  # `retry`: the nodes the last run did not finish
        return set(session.options.only) & set(session.compiled.nodes)
    return select(session.compiled, session.options.select, session.options.exclude, methods,
                  indirect=indirect or session.options.indirect_selection,
                  warn=warn or session.console.warn)


def selected(session: Session, command: str) -> list[str]:
    kinds = RUNNABLE.get(command, ("model", "seed", "test"))
    # compile checks the selected nodes only: tests are not pulled in with them
    order = session.compiled.graph.ordered(
        selected_ids(session, indirect="empty" if command == "compile" else None))
    return [
        uid for uid in order
        if session.compiled.nodes[uid].resource_type in kinds
        and (command == "compile" or session.compiled.nodes[uid].materialized != "ephemeral")
    ]


def warn_broken_functions(session: Session) -> None:
    for broken in session.registry.broken.values():
        session.console.warn(f"ML function {broken.name!r} cannot be used; models calling it "
                             f"fail: {broken.message()}")


def check_broken_calls(session: Session, order: list[str]) -> None:
    """The first selected node that calls a function which cannot be used."""
    for uid in order:
        node = session.compiled.nodes[uid]
        for name in node.extra.get("ml_broken") or []:
            error = session.registry.broken[name].error
            line = next((c["line"] for c in node.extra.get("ml_calls", [])
                         if c["function"] == name), None)
            raise CompileError(
                f"{node.name!r} calls {name}(), which cannot be used: {error.location}: "
                f"{error.message}", path=node.node.rel_path, line=line,
                hint=f"{error.hint or 'fix the function'}; or leave {node.name!r} out of the "
                "selection (--exclude)")


def compile_command(session: Session) -> int:
    warn_broken_functions(session)
    write_compiled_sql(session.compiled)
    con = _open_for_checks(session)
    try:
        if con is not None:
            for uid in session.compiled.graph.order:
                node = session.compiled.nodes[uid]
                check_ml_types(con, node, session.registry, session.plans)
    finally:
        if con is not None:
            con.close()
    write_manifest(session.compiled, {"functions": session.registry.manifest_entries()})
    chosen = selected(session, "compile")
    check_broken_calls(session, chosen)
    n = len(session.compiled.nodes)
    session.console.info(f"Compiled {events.plural(n, 'node')}; wrote "
                         f"{session.project.target_path}/manifest.json")
    failed = [session.compiled.nodes[uid] for uid in chosen
              if session.compiled.nodes[uid].extra.get("compile_error")]
    for node in failed:  # as dbt compile: the command fails, every failing node is named
        session.console.error(f"Compilation error in {node.resource_type} {node.name}: "
                              f"{node.extra['compile_error']}")
    if failed:
        return 2
    if session.options.select:
        shown = [uid for uid in chosen if session.compiled.nodes[uid].compiled_sql]
        if len(shown) == 1:  # as dbt: `predsql compile -s x` prints x's SQL
            node = session.compiled.nodes[shown[0]]
            session.console.emit(events.compiled_node(node, node.compiled_sql.strip()))
        else:
            session.console.info(f"{events.plural(len(shown), 'node')} selected; their SQL is "
                                 f"in {session.project.target_path}/compiled/")
    return 0


def _open_for_checks(session: Session) -> duckdb.DuckDBPyConnection | None:
    path = session.project.target.path
    if path == ":memory:" or not Path(path).exists():
        return None
    try:
        return database.connect(session.project.target, read_only=True)
    except Exception as exc:  # compile still works without the database
        session.console.debug(f"type checks skipped: {exc}")
        return None


@dataclass
class CommandResult:
    """What `run`, `seed`, `test` and `build` did: the exit code and every node's result."""

    command: str
    exit_code: int
    results: list[NodeResult] = field(default_factory=list)
    elapsed: float = 0.0
    interrupted: str = ""  # the signal's name when one stopped the run


@dataclass
class _RunState:
    started: float = field(default_factory=time.time)
    project: Project | None = None
    order: list[str] = field(default_factory=list)
    names: dict[str, Any] = field(default_factory=dict)
    results: list[NodeResult] | None = None


def run_args(options: Options, command: str) -> dict[str, Any]:
    """The invocation, as run_results.json records it (dbt's `args`; `predsql retry` reads it)."""
    return {
        "which": command, "select": list(options.select), "exclude": list(options.exclude),
        "vars": options.vars, "target": options.target, "profiles_dir": options.profiles_dir,
        "threads": options.threads, "full_refresh": options.full_refresh,
        "fail_fast": options.fail_fast, "device": options.device,
        "no_cache": options.no_cache, "lock_timeout": options.lock_timeout,
        "state": str(options.state) if options.state else None,
    }


def execute_command(options: Options, console: Console, command: str,
                    interrupt: Interrupt | None = None) -> CommandResult:
    """`run`, `seed`, `build` and `test`: hold the database, compile against its
    tables, run the selected nodes, write artifacts. A signal at any phase stops
    cleanly (see interrupts.py): exit 2, run_results.json written."""
    interrupt = interrupt or Interrupt()
    if options.dry_run:
        return dry_run_command(options, console, command)
    state = _RunState()
    try:
        _prepare_and_run(options, console, command, interrupt, state)
    except Interrupted:
        pass
    except Exception:
        if not interrupt.is_set():
            raise
        # DuckDB, running in this thread when the signal came, raised its own error
    with interrupt.graceful("writing artifacts"):
        signal_name = interrupt.signal_name if interrupt.is_set() else ""  # later ones: too late
        results = state.results if state.results is not None else [
            skipped_result(state.names[uid], f"skipped: interrupted by {interrupt.signal_name} "
                           f"while {interrupt.signal_phase}") for uid in state.order]
        elapsed = time.time() - state.started
        target_dir = state.project.target_dir if state.project else (
            _target_dir_unloaded(options) if signal_name else None)
        if target_dir is not None and (state.results is not None or signal_name):
            write_run_results(target_dir, results, elapsed,
                              {**run_args(options, command), "interrupted": signal_name or None})
        _summary(console, results, elapsed)
        outcome = CommandResult(command, _exit_code(results, signal_name), results, elapsed,
                                signal_name)
        if signal_name:
            console.emit(events.error(
                f"Interrupted by {signal_name}: the running models were rolled back, "
                "the rest skipped.", signal=signal_name, phase=interrupt.signal_phase))
    return outcome


def _exit_code(results: list[NodeResult], signal_name: str) -> int:
    if signal_name or any(r.extra.get("internal_error") for r in results):
        return 2
    return 0 if all(r.ok for r in results) else 1


def _target_dir_unloaded(options: Options) -> Path | None:
    """target/ of a project whose loading a signal stopped: read without rendering."""
    try:
        raw = yaml.safe_load(find_project_file(options.project_dir.resolve()).read_text())
    except (PredsqlError, OSError, yaml.YAMLError):
        return None
    path = raw.get("target-path", "target") if isinstance(raw, dict) else "target"
    if not isinstance(path, str) or "{" in path:
        path = "target"
    return options.project_dir.resolve() / path


def _prepare_and_run(options: Options, console: Console, command: str, interrupt: Interrupt,
                     state: _RunState) -> None:
    interrupt.check()  # a signal recorded before the command began
    interrupt.phase = "loading the project"
    state.project = project = load(options)
    interrupt.phase = "waiting for the database"
    con = database.connect(project.target, lock_timeout=options.lock_timeout)
    try:
        interrupt.phase = "compiling"
        catalog = database.RelationCatalog(con)
        for dropped in database.clean_leftovers(con, catalog):
            console.debug(f"dropped leftover relation {dropped}")
        options.which = command
        session = open_session(options, console, project, catalog.tables(), con)
        state.order = order = selected(session, command)
        state.names = {uid: session.compiled.nodes[uid] for uid in order}
        if any(session.compiled.nodes[uid].extra.get("ml_broken") for uid in order):
            warn_broken_functions(session)
        write_compiled_sql(session.compiled)
        write_manifest(session.compiled, {"functions": session.registry.manifest_entries()})
        interrupt.phase = "checking"
        _check_before_running(session, con, order)
        if not options.no_cache:
            cache.prepare(con, session.registry, [session.compiled.nodes[u] for u in order])
        with interrupt.graceful("running"):
            interrupt.check()
            runtimes = _executors(session)
            runtimes.prepare({call["function"] for uid in order  # Ray actors start meanwhile
                              for call in session.compiled.nodes[uid].extra.get("ml_calls") or []})
            kit = TestKit(session.compiled, runtimes, session.console)
            interrupt.on_interrupt(runtimes.terminate)
            try:
                results = hook_results(session.compiled, con, "on-run-start", console)
                results += _execute(session, con, order, runtimes, kit, catalog, command,
                                    interrupt)
                if not interrupt.is_set():
                    results += hook_results(session.compiled, con, "on-run-end", console,
                                            results)
                state.results = results
            finally:
                runtimes.close()
            if not interrupt.is_set():
                _prune_cache_if_large(session, con)
    finally:
        with interrupt.graceful(interrupt.phase):
            con.close()


def _local_functions(session: Session, order: list[str]) -> set[str]:
    """The ML functions the selected nodes call that run in this process (not on Ray)."""
    target = session.project.target
    config = executor_config(target.executor, target.profile_file, session.options.executor)
    called = {name for uid in order
              for name in session.compiled.nodes[uid].extra.get("ml_functions") or {}}
    local = set()
    for name in called & set(session.registry.functions):
        fn = session.registry.functions[name]
        if config.for_function(fn.config.get("executor"), fn.yml_path, fn.name).kind == "local":
            local.add(name)
    return local


def _executors(session: Session) -> Executors:
    target = session.project.target
    return Executors(session.registry, executor_config(
        target.executor, target.profile_file, session.options.executor),
        session.options.device, session.console)


def _prune_cache_if_large(session: Session, con: duckdb.DuckDBPyConnection) -> None:
    limit = session.project.cache_max_rows
    if limit is None or not any(f.cache for f in session.registry.functions.values()):
        return
    if cache.total_entries(con) > limit:
        removed = cache.prune(con, session.registry)
        session.console.info(f"Prediction cache above cache-max-rows ({limit:,}): pruned "
                             f"{removed:,} entries of old fingerprints.")


def _check_before_running(session: Session, con: duckdb.DuckDBPyConnection,
                          order: list[str]) -> None:
    """ML argument types of every selected model whose inputs exist, and the device
    --device asks for, before any data moves."""
    if session.options.device == "cuda" and _local_functions(session, order):
        if not probe_cuda().usable:
            raise cuda_unusable(None, from_flag=True)
    cursor = con.cursor()
    try:
        for uid in order:
            node = session.compiled.nodes[uid]
            check_ml_types(cursor, node, session.registry, session.plans)
    finally:
        cursor.close()


def _execute(session: Session, con: duckdb.DuckDBPyConnection, order: list[str],
             runtimes: Executors, kit: TestKit, catalog: database.RelationCatalog,
             command: str, interrupt: Interrupt) -> list[NodeResult]:
    compiled = session.compiled
    console = session.console
    if not order:
        console.warn("Nothing to do: the selection matched no nodes.")
        return []
    console.emit(events.run_started(command, len(order), session.project.target.threads,
                                    session.project.target.path))
    lines = NodeLines(console, compiled, len(order))

    target = session.project.target
    per_cursor = session_only(con, target)

    def work(cursor: duckdb.DuckDBPyConnection, node: CompiledNode) -> NodeResult:
        if per_cursor:  # settings DuckDB keeps per connection (dbt_duckdb/profile.py)
            apply_session_settings(cursor, target, per_cursor)
        try:
            return build(cursor, node)
        except duckdb.CatalogException as exc:
            explained = missing_relation(exc, node, compiled)
            if explained is None:
                raise
            raise explained from exc

    def build(cursor: duckdb.DuckDBPyConnection, node: CompiledNode) -> NodeResult:
        node = fresh_node(session, node, cursor)
        if node.resource_type == "test":
            return run_test_node(cursor, node, kit)
        started = time.time()
        rows = row_source(session, cursor, node, runtimes)
        run_node_hooks(compiled, node, cursor, "pre-hook")
        outcome: BuildResult = build_with_post_hooks(compiled, node, cursor, rows, catalog)
        done = time.time()
        return NodeResult(
            node.unique_id, node.name, node.resource_type, "success", outcome.message,
            execution_time=done - started, rows_affected=outcome.rows_affected,
            started_at=started, completed_at=done, materialized=node.materialized,
            relation=node.relation, extra=outcome.extra,
        )

    parents = build_parents(compiled, order, with_tests=command == "build")
    return run_nodes(
        con, compiled.nodes, order, parents, work,
        threads=session.project.target.threads, fail_fast=session.options.fail_fast,
        debug=session.options.debug, on_start=lines.started, on_result=lines.finished,
        interrupt=interrupt,
    )


class NodeLines:
    """The node lines of a run, numbered in the order nodes start (or are
    skipped), as dbt numbers them."""

    def __init__(self, console: Console, compiled: CompiledProject, total: int) -> None:
        self.console = console
        self.compiled = compiled
        self.total = total
        self._numbers: dict[str, int] = {}

    def _number(self, uid: str) -> int:
        if uid not in self._numbers:
            self._numbers[uid] = len(self._numbers) + 1
        return self._numbers[uid]

    def started(self, node: CompiledNode) -> None:
        self.console.emit(events.node_started(self._number(node.unique_id), self.total, node))

    def finished(self, result: NodeResult) -> None:
        node = self.compiled.nodes[result.unique_id]
        emit = self.console.emit
        emit(events.node_finished(self._number(result.unique_id), self.total, node, result))
        for name, stats in (result.extra.get("ml_functions") or {}).items():
            emit(events.ml_function(node, name, stats))
        if result.status == "error":
            emit(events.node_error(node, result))
        elif result.message and result.status in ("skipped", "warn", "fail"):
            emit(events.node_note(node, result.message, events.STATUS_LEVEL[result.status]))


def build_with_post_hooks(compiled: CompiledProject, node: CompiledNode,
                          cursor: duckdb.DuckDBPyConnection, rows: RowSource,
                          catalog: database.RelationCatalog) -> BuildResult:
    """Build the node; its post-hooks run inside the transaction that puts the new
    relation in place (as dbt runs them), or right after a build that has none."""

    def post_hooks(cur: duckdb.DuckDBPyConnection) -> None:
        run_node_hooks(compiled, node, cur, "post-hook")

    header = node.config.get("sql_header")
    if isinstance(header, str) and header.strip():  # statements run before the build, as
        cursor.execute(header)                       # dbt puts them before its CREATE
    token = BEFORE_COMMIT.set(post_hooks)
    try:
        outcome = materialization_for(node, compiled.project.target.external_root).build(
            cursor, node, rows, catalog)
        pending = BEFORE_COMMIT.get()
    finally:
        BEFORE_COMMIT.reset(token)
    if pending is not None:
        pending(cursor)
    return outcome


def fresh_node(session: Session, node: CompiledNode,
               cursor: duckdb.DuckDBPyConnection) -> CompiledNode:
    """The node compiled as it must run now (see compiler.compile_for_run), with its
    ML calls found again when its SQL changed."""
    updated = compile_for_run(session.compiled, node, cursor)
    if updated is not node and updated.compiled_sql != node.compiled_sql:
        single = CompiledProject(session.project, session.compiled.properties,
                                 {updated.unique_id: updated}, session.compiled.graph)
        updated = attach_ml_calls(single, session.registry,
                                  session.plans).nodes[updated.unique_id]
    return updated


def row_source(session: Session, cursor: duckdb.DuckDBPyConnection, node: CompiledNode,
               runtimes: Executors) -> RowSource:
    def rows(node: CompiledNode) -> RowSource:
        if node.extra.get("ml_calls"):
            return MlRows(node, session.registry, runtimes, cursor, session.console,
                          use_cache=not session.options.no_cache, plans=session.plans)
        return SqlRows(node.compiled_sql)

    if has_nearest(node):
        from predsql.vectors.execute import NearestRows  # onnx, pyarrow.compute: only here

        return NearestRows(node, rows, session.options.device)
    return rows(node)


def _summary(console: Console, results: list[NodeResult], elapsed: float) -> None:
    for event in events.run_finished(results, elapsed):
        console.emit(event)


def show_command(session: Session, name: str, limit: int) -> list[tuple[Any, ...]]:
    node = session.compiled.by_name(name)
    if node is None:
        close = closest_name(name, session.compiled)
        raise SelectionError(f"no model or seed named {name!r}",
                             hint=f"did you mean {close!r}?" if close else "see `predsql ls`")
    con = database.connect(session.project.target, read_only=Path(
        session.project.target.path).exists(), lock_timeout=session.options.lock_timeout)
    try:
        if database.relation_kind(con, node.schema, node.alias) is None:
            command = "seed" if node.resource_type == "seed" else "run"
            raise ExecutionError(
                f"{node.relation} does not exist yet", path=node.node.rel_path,
                hint=f"run `predsql {command} -s {name}` (or `predsql build`) first",
            )
        cursor = con.execute(f"SELECT * FROM {node.relation} LIMIT {int(limit)}")
        columns = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    finally:
        con.close()
    return [tuple(columns), *rows]


def show_inline(session: Session, sql: str, limit: int) -> list[tuple[Any, ...]]:
    """`predsql show --inline`: an ad-hoc SELECT, ML functions included."""
    from predsql.adhoc import inline_node, preview_inline

    node = inline_node(session.compiled, session.registry, sql)
    scores = bool(node.extra.get("ml_calls"))
    target = session.project.target
    exists = target.path != ":memory:" and Path(target.path).exists()
    con = database.connect(target, read_only=exists and not scores,
                           lock_timeout=session.options.lock_timeout)
    runtimes = _executors(session) if scores else None
    try:
        columns, rows = preview_inline(con, node, session.registry, runtimes,
                                       session.console, limit)
    except duckdb.CatalogException as exc:
        explained = missing_relation(exc, node, session.compiled)
        raise (explained or ExecutionError(f"the inline query failed: {exc}")) from exc
    except duckdb.Error as exc:
        raise ExecutionError(f"the inline query failed: {exc}",
                             hint="check the SQL; `predsql compile` shows the project's "
                             "relations") from exc
    finally:
        if runtimes is not None:
            runtimes.close()
        con.close()
    return [tuple(columns), *rows]


def dry_run_command(options: Options, console: Console, command: str) -> CommandResult:
    """`run --dry-run`: compile and check as a run would, then estimate the ML work."""
    from predsql.dryrun import about, as_fields, describe, estimate_node, last_rates

    started = time.time()
    project = load(options)
    target = project.target
    exists = target.path != ":memory:" and Path(target.path).exists()
    con = database.connect(target, read_only=exists, lock_timeout=options.lock_timeout) \
        if exists else None
    try:
        options.which = command
        tables = database.RelationCatalog(con).tables() if con is not None else frozenset()
        session = open_session(options, console, project, tables, con)
        order = selected(session, command)
        write_compiled_sql(session.compiled)
        write_manifest(session.compiled, {"functions": session.registry.manifest_entries()})
        if con is not None:
            _check_before_running(session, con, order)
        rates = last_rates(project.target_dir)
        estimates = []
        cursor = con.cursor() if con is not None else None
        try:
            for uid in order:
                node = session.compiled.nodes[uid]
                if cursor is not None:
                    estimates += estimate_node(cursor, node, session.registry, rates,
                                               use_cache=not options.no_cache,
                                               plans=session.plans)
                elif node.extra.get("ml_calls"):
                    console.info(f"{node.name}: rows unknown (the database does not exist yet)")
        finally:
            if cursor is not None:
                cursor.close()
    finally:
        if con is not None:
            con.close()
    models = sum(1 for uid in order if session.compiled.nodes[uid].resource_type == "model")
    console.info(f"Dry run of `predsql {command}`: {events.plural(len(order), 'node')} "
                 f"selected, {events.plural(models, 'model')}; nothing was written")
    for estimate in estimates:
        console.emit(events.Event("dry_run_estimate", "info", describe(estimate),
                                  as_fields(estimate), indented=True))
    known = [e.seconds for e in estimates if e.seconds is not None]
    total_rows = sum(e.sent or 0 for e in estimates)
    console.emit(events.Event(
        "dry_run_summary", "info",
        f"Would send {total_rows:,} rows to ML models"
        + (f", {about(sum(known))} of inference" if known else ""),
        {"rows_sent": total_rows, "estimated_seconds": round(sum(known), 1) if known else None,
         "nodes": len(order)}, summary=True))
    return CommandResult(command, 0, [], time.time() - started)
