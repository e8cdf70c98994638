"""SIGINT / SIGTERM: stop cleanly at any phase instead of dying mid-write.

While predsql prepares (starts, loads the project, waits for the database,
compiles, checks) a signal raises `Interrupted` in the main thread: nothing has
been written yet, so stopping at once is safe. While nodes run, the handler
only marks the run interrupted, interrupts every running DuckDB query and asks
onnxruntime to terminate its running calls: the running models fail and roll
back (their temporary tables are dropped, the old tables stay), the rest are
marked skipped, run_results.json is written, and the exit code is 2.

A SIGINT that the parent process ignores (a background job of a
non-interactive shell) stays ignored, as it does for any well-behaved tool.
Handlers are installed only from the main thread (never from an Airflow or
Dagster worker thread, nor from `predsql.invoke` called off the main thread).

This module imports nothing heavy: the entry point installs its handlers before
the rest of predsql (numpy, DuckDB, onnxruntime) is imported.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """A signal arrived while predsql was preparing; nothing was changed yet.

    A BaseException (like KeyboardInterrupt), so `except Exception` blocks on
    the way up do not swallow it."""

    def __init__(self, signal_name: str, phase: str) -> None:
        super().__init__(f"interrupted by {signal_name} while {phase}")
        self.signal_name = signal_name
        self.phase = phase


class Interrupt:
    """What a signal does now: raise (preparing) or stop the run gracefully."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal_name = ""
        self.phase = "starting"
        self.signal_phase = ""  # the phase the first signal came in
        self.raising = True
        self._cursors: set[Any] = set()
        self._on_interrupt: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def is_set(self) -> bool:
        return self.event.is_set()

    def watch(self, cursor: Any) -> None:
        with self._lock:
            self._cursors.add(cursor)
        if self.is_set():
            _interrupt_quietly(cursor)

    def forget(self, cursor: Any) -> None:
        with self._lock:
            self._cursors.discard(cursor)

    def on_interrupt(self, action: Callable[[], None]) -> None:
        self._on_interrupt.append(action)

    def trigger(self, name: str) -> None:
        if not self.signal_name:
            self.signal_name = name
            self.signal_phase = self.phase
        self.event.set()
        with self._lock:
            cursors = list(self._cursors)
        for cursor in cursors:
            _interrupt_quietly(cursor)
        for action in self._on_interrupt:
            action()

    def check(self) -> None:
        """Raise `Interrupted` if a signal came while signals only set the flag."""
        if self.is_set():
            raise Interrupted(self.signal_name, self.signal_phase)

    @contextmanager
    def graceful(self, phase: str) -> Iterator[None]:
        """Inside: a signal only sets the flag (running nodes, writing artifacts)."""
        previous, self.raising = self.raising, False
        before, self.phase = self.phase, phase
        try:
            yield
        finally:
            self.raising = previous
            self.phase = before


def _interrupt_quietly(cursor: Any) -> None:
    try:
        cursor.interrupt()
    except Exception:  # a closed cursor, or one between statements
        pass


def ignored_by_parent(sig: signal.Signals) -> bool:
    return signal.getsignal(sig) is signal.SIG_IGN


@contextmanager
def handle_signals(interrupt: Interrupt) -> Iterator[Interrupt]:
    """Route SIGINT (unless ignored by the parent) and SIGTERM to `interrupt`,
    from the main thread only; the previous handlers come back on exit."""
    if threading.current_thread() is not threading.main_thread():
        yield interrupt
        return

    def handler(signum: int, _frame: Any) -> None:
        first = not interrupt.is_set()
        interrupt.trigger(signal.Signals(signum).name)
        if first and interrupt.raising:
            raise Interrupted(interrupt.signal_name, interrupt.signal_phase)

    previous = {sig: signal.signal(sig, handler) for sig in SIGNALS
                if not ignored_by_parent(sig)}
    try:
        yield interrupt
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def record_signals(interrupt: Interrupt) -> None:
    """The entry point's first act: until the command installs `handle_signals`,
    a signal is only recorded (Python start-up and imports take a second or more)."""
    for sig in SIGNALS:
        if not ignored_by_parent(sig):
            signal.signal(sig, lambda signum, _frame: interrupt.trigger(
                signal.Signals(signum).name))
