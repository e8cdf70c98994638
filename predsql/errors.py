"""Every error a user can cause, in one small tree.

PredsqlError
├── ProjectError      project files, profiles, YAML, config keys     (exit 2)
├── RenderError       Jinja rendering of a model, test or macro       (exit 2)
├── CompileError      refs, cycles, SQL parsing, ML call checks       (exit 2)
├── RegistryError     functions/*.yml and the ONNX files they name    (exit 2)
├── SelectionError    --select / --exclude syntax                     (exit 2)
├── UsageError        flags that do not fit together                  (exit 2)
├── DatabaseLockedError  the database file is used by another process (exit 2)
├── DeviceError       --device / device: asks for a device not usable here (exit 2)
└── ExecutionError    a node failed while running (marks the node)   (exit 1)
    └── InferenceError  bad values met while an ML function ran

Each error carries the file (and line where known) it is about, what was
expected and how to fix it. The CLI prints `format()`; a Python traceback
appears only with --debug.
"""

from __future__ import annotations

from pathlib import Path


class PredsqlError(Exception):
    """Base of all errors a user can cause."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        self.hint = hint

    @property
    def location(self) -> str | None:
        if self.path is None:
            return None
        return f"{self.path}:{self.line}" if self.line else self.path

    def format(self) -> str:
        parts = []
        if self.location:
            parts.append(f"{self.location}: ")
        parts.append(self.message)
        if self.hint:
            parts.append(f"\n  hint: {self.hint}")
        return "".join(parts)

    def __str__(self) -> str:
        return self.format()


class ProjectError(PredsqlError):
    """The project folder, its YAML files or a profile are invalid."""


class RenderError(PredsqlError):
    """Jinja could not render a file."""


class CompileError(PredsqlError):
    """A rendered node cannot be compiled: bad refs, cycles, bad ML calls."""


class UpstreamCompileError(CompileError):
    """An ephemeral model a node selects from failed to compile: as in dbt, the node is
    skipped (with this error as the reason), not failed."""


class RegistryError(PredsqlError):
    """An ML function definition or its ONNX file is invalid."""


class SelectionError(PredsqlError):
    """A node selector cannot be parsed."""


class UsageError(PredsqlError):
    """The command line asks for something that does not fit together."""


class DatabaseLockedError(PredsqlError):
    """Another process holds the database file."""


class DeviceError(PredsqlError):
    """The device asked for (`--device cuda`, `device: cuda`) cannot be used here."""


class ExecutionError(PredsqlError):
    """A node failed while it ran; its descendants are skipped."""

    exit_code = 1


class InferenceError(ExecutionError):
    """An ML function met values it cannot score (e.g. NULLs with on_null: error)."""
