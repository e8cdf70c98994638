"""Rendering a compiled template in a live namespace, and mapping failures to
RenderErrors that name the template's file and line."""

from __future__ import annotations

from typing import Any

import jinja2

from predsql.errors import PredsqlError, RenderError
from predsql.jinja import MacroReturn, template_location
from predsql.nodes import Node

UNDEFINED_HINT = ("this can happen when calling a macro that does not exist: check for typos, "
                  "or install the package that defines it (predsql deps)")


def run_template(template: jinja2.Template, context: dict[str, Any], path: str,
                 node: Node | None) -> str:
    """Render with the live namespace dict as the template's globals."""
    try:
        ctx = template.new_context(context, shared=True)
        return template.environment.concat(template.root_render_func(ctx))  # type: ignore[attr-defined]
    except MacroReturn as ret:
        return "" if ret.value is None else str(ret.value)
    except Exception as exc:
        raise as_render_error(exc, path, node) from exc


def located(exc: PredsqlError, path: str, node: Node | None) -> PredsqlError:
    where, line = template_location(exc)
    if exc.path is None:
        exc.path = where or path
        exc.line = exc.line or line
    if node is not None and exc.path != node.rel_path and "while compiling" not in exc.message:
        exc.message += f" (while compiling {node.resource_type} {node.name!r}, {node.rel_path})"
    return exc


def as_render_error(exc: BaseException, path: str, node: Node | None) -> PredsqlError:
    """Any failure while rendering as a RenderError with the template file and line."""
    if isinstance(exc, PredsqlError):
        return located(exc, path, node)
    where, line = template_location(exc)
    if isinstance(exc, jinja2.exceptions.SecurityError):
        error = RenderError(f"unsafe Jinja refused by the sandbox: {exc}",
                            hint="templates may not reach into Python internals")
    elif isinstance(exc, jinja2.UndefinedError):
        message = getattr(exc, "message", None) or str(exc)
        if "unsafe" in message:
            error = RenderError(f"unsafe Jinja refused by the sandbox: {message}",
                                hint="templates may not reach into Python internals")
        else:
            error = RenderError(message, hint=UNDEFINED_HINT)
    elif isinstance(exc, jinja2.TemplateError):
        error = RenderError(f"Jinja error: {getattr(exc, 'message', None) or exc}")
    elif isinstance(exc, (TypeError, ValueError, AttributeError, KeyError, IndexError,
                          ZeroDivisionError, ArithmeticError, RecursionError)):
        error = RenderError(f"error while rendering: {type(exc).__name__}: {exc}")
    else:
        raise exc
    error.path = where or path
    error.line = line
    return located(error, path, node)
