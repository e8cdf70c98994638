"""Macro definitions read from a package's files, compiled once, called as dbt calls them.

Each macro is compiled as a template of its own (as dbt does), so a macro that
calls another one by its plain name finds it through the namespace it runs in
(a project's override wins) and never through the file it was written in.
Templates are compiled on first use, once per run.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from predsql.dbt.blocks import extract_blocks
from predsql.errors import PredsqlError, RenderError
from predsql.jinja import MacroReturn, compile_named

_TEST_OPEN_RE = re.compile(r"^{%(-?)\s*test\s+")
_TEST_CLOSE_RE = re.compile(r"{%(-?)\s*endtest(\s*-?%})$")


@dataclass(frozen=True)
class MacroDef:
    """One `{% macro %}` (or `{% test %}`, named `test_<name>`) of a package."""

    package: str
    name: str
    kind: str       # "macro" | "test"
    path: str       # shown in errors: relative to the root project where possible
    line: int
    source: str     # Jinja text of this macro alone, padded so line numbers match the file

    @property
    def unique_id(self) -> str:
        return f"macro.{self.package}.{self.name}"


def _macro_source(kind: str, text: str, line: int) -> str:
    if kind == "test":
        text = _TEST_OPEN_RE.sub(lambda m: "{%" + m.group(1) + " macro test_", text, count=1)
        text = _TEST_CLOSE_RE.sub(lambda m: "{%" + m.group(1) + " endmacro" + m.group(2), text)
    return "\n" * (line - 1) + text


def read_macro_file(package: str, path: Path, shown: str, text: str | None = None) -> list[MacroDef]:
    """The macros and generic tests defined in one file."""
    if text is None:
        text = path.read_text(encoding="utf-8")
    result = []
    for block in extract_blocks(text, shown):
        if block.kind not in ("macro", "test"):
            continue
        name = f"test_{block.name}" if block.kind == "test" else block.name
        result.append(MacroDef(package, name, block.kind, shown, block.line,
                               _macro_source(block.kind, block.source, block.line)))
    return result


def read_macros(package: str, files: Iterable[tuple[Path, str]]) -> list[MacroDef]:
    """Every macro of a package from its (path, shown path) files; duplicates are errors."""
    macros: list[MacroDef] = []
    seen: dict[str, MacroDef] = {}
    for path, shown in files:
        for macro in read_macro_file(package, path, shown):
            if macro.name in seen:
                first = seen[macro.name]
                raise RenderError(
                    f"macro {macro.name!r} of package {package!r} is defined twice "
                    f"(also in {first.path}:{first.line})",
                    path=macro.path, line=macro.line, hint="rename or remove one of them")
            seen[macro.name] = macro
            macros.append(macro)
    return macros


class TemplateCache:
    """Compiled templates of macros, shared by every namespace of one environment."""

    def __init__(self, env: jinja2.Environment) -> None:
        self.env = env
        self._templates: dict[str, jinja2.Template] = {}
        self._lock = threading.Lock()

    def template(self, macro: MacroDef) -> jinja2.Template:
        key = macro.unique_id
        template = self._templates.get(key)
        if template is None:
            with self._lock:
                template = self._templates.get(key)
                if template is None:
                    template = compile_named(self.env, macro.source, macro.path)
                    self._templates[key] = template
        return template


class MacroFunction:
    """A macro as the templates see it: called like a function, `return()` honoured.

    The Jinja macro is made on first call, in the namespace `context` (a dict the
    renderer keeps current), so names inside the macro resolve as dbt resolves them.
    """

    __slots__ = ("definition", "_cache", "_context", "_macro")

    def __init__(self, definition: MacroDef, cache: TemplateCache,
                 context: MutableMapping[str, Any]) -> None:
        self.definition = definition
        self._cache = cache
        self._context = context
        self._macro: Any = None

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def package_name(self) -> str:
        return self.definition.package

    def _load(self) -> Any:
        template = self._cache.template(self.definition)
        ctx = template.new_context(self._context, shared=True)
        try:
            for _ in template.root_render_func(ctx):
                pass
        except PredsqlError:
            raise
        except Exception as exc:
            raise RenderError(f"error while defining macro {self.definition.name!r}: {exc}",
                              path=self.definition.path, line=self.definition.line) from exc
        self._macro = ctx.vars[self.definition.name]
        return self._macro

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        macro = self._macro or self._load()
        try:
            return macro(*args, **kwargs)
        except MacroReturn as ret:
            return ret.value

    def __repr__(self) -> str:
        return f"<macro {self.definition.package}.{self.definition.name}>"
