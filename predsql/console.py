"""What the user sees: dbt-style node lines, progress bars, JSON logs, a log file."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.console import Console as RichConsole
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from predsql.jinja import redact_secrets, secret_values

STATUS_STYLE = {
    "success": "green", "pass": "green", "warn": "yellow",
    "error": "red", "fail": "red", "skipped": "yellow",
}


class Console:
    """One object for all output; `quiet` and `json_logs` change how, not what."""

    def __init__(
        self,
        *,
        quiet: bool = False,
        json_logs: bool = False,
        debug: bool = False,
        log_file: Path | None = None,
    ) -> None:
        self.quiet = quiet
        self.json_logs = json_logs
        self.debug_enabled = debug
        self.out = RichConsole(highlight=False, soft_wrap=True)
        self.err = RichConsole(stderr=True, highlight=False, soft_wrap=True)
        self._lock = threading.Lock()
        self._secrets = secret_values()
        self._log = None
        if log_file is not None:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            self._log = log_file.open("a", encoding="utf-8")

    def close(self) -> None:
        if self._log:
            self._log.close()
            self._log = None

    def _emit(self, level: str, message: str, data: dict[str, Any] | None, style: str | None,
              stderr: bool = False) -> None:
        message = redact_secrets(message, self._secrets)
        stamp = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        with self._lock:
            if self._log:
                self._log.write(f"{stamp} [{level}] {message}\n")
                self._log.flush()
            if self.json_logs:
                record = {"ts": stamp, "level": level, "msg": message, **(data or {})}
                sys.stdout.write(redact_secrets(json.dumps(record, default=str), self._secrets) + "\n")
                sys.stdout.flush()
                return
            if self.quiet and level not in ("error",):
                return
            target = self.err if stderr else self.out
            target.print(message, style=style, markup=False)

    def info(self, message: str, **data: Any) -> None:
        self._emit("info", message, data, None)

    def warn(self, message: str, **data: Any) -> None:
        self._emit("warn", message, data, "yellow")

    def error(self, message: str, **data: Any) -> None:
        self._emit("error", message, data, "red", stderr=True)

    def debug(self, message: str, **data: Any) -> None:
        if self.debug_enabled:
            self._emit("debug", message, data, "dim")

    def node_line(self, index: int, total: int, text: str, status: str, detail: str,
                  **data: Any) -> None:
        stamp = time.strftime("%H:%M:%S")
        left = f"{stamp}  {index} of {total} {text} "
        right = f" [{detail}]"
        dots = "." * max(3, 80 - len(left) - len(right))
        self._emit("info", f"{left}{dots}{right}", {"status": status, **data},
                   STATUS_STYLE.get(status))

    @contextmanager
    def progress(self, description: str, total: int | None) -> Iterator[Any]:
        """A progress bar (rows done, rows/s, ETA); a no-op when not on a terminal."""
        if self.quiet or self.json_logs or not self.out.is_terminal:
            yield _NullProgress()
            return
        columns = [
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        ]
        with Progress(*columns, console=self.out, transient=True) as bar:
            task = bar.add_task(description, total=total, rate="")
            yield _BarProgress(bar, task)


class _NullProgress:
    def advance(self, rows: int) -> None:
        pass


class _BarProgress:
    def __init__(self, bar: Progress, task: Any) -> None:
        self.bar = bar
        self.task = task
        self.start = time.perf_counter()
        self.done = 0

    def advance(self, rows: int) -> None:
        self.done += rows
        rate = self.done / max(time.perf_counter() - self.start, 1e-9)
        self.bar.update(self.task, advance=rows, rate=f"{rate:,.0f} rows/s")
