"""What the user sees: events (predsql/events.py) printed as text or JSON, progress, a log file.

Text mode prints each event's line (node lines with the local time, errors on
stderr); `--log-format json` prints one JSON object per event on stdout;
`--quiet` keeps errors and the final summary. Every event also goes to
`logs/predsql.log` and to the callbacks of the Python API.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from predsql import events
from predsql.events import Event
from predsql.jinja import redact_secrets, secret_values

if TYPE_CHECKING:
    from rich.console import Console as RichConsole
    from rich.progress import Progress

DEFAULT_PROGRESS_INTERVAL = 10.0
Callback = Callable[[dict[str, Any]], None]
# what rich would change in a line printed without markup: emoji codes, tabs, control codes
_RICH_REWRITES = re.compile(r":\S*:|[^\S ]|[\x00-\x1f\x7f]")


class Console:
    """One object for all output; `quiet` and `json_logs` change how, not what."""

    def __init__(
        self,
        *,
        quiet: bool = False,
        json_logs: bool = False,
        debug: bool = False,
        log_file: Path | None = None,
        progress_interval: float = DEFAULT_PROGRESS_INTERVAL,
        callbacks: Iterable[Callback] = (),
        invocation_id: str = "",
    ) -> None:
        self.quiet = quiet
        self.json_logs = json_logs
        self.debug_enabled = debug
        self.progress_interval = progress_interval
        self.callbacks = list(callbacks)
        self.invocation_id = invocation_id
        self._out: RichConsole | None = None
        self._err: RichConsole | None = None
        self._lock = threading.Lock()
        self._secrets = secret_values()
        self._log = None
        if log_file is not None:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            self._log = log_file.open("a", encoding="utf-8")

    @property
    def out(self) -> RichConsole:
        """rich, imported on first use: a line to a file or pipe needs none of it."""
        if self._out is None:
            from rich.console import Console as RichConsole

            self._out = RichConsole(highlight=False, soft_wrap=True)
        return self._out

    @property
    def err(self) -> RichConsole:
        if self._err is None:
            from rich.console import Console as RichConsole

            self._err = RichConsole(stderr=True, highlight=False, soft_wrap=True)
        return self._err

    def close(self) -> None:
        if self._log:
            self._log.close()
            self._log = None

    # -- events -------------------------------------------------------------
    def emit(self, event: Event) -> None:
        if event.level == "debug" and not self.debug_enabled:
            return
        if not event.msg.strip():
            return  # no empty events
        message = redact_secrets(event.msg, self._secrets)
        now = datetime.now(timezone.utc)
        stamp = now.isoformat(timespec="milliseconds")
        record = {"ts": stamp, **event.record(), "msg": message}
        if self.invocation_id:
            record["invocation_id"] = self.invocation_id
        with self._lock:
            if self._log:
                self._log.write(f"{stamp} [{event.level}] {message}\n")
                self._log.flush()
            for callback in self.callbacks:
                callback(json.loads(redact_secrets(json.dumps(record, default=str),
                                                   self._secrets)))
            if self.quiet and event.level != "error" and not event.summary:
                return
            if self.json_logs:
                sys.stdout.write(redact_secrets(json.dumps(record, default=str), self._secrets)
                                 + "\n")
                sys.stdout.flush()
                return
            plain = not _RICH_REWRITES.search(message)
            if event.stamped:
                message = f"{time.strftime('%H:%M:%S')}  {message}"
            elif event.indented:
                message = f"{' ' * 10}{message}"
            to_err = event.level == "error" and not event.stamped
            stream = sys.stderr if to_err else sys.stdout
            if plain and _plain_stream(stream):  # what rich would write, without rich
                stream.write(message + "\n")
                stream.flush()
                return
            target = self.err if to_err else self.out
            target.print(message, style=event.style, markup=False)

    def info(self, message: str, **data: Any) -> None:
        self.emit(events.log("info", message, **data))

    def warn(self, message: str, **data: Any) -> None:
        self.emit(events.log("warn", message, **data))

    def error(self, message: str, **data: Any) -> None:
        self.emit(events.log("error", message, **data))

    def debug(self, message: str, **data: Any) -> None:
        if self.debug_enabled:
            self.emit(events.log("debug", message, **data))

    # -- progress -----------------------------------------------------------
    @property
    def shows_progress(self) -> bool:
        """Whether a running ML stage reports progress (a bar, or periodic events)."""
        return not self.quiet

    @property
    def is_terminal(self) -> bool:
        if self.json_logs or _plain_stream(sys.stdout):
            return False
        return self.out.is_terminal

    @contextmanager
    def progress(self, node: Any, functions: list[str], total: int | None) -> Iterator[Any]:
        """A bar on a terminal; elsewhere (and in JSON) a `progress` event every
        `progress_interval` seconds while the stage runs, stuck or not."""
        if not self.shows_progress:
            yield _NullProgress()
            return
        if self.is_terminal:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                       TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
                       TimeRemainingColumn()]
            description = f"{node.name}: {', '.join(f + '()' for f in functions)}"
            with Progress(*columns, console=self.out, transient=True) as bar:
                task = bar.add_task(description, total=total, rate="")
                yield _BarProgress(bar, task)
            return
        ticker = _PeriodicProgress(self, node, functions, total, self.progress_interval)
        try:
            yield ticker
        finally:
            ticker.stop()


def _plain_stream(stream: Any) -> bool:
    """A file or pipe rich would treat as one (no colours, no width, not Jupyter)."""
    if os.environ.get("TTY_COMPATIBLE") or os.environ.get("FORCE_COLOR") is not None:
        return False
    if "IPython" in sys.modules or "idlelib" in sys.modules:
        return False
    try:
        return not stream.isatty()
    except (AttributeError, ValueError):
        return False


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


class _PeriodicProgress:
    """Emits a progress event every `interval` seconds from a timer thread, so a
    stage that is stuck still says so (rows done stops moving)."""

    def __init__(self, console: Console, node: Any, functions: list[str], total: int | None,
                 interval: float) -> None:
        self.console = console
        self.node = node
        self.functions = functions
        self.total = total
        self.done = 0
        self.start = time.monotonic()
        self._stopped = threading.Event()
        self._thread = None
        if interval > 0:
            self._thread = threading.Thread(target=self._loop, args=(interval,), daemon=True,
                                            name="predsql-progress")
            self._thread.start()

    def advance(self, rows: int) -> None:
        self.done += rows

    def _loop(self, interval: float) -> None:
        while not self._stopped.wait(interval):
            self.console.emit(events.progress(self.node, self.functions, self.done, self.total,
                                              time.monotonic() - self.start))

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()
