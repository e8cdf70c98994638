"""Templates made only of text and `{{ call(literal, ...) }}` expressions, evaluated
without compiling Jinja.

Most models are SQL with a few `{{ ref('x') }}`, `{{ source('a', 'b') }}` or
`{{ dbt_utils.generate_surrogate_key(['a', 'b']) }}`; compiling each of them with
Jinja costs milliseconds, which adds up to seconds on large projects. Such an
expression is read with Python's parser when its Jinja meaning is the same
(literals, names, attributes, items and calls; nothing else), and evaluated with
the sandbox's own attribute, item and call checks. Anything else (or a name the
context lacks) falls back to Jinja.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jinja2.sandbox

_EXPRESSION_RE = re.compile(r"{{(.*?)}}", re.DOTALL)
_LITERAL_NAMES = {"true": True, "True": True, "false": False, "False": False,
                  "none": None, "None": None}
_ALLOWED = (ast.Expression, ast.Call, ast.Attribute, ast.Name, ast.Constant, ast.List,
            ast.Tuple, ast.Dict, ast.Subscript, ast.keyword, ast.Load, ast.UnaryOp, ast.USub,
            ast.UAdd)
SIMPLE_CALLS = ("ref", "source")


class Fallback(Exception):
    """The expression must be rendered by Jinja after all."""


@dataclass(frozen=True)
class Expression:
    tree: ast.Expression
    line: int
    simple: bool   # only ref()/source() with string literals, or `this`


@dataclass(frozen=True)
class ExpressionTemplate:
    parts: tuple[str | Expression, ...]

    @property
    def simple(self) -> bool:
        return all(isinstance(p, str) or p.simple for p in self.parts)


def _check(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            return False
        if isinstance(node, ast.Constant) and not isinstance(
                node.value, (str, int, float, bool, type(None))):
            return False
        if isinstance(node, ast.Call) and any(
                isinstance(a, ast.Starred) for a in node.args):
            return False
        if isinstance(node, ast.keyword) and node.arg is None:
            return False
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            return False
        if isinstance(node, ast.UnaryOp) and not (
                isinstance(node.operand, ast.Constant)
                and isinstance(node.operand.value, (int, float))):
            return False
    return True


def _prefixed_strings(tree: ast.AST, source: str) -> bool:
    """r'..', b'..', f'..': Python reads them, Jinja does not."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Constant, ast.JoinedStr)) and isinstance(
                getattr(node, "value", ""), (str, bytes)):
            segment = ast.get_source_segment(source, node) or ""
            if segment[:1] not in ("'", '"'):
                return True
    return False


def _simple(tree: ast.Expression) -> bool:
    body = tree.body
    if isinstance(body, ast.Name):
        return body.id == "this"
    return (isinstance(body, ast.Call) and isinstance(body.func, ast.Name)
            and body.func.id in SIMPLE_CALLS and not body.keywords
            and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in body.args))


def parse_template(text: str) -> ExpressionTemplate | None:
    """The template as text and expressions, or None when Jinja must compile it."""
    if "{%" in text or "{#" in text:
        return None
    parts: list[str | Expression] = []
    position = 0
    for match in _EXPRESSION_RE.finditer(text):
        source = match.group(1)
        if source.startswith("-") or source.endswith("-"):
            return None
        try:
            tree = ast.parse(source.strip(), mode="eval")
        except SyntaxError:
            return None
        if not _check(tree) or _prefixed_strings(tree, source.strip()):
            return None
        parts.append(text[position:match.start()])
        parts.append(Expression(tree, text.count("\n", 0, match.start()) + 1, _simple(tree)))
        position = match.end()
    rest = text[position:]
    if "{{" in rest or "}}" in rest:
        return None
    parts.append(rest)
    return ExpressionTemplate(tuple(parts))


def evaluate(node: ast.AST, context: Mapping[str, Any],
             env: jinja2.sandbox.SandboxedEnvironment) -> Any:
    """Evaluate a checked expression as Jinja would (sandboxed); Fallback when unsure."""
    if isinstance(node, ast.Expression):
        return evaluate(node.body, context, env)
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id in _LITERAL_NAMES:
            return _LITERAL_NAMES[node.id]
        if node.id not in context:
            raise Fallback(node.id)
        return context[node.id]
    if isinstance(node, ast.UnaryOp):
        value = evaluate(node.operand, context, env)
        return -value if isinstance(node.op, ast.USub) else +value
    if isinstance(node, (ast.List, ast.Tuple)):
        values = [evaluate(e, context, env) for e in node.elts]
        return values if isinstance(node, ast.List) else tuple(values)
    if isinstance(node, ast.Dict):
        return {evaluate(k, context, env): evaluate(v, context, env)
                for k, v in zip(node.keys, node.values) if k is not None}
    if isinstance(node, ast.Attribute):
        return _defined(env.getattr(evaluate(node.value, context, env), node.attr))
    if isinstance(node, ast.Subscript):
        return _defined(env.getitem(evaluate(node.value, context, env),
                                    evaluate(node.slice, context, env)))
    if isinstance(node, ast.Call):
        function = evaluate(node.func, context, env)
        if not env.is_safe_callable(function):
            raise jinja2.exceptions.SecurityError(f"{function!r} is not safely callable")
        args = [evaluate(a, context, env) for a in node.args]
        kwargs = {k.arg: evaluate(k.value, context, env) for k in node.keywords if k.arg}
        return function(*args, **kwargs)
    raise Fallback(type(node).__name__)


def _defined(value: Any) -> Any:
    if isinstance(value, jinja2.Undefined):
        raise Fallback("undefined")
    return value
