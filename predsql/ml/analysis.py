"""Finding ML calls in rendered SQL with sqlglot and checking them before data moves.

sqlglot is imported only when SQL is parsed: a node whose calls are in the plan cache
(ml/plan_cache.py) is not parsed again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from predsql.compiler import CompiledNode, CompiledProject
from predsql.errors import CompileError
from predsql.ml.plan_cache import CachedCalls, PlanCache
from predsql.ml.registry import Registry

if TYPE_CHECKING:
    from sqlglot import exp

CALL_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(")


@dataclass(frozen=True)
class CallInfo:
    function: str
    line: int | None
    sql: str
    named: bool = False  # passes named arguments (`f(income := x)`)
    broken: bool = False  # the function is registered but cannot be used


def parse_sql(node: CompiledNode) -> exp.Expression:
    import sqlglot
    from sqlglot.errors import ParseError

    try:
        tree = sqlglot.parse_one(node.compiled_sql, read="duckdb")
    except ParseError as exc:
        err = exc.errors[0] if exc.errors else {}
        raise CompileError(
            f"cannot parse the SQL of {node.name!r}: {err.get('description', exc)}",
            path=node.node.rel_path,
            line=err.get("line"),
            hint="predsql parses models that call ML functions; check the SQL near this line",
        ) from exc
    if tree is None:
        raise CompileError(f"{node.name!r} has no SQL statement", path=node.node.rel_path)
    return tree


def ml_calls(tree: exp.Expression, registry: Registry) -> list[exp.Anonymous]:
    from sqlglot import exp

    return [c for c in tree.find_all(exp.Anonymous) if registry.get(str(c.this))]


def _source_line(node: CompiledNode, name: str, fallback: int | None) -> int | None:
    pattern = re.compile(rf"\b{re.escape(name)}\s*\(", re.IGNORECASE)
    for number, line in enumerate(node.node.raw_sql.splitlines(), start=1):
        if pattern.search(line):
            return number
    return fallback


def _mentions(node: CompiledNode, registry: Registry) -> bool:
    """Cheap pre-filter: does the SQL call anything named like an ML function?"""
    for name in CALL_RE.findall(node.compiled_sql):
        lowered = name.lower()
        if registry.get(lowered) or registry.broken_function(lowered) or registry.suggest(lowered):
            return True
    return False


def analyze_node(node: CompiledNode, registry: Registry,
                 builtins: set[str] | frozenset[str],
                 plans: PlanCache | None = None) -> list[CallInfo]:
    """Static checks of every ML call in one node; returns the calls found. With `plans`,
    the calls of a node whose SQL and functions did not change come from there."""
    if not registry.names() or not _mentions(node, registry):
        return []
    cached = plans.calls(node) if plans is not None else None
    if cached is not None:
        calls = [CallInfo(**c) for c in cached.calls]
    else:
        calls, positional = _find_calls(node, registry, builtins)
        if plans is not None:
            plans.store_calls(node, CachedCalls(tuple(c.__dict__ for c in calls), positional))
    if calls and node.config.get("materialized") == "view":
        raise CompileError(
            f"model {node.name!r} calls ML function {calls[0].function!r} but is materialized "
            "as a view; DuckDB cannot evaluate ML functions lazily",
            path=node.node.rel_path, line=calls[0].line,
            hint="use materialized='table' (or 'incremental'), or 'ephemeral' to let its "
            "consumers evaluate the call",
        )
    return calls


def _find_calls(node: CompiledNode, registry: Registry, builtins: set[str] | frozenset[str]
                ) -> tuple[list[CallInfo], str | None]:
    """The calls, and the SQL with named arguments made positional (None when no call
    names its arguments)."""
    from sqlglot import exp

    from predsql.ml.arguments import ArgumentProblem, call_arguments, positional_sql, uses_named

    tree = parse_sql(node)
    calls: list[CallInfo] = []
    for call in tree.find_all(exp.Anonymous):
        name = str(call.this).lower()
        line = _source_line(node, name, call.meta.get("line") if call.meta else None)
        fn = registry.get(name)
        if fn is None:
            if name in builtins:
                continue
            if registry.broken_function(name):
                calls.append(CallInfo(name, line, call.sql(dialect="duckdb"), broken=True))
                continue
            close = registry.suggest(name)
            if close:
                raise CompileError(
                    f"{node.name!r} calls unknown function {name!r}",
                    path=node.node.rel_path, line=line,
                    hint=f"did you mean the ML function {close!r}? (see `predsql functions`)",
                )
            continue
        try:
            call_arguments(call, fn)
        except ArgumentProblem as problem:
            raise CompileError(f"{node.name!r} {problem.message}", path=node.node.rel_path,
                               line=line, hint=problem.hint) from None
        calls.append(CallInfo(fn.name, line, call.sql(dialect="duckdb"), uses_named(call)))
    named = any(c.named for c in calls)
    return calls, positional_sql(tree, registry.functions) if named else None


def duckdb_builtin_names() -> set[str]:
    import duckdb

    with duckdb.connect() as con:
        rows = con.execute("SELECT DISTINCT lower(function_name) FROM duckdb_functions()")
        return {r[0] for r in rows.fetchall()}


def attach_ml_calls(compiled: CompiledProject, registry: Registry,
                    plans: PlanCache | None = None) -> CompiledProject:
    """Record each node's ML calls (and their fingerprints) in `node.extra`."""
    if not registry.names():
        return compiled
    builtins = registry.builtins or duckdb_builtin_names()
    nodes = dict(compiled.nodes)
    for uid, node in compiled.nodes.items():
        if node.resource_type == "seed":
            continue
        calls = analyze_node(node, registry, builtins, plans)
        if calls:
            used = sorted({c.function for c in calls if not c.broken})
            extra = {
                **node.extra,
                "ml_calls": [c.__dict__ for c in calls],
                "ml_functions": {f: registry.functions[f].fingerprint for f in used},
            }
            broken = sorted({c.function for c in calls if c.broken})
            if broken:
                extra["ml_broken"] = broken
            nodes[uid] = replace(node, extra=extra)
    return replace(compiled, nodes=nodes)

