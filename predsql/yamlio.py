"""Reading YAML files: syntax errors with lines, `{{ env_var() }}` in values."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jinja2
import yaml

from predsql.errors import ProjectError
from predsql.jinja import compile_template, render_compiled

StringRenderer = Callable[[str, Path], str]


def read_yaml(path: Path, render: StringRenderer | None = None) -> Any:
    """Parse one YAML file; render Jinja in string values when `render` is given."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProjectError(f"cannot read file: {exc.strerror}", path=path) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ProjectError(
            f"invalid YAML: {problem}",
            path=path,
            line=mark.line + 1 if mark else None,
            hint="check the indentation and quoting around this line",
        ) from exc
    if render is None:
        return data
    return render_values(data, lambda s: render(s, path))


def render_values(data: Any, render: Callable[[str], str]) -> Any:
    """Apply `render` to every string containing Jinja, recursively."""
    if isinstance(data, str):
        return render(data) if "{{" in data or "{%" in data else data
    if isinstance(data, list):
        return [render_values(item, render) for item in data]
    if isinstance(data, dict):
        return {key: render_values(value, render) for key, value in data.items()}
    return data


def expect_mapping(data: Any, path: Path, what: str) -> dict[str, Any]:
    """The top level of a YAML file must be a mapping (or empty)."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ProjectError(
            f"expected a mapping at the top of {what}, found {type(data).__name__}",
            path=path,
            line=1,
        )
    return data


_SINGLE_EXPRESSION_RE = re.compile(r"^{{-?(?P<expr>(?:(?!}}|{{|{%).)*?)-?}}$", re.DOTALL)
_BOOLEANS = {"true": True, "false": False}


def render_native(env: jinja2.Environment, text: str, context: Mapping[str, Any],
                  path: Path | str) -> Any:
    """Render a YAML value as dbt's native renderer does: a value that is one Jinja
    expression keeps its type (`{{ var('on', false) }}` is a boolean); text that
    renders to "True"/"False" becomes a boolean; anything else is a string."""
    match = _SINGLE_EXPRESSION_RE.match(text)
    if match:
        value = _evaluate(env, match.group("expr"), context, path)
        if not isinstance(value, str):
            return value
        return _BOOLEANS.get(value.strip().lower(), value)
    rendered = render_compiled(compile_template(env, text, path), context, path)
    return _BOOLEANS.get(rendered.strip().lower(), rendered)


def _evaluate(env: jinja2.Environment, expr: str, context: Mapping[str, Any],
              path: Path | str) -> Any:
    template = compile_template(env, "{% do predsql_keep(" + expr + ") %}", path)
    kept: list[Any] = []
    render_compiled(template, {**context, "predsql_keep": kept.append}, path)
    return kept[0] if kept else None


class LineStr(str):
    """A YAML string that remembers the line it was read from (while reading only)."""

    line: int = 0


class _LineLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Parses in C (libyaml) when available; strings are built here, with their line."""


def _construct_line_str(loader: Any, node: yaml.Node) -> LineStr:
    value = LineStr(loader.construct_scalar(node))  # type: ignore[arg-type]
    value.line = node.start_mark.line + 1
    return value


_LineLoader.add_constructor("tag:yaml.org,2002:str", _construct_line_str)


def read_yaml_lines(path: Path) -> Any:
    """Parse one YAML file; its strings carry `.line` (see `line_of`, `plain`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProjectError(f"cannot read file: {exc.strerror}", path=path) from exc
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ProjectError(
            f"invalid YAML: {getattr(exc, 'problem', None) or exc}", path=path,
            line=mark.line + 1 if mark else None,
            hint="check the indentation and quoting around this line") from exc


def line_of(value: Any) -> int | None:
    """The line a value read by `read_yaml_lines` starts on (for a mapping: its first key)."""
    if isinstance(value, LineStr):
        return value.line or None
    if isinstance(value, dict):
        for key in value:
            return line_of(key)
    if isinstance(value, list) and value:
        return line_of(value[0])
    return None


def plain(data: Any) -> Any:
    """The same data with ordinary strings (safe to dump, compare, hash)."""
    if isinstance(data, str):
        return str(data)
    if isinstance(data, list):
        return [plain(v) for v in data]
    if isinstance(data, dict):
        return {plain(k): plain(v) for k, v in data.items()}
    return data
