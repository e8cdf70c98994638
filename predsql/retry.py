"""`predsql retry`: run again what the last run did not finish.

Reads target/run_results.json: the command and flags it recorded under `args`,
and the nodes whose status is `error`, `fail` or `skipped`. Those nodes run
again with the same flags (selected by unique id: the original --select is not
applied again, so nodes that succeeded are not rebuilt). A run stopped before it
knew its selection (a signal while compiling) is retried whole. A failed
`run-operation` is called again with the same macro and --args.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from predsql.errors import UsageError

RETRIED = ("error", "fail", "skipped")
RUN_COMMANDS = ("run", "seed", "test", "build")
RETRYABLE = (*RUN_COMMANDS, "run-operation")


@dataclass(frozen=True)
class LastRun:
    command: str
    args: dict[str, Any]
    retry: tuple[str, ...]  # unique ids to run again
    whole: bool  # the run stopped before it knew its selection: retry everything it selected


def read_last_run(target_dir: Path) -> LastRun:
    path = target_dir / "run_results.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise UsageError(f"nothing to retry: {path} does not exist", path=path,
                         hint="run `predsql run` or `predsql build` first") from exc
    except ValueError as exc:
        raise UsageError(f"{path} is not valid JSON", path=path) from exc
    args = data.get("args") or {}
    command = args.get("which")
    if command not in RETRYABLE:
        raise UsageError(f"nothing to retry: the last run_results.json is from "
                         f"`{command or 'an unknown command'}`", path=path,
                         hint="retry repeats run, seed, test, build or run-operation")
    results = data.get("results") or []
    retry = tuple(r["unique_id"] for r in results if r.get("status") in RETRIED)
    whole = not results and bool(args.get("interrupted"))
    return LastRun(command, args, retry, whole)


def apply_args(options: Any, args: dict[str, Any], explicit: set[str]) -> Any:
    """The options of the last run, except what this command line sets explicitly."""
    mapping = {"vars": "vars", "target": "target", "profiles_dir": "profiles_dir",
               "threads": "threads", "full_refresh": "full_refresh", "fail_fast": "fail_fast",
               "device": "device", "no_cache": "no_cache", "lock_timeout": "lock_timeout",
               "select": "select", "exclude": "exclude"}
    for key, attr in mapping.items():
        if key in args and args[key] is not None and attr not in explicit:
            value = args[key]
            setattr(options, attr, tuple(value) if isinstance(value, list) else value)
    if args.get("state") and "state" not in explicit:
        options.state = Path(args["state"])
    return options
