"""SIGINT / SIGTERM during a run: stop cleanly instead of dying mid-write.

The handler marks the run interrupted, interrupts every running DuckDB query and
asks onnxruntime to terminate its running calls. The running models fail and
roll back (their temporary tables are dropped, the old tables stay), the rest
are marked skipped, run_results.json is written, and the exit code is 2.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import duckdb


class Interrupt:
    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal_name = ""
        self._cursors: set[duckdb.DuckDBPyConnection] = set()
        self._on_interrupt: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def is_set(self) -> bool:
        return self.event.is_set()

    def watch(self, cursor: duckdb.DuckDBPyConnection) -> None:
        with self._lock:
            self._cursors.add(cursor)
        if self.is_set():
            cursor.interrupt()

    def forget(self, cursor: duckdb.DuckDBPyConnection) -> None:
        with self._lock:
            self._cursors.discard(cursor)

    def on_interrupt(self, action: Callable[[], None]) -> None:
        self._on_interrupt.append(action)

    def trigger(self, name: str) -> None:
        self.signal_name = name
        self.event.set()
        with self._lock:
            cursors = list(self._cursors)
        for cursor in cursors:
            try:
                cursor.interrupt()
            except duckdb.Error:
                pass
        for action in self._on_interrupt:
            action()


@contextmanager
def handle_signals(interrupt: Interrupt) -> Iterator[Interrupt]:
    """Route SIGINT and SIGTERM to `interrupt` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield interrupt
        return

    def handler(signum: int, _frame: Any) -> None:
        interrupt.trigger(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield interrupt
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
