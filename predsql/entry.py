"""The `predsql` console script: record signals first, then import the rest.

Importing numpy, DuckDB and onnxruntime takes a second or more; a SIGTERM or
SIGINT that arrives meanwhile is recorded here and stops the command cleanly as
soon as it starts (exit 2, run_results.json written), instead of killing
Python half-way through its imports. Once the command has decided its exit
code, later signals are ignored so that the code reaches the scheduler.
"""

from __future__ import annotations

import signal

from predsql.interrupts import SIGNALS, ignored_by_parent, record_signals
from predsql.invocation import Invocation


def main() -> None:
    invocation = Invocation()
    record_signals(invocation.interrupt)
    try:
        from predsql.cli import main as cli

        cli(obj=invocation)
    finally:
        for sig in SIGNALS:  # the outcome is decided and written: exit with its code
            if not ignored_by_parent(sig):
                signal.signal(sig, signal.SIG_IGN)
