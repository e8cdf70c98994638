"""The sandboxed Jinja environment shared by SQL and YAML rendering."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jinja2
import jinja2.sandbox

from predsql.errors import RenderError

SECRET_PREFIXES = ("PREDSQL_SECRET_", "DBT_ENV_SECRET_")


class _Missing:
    """Marker for `env_var('X')` without a default."""


def make_environment() -> jinja2.sandbox.ImmutableSandboxedEnvironment:
    """A sandboxed environment: no attribute access to Python internals."""
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"],
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["sql_string"] = sql_string_literal
    env.filters["sql_identifier"] = sql_identifier
    env.globals["return"] = _jinja_return
    return env


class MacroReturn(Exception):
    """Raised by `{{ return(x) }}` inside a macro, as dbt allows."""

    def __init__(self, value: Any) -> None:
        super().__init__("return")
        self.value = value


def _jinja_return(value: Any) -> str:
    raise MacroReturn(value)


def sql_string_literal(value: Any) -> str:
    """Quote a value as a SQL string literal: `{{ var('x') | sql_string }}`."""
    return "'" + str(value).replace("'", "''") + "'"


def sql_identifier(value: Any) -> str:
    """Quote a value as a SQL identifier: `{{ var('col') | sql_identifier }}`."""
    return '"' + str(value).replace('"', '""') + '"'


def make_env_var(environ: Mapping[str, str] | None = None) -> Callable[..., str]:
    environ = os.environ if environ is None else environ

    def env_var(name: str, default: Any = _Missing) -> str:
        if name in environ:
            return environ[name]
        if default is _Missing:
            raise RenderError(
                f"environment variable {name!r} is required but not set",
                hint=f"export {name}=... or pass a default: env_var('{name}', 'value')",
            )
        return str(default)

    return env_var


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of PREDSQL_SECRET_* / DBT_ENV_SECRET_* variables (3+ characters)."""
    environ = os.environ if environ is None else environ
    return [v for k, v in environ.items() if k.startswith(SECRET_PREFIXES) and len(v) >= 3]


def redact_secrets(text: str, secrets: list[str] | None = None) -> str:
    """Replace the values of secret environment variables in `text`."""
    for value in secret_values() if secrets is None else secrets:
        text = text.replace(value, "*****")
    return text


def render_template(
    env: jinja2.Environment,
    source: str,
    context: Mapping[str, Any],
    path: Path | str,
) -> str:
    """Render `source`, mapping Jinja failures to RenderError with a line."""
    return render_compiled(compile_template(env, source, path), context, path)


def compile_template(env: jinja2.Environment, source: str, path: Path | str) -> jinja2.Template:
    try:
        return env.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise RenderError(
            f"Jinja syntax error: {exc.message}",
            path=path,
            line=exc.lineno,
            hint="check the {{ }} / {% %} tags around this line",
        ) from exc


def render_compiled(
    template: jinja2.Template, context: Mapping[str, Any], path: Path | str
) -> str:
    try:
        return template.render(context)
    except RenderError as exc:
        if exc.path is None:
            exc.path = str(path)
        raise
    except jinja2.exceptions.SecurityError as exc:
        raise RenderError(
            f"unsafe Jinja refused by the sandbox: {exc}",
            path=path,
            line=_template_line(exc),
            hint="templates may not reach into Python internals",
        ) from exc
    except jinja2.TemplateError as exc:
        raise RenderError(
            f"Jinja error: {getattr(exc, 'message', None) or exc}",
            path=path,
            line=_template_line(exc),
        ) from exc
    except (TypeError, ValueError, AttributeError, KeyError, ZeroDivisionError) as exc:
        raise RenderError(
            f"error while rendering: {exc}", path=path, line=_template_line(exc)
        ) from exc


_LINE_RE = re.compile(r'File "<template>", line (\d+)')


def _template_line(exc: BaseException) -> int | None:
    """The template line an exception was raised from, via its traceback."""
    lineno = getattr(exc, "lineno", None)
    if lineno:
        return int(lineno)
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
