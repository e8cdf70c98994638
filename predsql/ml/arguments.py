"""The arguments of an ML call, in the model's order, checked against the names of its
inputs: named arguments (`f(income := x)`) are placed by name; a positional argument
that is a column named like another argument (a swapped column) is an error."""

from __future__ import annotations

import difflib

from sqlglot import exp

from predsql.ml.specs import MlFunction

NAMED = (exp.PropertyEQ, exp.Kwarg)


class ArgumentProblem(ValueError):
    """A call whose arguments do not fit the function; the message says how to fix it."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def is_named(arg: exp.Expression) -> bool:
    return isinstance(arg, NAMED)


def uses_named(call: exp.Anonymous) -> bool:
    return any(is_named(a) for a in call.expressions)


def _names_hint(fn: MlFunction) -> str:
    names = fn.argument_names()
    example = ", ".join(f"{n} := ..." for n in names[:3])
    return f"pass them in the order of `predsql functions` ({fn.signature()}), or by name: " \
           f"{fn.name}({example}{', ...' if len(names) > 3 else ''})"


def call_arguments(call: exp.Anonymous, fn: MlFunction) -> list[exp.Expression]:
    """The argument expressions in the model's order; raises ArgumentProblem."""
    args = list(call.expressions)
    names = [n.lower() if n else None for n in fn.argument_names()]
    if len(args) != fn.arity:
        raise ArgumentProblem(
            f"calls {fn.name}() with {len(args)} arguments; it takes {fn.arity}: "
            f"{fn.signature()}",
            f"see {fn.yml_path} and the model's inputs")
    positional = [a for a in args if not is_named(a)]
    if any(is_named(a) for a in args[:len(positional)]):
        raise ArgumentProblem(f"calls {fn.name}() with positional arguments after named ones",
                              _names_hint(fn))
    for position, arg in enumerate(positional):
        _check_position(fn, names, position, arg)
    if len(positional) == len(args):
        return args
    if not all(names):
        raise ArgumentProblem(
            f"calls {fn.name}() with named arguments, but some of its inputs have no names",
            f"name them with `columns:` under `inputs:` in {fn.yml_path}")
    placed: dict[str, exp.Expression] = {}
    for arg in args[len(positional):]:
        name = arg.this.name.lower()
        if name not in names:
            close = difflib.get_close_matches(name, [n for n in names if n], n=1)
            raise ArgumentProblem(
                f"calls {fn.name}() with an argument named {name!r}, which it does not have"
                + (f"; did you mean {close[0]!r}?" if close else ""),
                f"its arguments are: {', '.join(n for n in names if n)}")
        if name in placed or names.index(name) < len(positional):
            raise ArgumentProblem(f"passes argument {name!r} of {fn.name}() twice", _names_hint(fn))
        placed[name] = arg.expression
    return positional + [placed[n] for n in names[len(positional):] if n is not None]


def _check_position(fn: MlFunction, names: list[str | None], position: int,
                    arg: exp.Expression) -> None:
    if not isinstance(arg, exp.Column):
        return
    column = arg.name.lower()
    if column in names and names[position] is not None and names[position] != column:
        expected = names.index(column)
        raise ArgumentProblem(
            f"passes the column {arg.name!r} as argument {position + 1} of {fn.name}(), but the "
            f"model takes {column!r} as argument {expected + 1} (argument {position + 1} is "
            f"{names[position]!r}): swapped columns would give wrong scores",
            _names_hint(fn))


def positional_sql(tree: exp.Expression, functions: dict[str, MlFunction]) -> str:
    """The SQL with every named ML call rewritten positionally (for DuckDB to bind)."""
    tree = tree.copy()
    for call in list(tree.find_all(exp.Anonymous)):
        fn = functions.get(str(call.this).lower())
        if fn is not None and uses_named(call):
            call.set("expressions", [a.copy() for a in call_arguments(call, fn)])
    return tree.sql(dialect="duckdb")
