"""Reading YAML files: syntax errors with lines, `{{ env_var() }}` in values."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from predsql.errors import ProjectError

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
