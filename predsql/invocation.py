"""What one command invocation shares between the entry point, the CLI and the Python API.

Kept free of heavy imports: the entry point creates it before the rest of
predsql is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from predsql.interrupts import Interrupt


@dataclass
class Invocation:
    interrupt: Interrupt = field(default_factory=Interrupt)
    api: bool = False  # called through predsql.invoke: return, never sys.exit
    callbacks: list[Callable[[dict[str, Any]], None]] = field(default_factory=list)
    result: Any = None  # what the command returned (tasks.CommandResult for run/build/...)
    exit_code: int | None = None
    error: BaseException | None = None  # the PredsqlError that ended the command, if any
