"""The command line: parses flags, calls `tasks`, maps errors to exit codes."""
# ruff: noqa: E402  (the imports below run with the garbage collector paused)

from __future__ import annotations

import gc

# Importing the CLI creates about a million long-lived objects (sqlglot, pyarrow, jinja2,
# DuckDB, onnxruntime); collecting while they load is wasted work (~0.05 s of each
# command's fixed cost).
gc.disable()

import functools
import shutil
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import yaml

from predsql import __version__, events
from predsql.console import DEFAULT_PROGRESS_INTERVAL, Console
from predsql.errors import PredsqlError, ProjectError, UsageError
from predsql.interrupts import Interrupted, handle_signals
from predsql.invocation import Invocation
from predsql.tasks import Options, open_session

gc.freeze()  # later collections (and the one at exit) skip them: ~0.1 s
gc.enable()

CONTEXT = {"help_option_names": ["-h", "--help"]}


def _parse_vars(text: str | None) -> dict[str, Any]:
    return _parse_mapping(text, "--vars")


def _parse_mapping(text: str | None, flag: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ProjectError(f"{flag} is not valid YAML: {exc}",
                           hint=f"e.g. {flag} '{{run_date: 2024-01-01}}'") from exc
    if not isinstance(data, dict):
        raise ProjectError(f"{flag} must be a YAML mapping", hint=f"e.g. {flag} '{{key: value}}'")
    return data


def common(func: Callable[..., int]) -> Callable[..., None]:
    """Shared flags, the console, and the mapping of errors to exit codes."""

    @click.option("--project-dir", type=click.Path(file_okay=False), default=".",
                  help="Folder holding predsql_project.yml (or dbt_project.yml).")
    @click.option("--profiles-dir", default=None, help="Folder holding profiles.yml.")
    @click.option("--target", "-t", "target", default=None, help="Profile target to use.")
    @click.option("--vars", "vars_", default=None, help="YAML mapping of vars.")
    @click.option("--quiet", "-q", is_flag=True, help="Print errors and the summary only.")
    @click.option("--log-format", type=click.Choice(["text", "json"]), default="text")
    @click.option("--debug", is_flag=True, help="Show debug notes and Python tracebacks.")
    @click.option("--progress-interval", type=float, default=DEFAULT_PROGRESS_INTERVAL,
                  envvar="PREDSQL_PROGRESS_INTERVAL", show_default=True,
                  help="Seconds between progress events of a running ML function when the "
                  "output is not a terminal (or with --log-format json); 0 turns them off.")
    @functools.wraps(func)
    def wrapper(project_dir: str, profiles_dir: str | None, target: str | None,
                vars_: str | None, quiet: bool, log_format: str, debug: bool,
                progress_interval: float, **kwargs: Any) -> None:
        invocation = current_invocation()
        root = Path(project_dir)
        log_file = root / "logs" / "predsql.log" if root.is_dir() else None
        console = Console(quiet=quiet, json_logs=log_format == "json", debug=debug,
                          log_file=log_file, progress_interval=progress_interval,
                          callbacks=invocation.callbacks)
        code = 0
        try:
            with handle_signals(invocation.interrupt):
                invocation.interrupt.phase = "starting"
                if not getattr(func, "stops_cleanly", False):
                    invocation.interrupt.check()  # a signal recorded by the entry point
                options = Options(project_dir=Path(project_dir), profiles_dir=profiles_dir,
                                  target=target, vars=_parse_vars(vars_), debug=debug)
                outcome = func(options, console, **kwargs)
                invocation.result = outcome
                code = outcome if isinstance(outcome, int) else outcome.exit_code
        except BaseException as exc:
            code = _failure_code(exc, invocation, console, debug)
        finally:
            console.close()
        invocation.exit_code = code
        if not invocation.api:
            sys.exit(code)

    return wrapper


def _failure_code(exc: BaseException, invocation: Invocation, console: Console,
                  debug: bool) -> int:
    """Report what ended a command early; its exit code. Anything else propagates."""
    interrupt = invocation.interrupt
    if isinstance(exc, Interrupted) or (interrupt.is_set() and isinstance(exc, Exception)):
        # (a DuckDB call in this thread when the signal came raises its own error)
        name = exc.signal_name if isinstance(exc, Interrupted) else interrupt.signal_name
        phase = exc.phase if isinstance(exc, Interrupted) else interrupt.signal_phase
        console.emit(events.error(f"Interrupted by {name} while {phase}; nothing was changed.",
                                  kind="Interrupted", signal=name, phase=phase))
        return 2
    if isinstance(exc, PredsqlError):
        invocation.error = exc
        console.emit(events.error(exc.message, file=exc.path, line=exc.line, hint=exc.hint,
                                  text=exc.format(), kind=type(exc).__name__))
        if debug:
            console.error("".join(traceback.format_exception(exc)))
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        console.error("Interrupted.")
        return 2
    raise exc


def stops_cleanly(func: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a command that handles a signal recorded before it began (execute_command)."""
    func.stops_cleanly = True  # type: ignore[attr-defined]
    return func


def current_invocation() -> Invocation:
    """The invocation the entry point or the API passed as click's `obj` (or a new one)."""
    context = click.get_current_context(silent=True)
    found = context.find_object(Invocation) if context is not None else None
    return found if found is not None else Invocation()


class MultiValueOption(click.Option):
    """An option that takes every value up to the next option, as dbt's `-s a b` does
    (repeating the option works too)."""

    def add_to_parser(self, parser: Any, ctx: click.Context) -> None:
        super().add_to_parser(parser, ctx)
        for name in self.opts:
            option = parser._long_opt.get(name) or parser._short_opt.get(name)
            if option is None:
                continue
            single = option.process

            def process(value: Any, state: Any, single: Any = single) -> None:
                single(value, state)
                while state.rargs and not state.rargs[0].startswith("-"):
                    single(state.rargs.pop(0), state)

            option.process = process


def selection(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option("--state", type=click.Path(file_okay=False, path_type=Path),
                        default=None,
                        help="A saved target/ folder, for state:modified and "
                        "source_status:fresher.")(func)
    func = click.option("--select", "-s", "--models", "-m", "select", multiple=True,
                        cls=MultiValueOption, help="Nodes to include (several values allowed).")(func)
    func = click.option("--exclude", multiple=True, cls=MultiValueOption,
                        help="Nodes to leave out (several values allowed).")(func)
    func = click.option("--indirect-selection", default="eager",
                        type=click.Choice(["eager", "cautious", "buildable", "empty"]),
                        help="Which tests of the selected nodes are selected too (dbt's modes).")(func)
    return func


def execution(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option("--threads", type=int, default=None, help="Nodes run at once.")(func)
    func = click.option("--full-refresh", is_flag=True, help="Rebuild incremental models.")(func)
    func = click.option("--fail-fast", "-x", is_flag=True, help="Stop at the first failure.")(func)
    func = click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default=None,
                        help="Override every ML function's device.")(func)
    func = click.option("--executor", type=click.Choice(["local", "ray"]), default=None,
                        help="Run every ML function here (local) or on the Ray cluster of the "
                        "target's `executor:` settings (ray).")(func)
    func = click.option("--no-cache", is_flag=True, help="Ignore the prediction cache.")(func)
    func = click.option("--lock-timeout", type=float, default=0.0,
                        help="Seconds to wait for a database held by another run.")(func)
    return func


def empty_flag(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--empty", is_flag=True,
                        help="Refs and sources read zero rows (schema-only builds, as dbt's "
                        "--empty); seeds still load.")(func)


def _apply(options: Options, **kwargs: Any) -> Options:
    for key, value in kwargs.items():
        if hasattr(options, key) and value is not None:
            setattr(options, key, tuple(value) if isinstance(value, list) else value)
    return options


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="predsql")
def main() -> None:
    """predsql: batch inference in SQL (dbt-style projects on DuckDB + onnxruntime)."""


def _execute_command(command: str) -> Callable[..., int]:
    def run(options: Options, console: Console, **kwargs: Any) -> int:
        from predsql.tasks import execute_command

        return execute_command(_apply(options, **kwargs), console, command,
                               current_invocation().interrupt)

    return stops_cleanly(run)


def dry_run(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--dry-run", is_flag=True,
                        help="Compile and check, then print the rows each ML function would "
                        "score and the estimated time; run nothing.")(func)


for _name, _help in (("run", "Build the selected models in dependency order."),
                     ("seed", "Load seeds/*.csv into tables."),
                     ("snapshot", "Take the snapshots (type-2 history of changing rows)."),
                     ("build", "Seeds, models, snapshots and tests in DAG order."),
                     ("test", "Run data and unit tests; exit 1 on failure.")):
    _command = selection(execution(common(_execute_command(_name))))
    if _name in ("run", "build", "snapshot"):  # as dbt 1.10: seed and test have no --empty
        _command = empty_flag(_command)
    if _name in ("run", "build"):
        _command = dry_run(_command)
    main.command(_name, help=_help, context_settings=CONTEXT)(_command)


@main.command("retry", context_settings=CONTEXT)
@click.option("--threads", type=int, default=None, help="Nodes run at once.")
@click.option("--lock-timeout", type=float, default=None,
              help="Seconds to wait for a database held by another run.")
@common
@stops_cleanly
def retry_cmd(options: Options, console: Console, threads: int | None,
              lock_timeout: float | None) -> Any:
    """Run again the nodes that errored, failed or were skipped in the last run
    (target/run_results.json), with the same command and flags."""
    from predsql.retry import apply_args, read_last_run
    from predsql.tasks import execute_command, load

    last = read_last_run(load(options).target_dir)
    explicit = {name for name, value in (("vars", options.vars), ("target", options.target),
                                         ("profiles_dir", options.profiles_dir),
                                         ("threads", threads), ("lock_timeout", lock_timeout))
                if value}
    options = apply_args(options, last.args, explicit)
    if threads is not None:
        options.threads = threads
    if lock_timeout is not None:
        options.lock_timeout = lock_timeout
    if last.command == "run-operation":
        return _retry_operation(options, console, last)
    if not last.whole:
        if not last.retry:
            console.info("Nothing to retry: every node of the last run succeeded.")
            return 0
        options.only = last.retry
    console.info(f"Retrying `predsql {last.command}`: "
                 + ("the whole run (it was interrupted before it started)" if last.whole
                    else f"{len(last.retry):,} node{'s' if len(last.retry) != 1 else ''} "
                    "that errored, failed or were skipped"))
    return execute_command(options, console, last.command, current_invocation().interrupt)


def _retry_operation(options: Options, console: Console, last: Any) -> Any:
    from predsql.operation import operation_command

    if not last.retry:
        console.info("Nothing to retry: the last run-operation succeeded.")
        return 0
    macro = str(last.args.get("macro") or "")
    console.info(f"Retrying `predsql run-operation {macro}`")
    return operation_command(options, console, macro, dict(last.args.get("args") or {}),
                             current_invocation().interrupt)


@main.command("compile", context_settings=CONTEXT)
@selection
@empty_flag
@common
def compile_cmd(options: Options, console: Console, **kwargs: Any) -> int:
    """Render and check; write target/compiled/ and manifest.json."""
    from predsql.tasks import compile_command

    return compile_command(open_session(_apply(options, **kwargs), console))


@main.command("ls", context_settings=CONTEXT)
@selection
@click.option("--output", "-o", type=click.Choice(["selector", "json", "name", "path", "text"]),
              default="selector", help="What each line shows (text is selector).")
@click.option("--resource-type", "resource_types", multiple=True, cls=MultiValueOption,
              help="Only these kinds: model, seed, snapshot, source, test, unit_test, "
              "analysis, all, default.")
@click.option("--exclude-resource-type", "exclude_types", multiple=True, cls=MultiValueOption,
              help="Leave these kinds out.")
@common
def ls_cmd(options: Options, console: Console, output: str, resource_types: tuple[str, ...],
           exclude_types: tuple[str, ...], **kwargs: Any) -> int:
    """List the selected nodes, as dbt ls does (sorted by unique id)."""
    from predsql.listing import list_lines

    session = open_session(_apply(options, **kwargs), console)
    for line in list_lines(session, "selector" if output == "text" else output,
                           tuple(resource_types), tuple(exclude_types),
                           warn=lambda message: click.echo(message, err=True)):
        click.echo(line)
    return 0


@main.command("show", context_settings=CONTEXT)
@click.argument("model", required=False)
@click.option("--inline", "inline", default=None,
              help="Run this SELECT (Jinja and ML functions allowed) instead of a model.")
@click.option("--limit", type=int, default=10)
@click.option("--lock-timeout", type=float, default=0.0)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default=None,
              help="Override every ML function's device.")
@common
def show_cmd(options: Options, console: Console, model: str | None, inline: str | None,
             limit: int, lock_timeout: float, device: str | None) -> int:
    """Preview rows of a model, or of an ad-hoc query (--inline "select ...")."""
    from predsql.tasks import show_command, show_inline

    if (model is None) == (inline is None):
        raise UsageError("give a MODEL or --inline \"select ...\", not both",
                         hint='e.g. predsql show customers, or predsql show --inline '
                         '"select * from {{ ref(\'customers\') }}"')
    options.lock_timeout = lock_timeout
    options.device = device
    session = open_session(options, console)
    if inline is not None:
        header, *rows = show_inline(session, inline, limit)
        _print_rows(console, "inline query", header, rows, limit)
    else:
        header, *rows = show_command(session, model, limit)
        _print_rows(console, model, header, rows, limit)
    return 0


def _print_rows(console: Console, what: str, header: tuple[str, ...], rows: list[tuple[Any, ...]],
                limit: int) -> None:
    if console.json_logs:
        console.emit(events.preview(what, list(header), [list(r) for r in rows]))
        return
    from rich.table import Table

    table = Table(*header, title=f"{what} (first {limit} rows)")
    for row in rows:
        table.add_row(*(_cell(v) for v in row))
    console.out.print(table)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_cell(v) for v in value[:6]) + (", ..." if len(value) > 6 else "") + "]"
    return "NULL" if value is None else str(value)


@main.command("functions", context_settings=CONTEXT)
@common
def functions_cmd(options: Options, console: Console) -> int:
    """List the ML functions: signature, output, model file, fingerprint, providers."""
    import onnxruntime as ort

    session = open_session(options, console)
    for fn in session.registry.functions.values():
        console.info(fn.signature())
        root = session.project.root.resolve()
        shown = fn.model_path.relative_to(root) if fn.model_path.is_relative_to(root) \
            else fn.config.get("model", fn.model_path)  # package://... models
        console.info(f"    model {shown}  "
                     f"fingerprint {fn.fingerprint[:16]}  device {fn.device}  "
                     f"cache {'on' if fn.cache else 'off'}  on_null {fn.on_null}"
                     + (f"  fixed batch {fn.fixed_batch}" if fn.fixed_batch else ""))
        for line in fn.describe_inputs() + fn.describe_outputs():
            console.info(f"    {line}")
        if fn.description:
            console.info(f"    {fn.description}")
    for broken in session.registry.broken.values():
        console.error(f"{broken.name}: cannot be used (models calling it fail):\n"
                      f"    {broken.message()}")
    console.info(f"onnxruntime {ort.__version__}; providers available: "
                 f"{', '.join(ort.get_available_providers())}")
    return 1 if session.registry.broken else 0


@main.group("cache", context_settings=CONTEXT)
def cache_group() -> None:
    """The prediction cache: stats, prune, clear."""


def _cache_action(options: Options, console: Console, action: str,
                  function: str | None = None) -> int:
    from predsql import database
    from predsql.ml import cache
    from predsql.ml.registry import load_registry
    from predsql.tasks import load

    project = load(options)
    registry = load_registry(project)
    con = database.connect(project.target)
    try:
        if action == "stats":
            rows = cache.stats(con, registry)
            for row in rows:
                console.info(f"{row['function']}: {row['entries']:,} entries, "
                             f"{row['current_fingerprint']:,} for the current model, "
                             f"{row['stale']:,} stale"
                             + ("" if row["registered"] else " (function no longer registered)"))
            if not rows:
                console.info("The prediction cache is empty.")
        elif action == "prune":
            console.info(f"Pruned {cache.prune(con, registry):,} stale entries.")
        else:
            cleared = cache.clear(con, function)
            console.info(f"Cleared: {', '.join(cleared) if cleared else 'nothing'}.")
    finally:
        con.close()
    return 0


@cache_group.command("stats", context_settings=CONTEXT)
@common
def cache_stats(options: Options, console: Console) -> int:
    """Entries per function, current and stale."""
    return _cache_action(options, console, "stats")


@cache_group.command("prune", context_settings=CONTEXT)
@common
def cache_prune(options: Options, console: Console) -> int:
    """Delete entries of old fingerprints (replaced models or changed configs)."""
    return _cache_action(options, console, "prune")


@cache_group.command("clear", context_settings=CONTEXT)
@click.argument("function", required=False)
@common
def cache_clear(options: Options, console: Console, function: str | None) -> int:
    """Empty the cache of FUNCTION (or of every function)."""
    return _cache_action(options, console, "clear", function)


@main.group("docs", context_settings=CONTEXT)
def docs_group() -> None:
    """The docs site: catalog.json, lineage and ML model cards."""


@docs_group.command("generate", context_settings=CONTEXT)
@click.option("--empty-catalog", is_flag=True,
              help="Do not read the database: catalog.json lists no tables.")
@click.option("--lock-timeout", type=float, default=0.0,
              help="Seconds to wait for a database held by a run.")
@common
def docs_generate(options: Options, console: Console, empty_catalog: bool,
                  lock_timeout: float) -> int:
    """Write manifest.json, catalog.json and the static site (target/index.html)."""
    from predsql.docsite.generate import generate_command

    return generate_command(options, console, empty_catalog, lock_timeout)


@docs_group.command("serve", context_settings=CONTEXT)
@click.option("--port", type=int, default=8080, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--browser/--no-browser", default=True, help="Open a browser on the site.")
@common
def docs_serve(options: Options, console: Console, port: int, host: str, browser: bool) -> int:
    """Serve the generated site on localhost."""
    from predsql.docsite.server import serve
    from predsql.tasks import load

    serve(load(options).target_dir, host, port, browser, console.info)
    return 0


@main.group("source", context_settings=CONTEXT)
def source_group() -> None:
    """Sources: freshness."""


@source_group.command("freshness", context_settings=CONTEXT)
@click.option("--select", "-s", "select", multiple=True,
              help="Sources to check: source:NAME or source:NAME.TABLE (wildcards allowed).")
@click.option("--exclude", multiple=True, help="Sources to leave out.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the results (default target/sources.json).")
@click.option("--lock-timeout", type=float, default=0.0,
              help="Seconds to wait for a database held by another run.")
@common
def source_freshness(options: Options, console: Console, select: tuple[str, ...],
                     exclude: tuple[str, ...], output: Path | None, lock_timeout: float) -> Any:
    """Check each source's max(loaded_at_field) against its freshness (warn_after,
    error_after, filter); write target/sources.json; exit 1 when a source is past
    error_after or cannot be queried."""
    from predsql.freshness.command import freshness_command

    options.select, options.exclude, options.lock_timeout = select, exclude, lock_timeout
    return freshness_command(options, console, output)


@main.command("run-operation", context_settings=CONTEXT)
@click.argument("macro")
@click.option("--args", "args", default=None,
              help="The macro's keyword arguments, a YAML mapping: --args '{days: 7}'.")
@click.option("--lock-timeout", type=float, default=0.0,
              help="Seconds to wait for a database held by another run.")
@common
def run_operation_cmd(options: Options, console: Console, macro: str, args: str | None,
                      lock_timeout: float) -> Any:
    """Call MACRO (or PACKAGE.MACRO) against the database, e.g. for grants or cleanup;
    exit 1 when it fails."""
    from predsql.operation import operation_command

    options.lock_timeout = lock_timeout
    return operation_command(options, console, macro, _parse_mapping(args, "--args"),
                             current_invocation().interrupt)


@main.command("debug", context_settings=CONTEXT)
@common
def debug_cmd(options: Options, console: Console) -> int:
    """Versions, project, profile, database, and the device ML functions would really
    use (a CUDA session is probed; when it fails, onnxruntime's reason)."""
    from predsql.diagnostics import debug_report

    for line in debug_report(options):
        (console.warn if line.level == "warn" else console.info)(line.text)
    return 0


@main.command("deps", context_settings=CONTEXT)
@common
def deps_cmd(options: Options, console: Console) -> int:
    """Install the local: and git: packages of packages.yml into dbt_packages/."""
    from predsql.dbt.deps import install
    from predsql.dbt.packages import DEFAULT_INSTALL_PATH
    from predsql.project import find_project_file
    from predsql.yamlio import read_yaml

    root = options.project_dir.resolve()
    raw = read_yaml(find_project_file(root)) or {}
    install_path = str(raw.get("packages-install-path") or DEFAULT_INSTALL_PATH)
    installed = install(root, install_path, console.info)
    console.info(f"{len(installed)} package{'s' if len(installed) != 1 else ''} in "
                 f"{install_path}/")
    return 0


@main.command("clean", context_settings=CONTEXT)
@common
def clean_cmd(options: Options, console: Console) -> int:
    """Remove target/ (and logs/)."""
    from predsql.project import load_project

    project = load_project(options.project_dir, profiles_dir=options.profiles_dir,
                           with_packages=False)
    for folder in (project.target_dir,):
        if folder.exists():
            shutil.rmtree(folder)
            console.info(f"Removed {folder}")
    return 0


@main.command("init", context_settings=CONTEXT)
@click.argument("directory")
def init_cmd(directory: str) -> None:
    """Scaffold a working project in DIRECTORY: a seed, a SQL model, a model scoring rows
    with an ML function (its ONNX file written by the project's train.py), tests."""
    from predsql.scaffold import scaffold

    console = Console()
    try:
        created = scaffold(Path(directory))
    except PredsqlError as exc:
        console.error(exc.format())
        sys.exit(exc.exit_code)
    console.info(f"Created a predsql project in {created}: a seed, two models (churn_scores "
                 "calls the ML function churn_probability, functions/churn.onnx written by "
                 f"train.py) and tests. Next: cd {directory} && predsql build")
