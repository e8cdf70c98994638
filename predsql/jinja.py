"""The sandboxed Jinja environment shared by SQL and YAML rendering."""

from __future__ import annotations

import contextvars
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import jinja2
import jinja2.sandbox

from predsql.errors import RenderError

SECRET_PREFIXES = ("PREDSQL_SECRET_", "DBT_ENV_SECRET_")


class _Missing:
    """Marker for `env_var('X')` without a default."""


PARSING: contextvars.ContextVar[bool] = contextvars.ContextVar("predsql_parsing", default=False)


class DbtUndefined(jinja2.Undefined):
    """Undefined names as dbt treats them.

    While compiling: an undefined name renders as '' and is false, but calling it
    or reading an attribute of it is an error (`'x' is undefined`). While parsing
    (`PARSING` set): anything may be done with it, as dbt's parse pass allows.
    Names the sandbox refused are errors in both passes.
    """

    __slots__ = ()

    def _lenient(self) -> bool:
        return PARSING.get() and self._undefined_exception is not jinja2.exceptions.SecurityError

    def __getattr__(self, name: str) -> Any:
        if name[:2] == "__":
            raise AttributeError(name)
        if self._lenient():
            return self
        return self._fail_with_undefined_error()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._lenient():
            return self
        return self._fail_with_undefined_error()

    def __getitem__(self, key: Any) -> Any:
        if self._lenient():
            return self
        return self._fail_with_undefined_error()

    def __str__(self) -> str:
        if self._undefined_exception is jinja2.exceptions.SecurityError:
            self._fail_with_undefined_error()
        return ""

    def __iter__(self) -> Iterator[Any]:
        if self._undefined_exception is jinja2.exceptions.SecurityError:
            self._fail_with_undefined_error()
        return iter(())


def make_environment(undefined: type[jinja2.Undefined] = jinja2.StrictUndefined,
                     mutable: bool = False) -> jinja2.sandbox.SandboxedEnvironment:
    """A sandboxed environment: no attribute access to Python internals or private
    members. `mutable` lets templates change the lists and dicts they build
    (`{% do cols.append(c) %}`), as dbt's environment and every package rely on."""
    kind = (jinja2.sandbox.SandboxedEnvironment if mutable
            else jinja2.sandbox.ImmutableSandboxedEnvironment)
    env = kind(
        extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"],
        undefined=undefined,
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
    return compile_named(env, source, path, named=False)


def compile_named(env: jinja2.Environment, source: str, path: Path | str,
                  named: bool = True) -> jinja2.Template:
    """Compile `source`; with `named`, tracebacks carry `path` as the template's file."""
    try:
        if not named:
            return env.from_string(source)
        cache = env.bytecode_cache
        bucket = cache.get_bucket(env, str(path), str(path), source) if cache else None
        code = bucket.code if bucket is not None else None
        if code is None:
            code = env.compile(source, name=str(path), filename=str(path))
            if cache is not None and bucket is not None:
                bucket.code = code
                cache.set_bucket(bucket)
        return env.template_class.from_code(env, code, env.make_globals(None))
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
    except (TypeError, ValueError, AttributeError, LookupError, ArithmeticError) as exc:
        raise RenderError(
            f"error while rendering: {exc}", path=path, line=_template_line(exc)
        ) from exc


def template_location(exc: BaseException) -> tuple[str | None, int | None]:
    """(file, line) of the innermost template frame an exception passed through."""
    lineno = getattr(exc, "lineno", None)
    if lineno and isinstance(exc, jinja2.TemplateSyntaxError):
        return exc.filename, int(lineno)
    tb = exc.__traceback__
    found: tuple[str | None, int | None] = (None, None)
    while tb is not None:
        frame_globals = tb.tb_frame.f_globals
        template = frame_globals.get("__jinja_template__")
        if template is not None:
            found = (template.filename, template.get_corresponding_lineno(tb.tb_lineno))
        elif "__jinja_exception__" in frame_globals:
            found = (tb.tb_frame.f_code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    if found[0] == "<template>":
        found = (None, found[1])
    return found


def _template_line(exc: BaseException) -> int | None:
    """The template line an exception was raised from, via its traceback."""
    return template_location(exc)[1]
