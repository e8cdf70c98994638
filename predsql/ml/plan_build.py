"""Building a Plan (predsql/ml/plan.py) from a model's SQL with sqlglot: the rewrite.

sqlglot is imported here only, so a run whose plans come from the plan cache
(predsql/ml/plan_cache.py) never imports it.
"""

from __future__ import annotations

from dataclasses import replace

from sqlglot import exp
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import traverse_scope

from predsql.errors import CompileError
from predsql.ml.arguments import ArgumentProblem, call_arguments
from predsql.ml.plan import MAP_ALIAS, Plan, Stage, StageCall
from predsql.ml.registry import MlFunction, Registry
from predsql.text.config import blank_as_null


def build_plan(
    sql_tree: exp.Expression,
    registry: Registry,
    schema: dict[str, dict[str, dict[str, str]]],
    work_relation: str,
    stream_name: str,
    path: str,
) -> Plan:
    """`work_relation` is a format string with `{n}` for each stage's work table."""
    tree = qualify(
        sql_tree, schema=schema, dialect="duckdb", quote_identifiers=True,
        validate_qualify_columns=False,
    )
    plan = Plan()
    counter = 0
    while True:
        scope_select, calls = _next_scope(tree, registry)
        if scope_select is None:
            break
        streamed = _streamable(scope_select, tree) and not _has_more_calls(
            tree, registry, calls)
        relation = stream_name if streamed else work_relation.format(n=len(plan.stages))
        stage, counter = _map_scope(scope_select, calls, registry, relation, counter, path)
        plan.stages.append(replace(stage, relation=relation, streamed=streamed))
    plan.final_sql = tree.sql(dialect="duckdb")
    return plan


def _is_ml(node: exp.Expression, registry: Registry) -> bool:
    return isinstance(node, exp.Anonymous) and registry.get(str(node.this)) is not None


def _ready(call: exp.Anonymous, registry: Registry) -> bool:
    return not any(_is_ml(inner, registry) for inner in call.find_all(exp.Anonymous)
                   if inner is not call)


def _next_scope(
    tree: exp.Expression, registry: Registry
) -> tuple[exp.Select | None, list[exp.Anonymous]]:
    for scope in traverse_scope(tree):
        select = scope.expression
        if not isinstance(select, exp.Select):
            continue
        calls = [
            c for c in select.find_all(exp.Anonymous)
            if _is_ml(c, registry) and _ready(c, registry)
            and c.find_ancestor(exp.Select) is select
        ]
        if calls:
            return select, calls
    return None, []


def _has_more_calls(tree: exp.Expression, registry: Registry, now: list[exp.Anonymous]) -> bool:
    ids = {id(c) for c in now}
    return any(_is_ml(c, registry) and id(c) not in ids for c in tree.find_all(exp.Anonymous))


def _streamable(select: exp.Select, tree: exp.Expression) -> bool:
    """True when the scope's rows are read exactly once on the way to the root."""
    node: exp.Expression = select
    while node is not tree:
        parent = node.parent
        if parent is None:
            return False
        if isinstance(parent, exp.CTE):
            alias = parent.alias_or_name
            refs = [t for t in tree.find_all(exp.Table) if t.name == alias and not t.db]
            if len(refs) != 1:
                return False
            node = parent.find_ancestor(exp.Select, exp.SetOperation) or tree
            if isinstance(node, exp.SetOperation):
                return False
            continue
        if isinstance(parent, exp.Subquery) and isinstance(parent.parent, (exp.From, exp.Join)):
            node = parent.parent.parent
            continue
        return False
    return True


def _source_aliases(select: exp.Select) -> set[str]:
    sources = []
    if select.args.get("from_"):
        sources.append(select.args["from_"].this)
    sources += [j.this for j in select.args.get("joins") or []]
    return {s.alias_or_name for s in sources}


def _belongs(column: exp.Column, select: exp.Select, aliases: set[str]) -> bool:
    if column.table not in aliases:
        return False
    node = column.parent
    while node is not None and node is not select:
        if isinstance(node, exp.Select) and column.table in _source_aliases(node):
            return False
        node = node.parent
    return True


def _inside(node: exp.Expression, roots: list[exp.Expression]) -> bool:
    ids = {id(r) for r in roots}
    current: exp.Expression | None = node
    while current is not None:
        if id(current) in ids:
            return True
        current = current.parent
    return False


def _split_where(select: exp.Select, registry: Registry) -> tuple[list, list]:
    where = select.args.get("where")
    if where is None:
        return [], []
    conjuncts = list(where.this.flatten()) if isinstance(where.this, exp.And) else [where.this]
    pre, post = [], []
    for conjunct in conjuncts:
        has_ml = any(_is_ml(c, registry) for c in conjunct.find_all(exp.Anonymous))
        (post if has_ml else pre).append(conjunct)
    return pre, post


def _visible_ctes(select: exp.Select, input_query: exp.Select) -> list[exp.CTE]:
    """CTEs of enclosing WITH clauses that the input query reads (transitively)."""
    visible: list[exp.CTE] = []
    node: exp.Expression | None = select
    while node is not None:
        with_ = node.args.get("with_") if isinstance(node, exp.Query) else None
        if with_ is not None:
            for cte in with_.expressions:
                if not _inside(select, [cte]):
                    visible.append(cte)
        node = node.parent
    by_name = {c.alias_or_name: c for c in visible}
    wanted: list[str] = []
    pending = [t.name for t in input_query.find_all(exp.Table) if not t.db]
    while pending:
        name = pending.pop()
        if name in by_name and name not in wanted:
            wanted.append(name)
            pending += [t.name for t in by_name[name].find_all(exp.Table) if not t.db]
    return [c for c in visible if c.alias_or_name in wanted]


def _input_query(
    select: exp.Select, projections: list[exp.Expression], pre: list[exp.Expression]
) -> exp.Select:
    query = exp.select(*[p.copy() for p in projections])
    if select.args.get("from_"):
        query.set("from_", select.args["from_"].copy())
        query.set("joins", [j.copy() for j in select.args.get("joins") or []])
    if pre:
        query.set("where", exp.Where(this=exp.and_(*[p.copy() for p in pre])))
    ctes = _visible_ctes(select, query)
    if ctes:
        query.set("with_", exp.With(expressions=[c.copy() for c in ctes]))
    return query


def _arguments(call: exp.Anonymous, fn: MlFunction, path: str) -> list[exp.Expression]:
    try:
        return call_arguments(call, fn)
    except ArgumentProblem as problem:
        raise CompileError(problem.message, path=path, hint=problem.hint) from None


def _cast(arg: exp.Expression, fn: MlFunction, sql_type: str) -> exp.Expression:
    to = exp.DataType.build(sql_type, dialect="duckdb")
    cast = exp.Cast(this=arg.copy(), to=to)
    if fn.text is not None:  # blank text follows the NULL rules
        return blank_as_null(cast)
    if not fn.nan_for_null(sql_type):
        return cast
    nan = exp.Cast(this=exp.Literal.string("NaN"), to=to.copy())
    return exp.Coalesce(this=cast, expressions=[nan])


def _map_scope(
    select: exp.Select,
    calls: list[exp.Anonymous],
    registry: Registry,
    relation: str,
    counter: int,
    path: str,
) -> tuple[Stage, int]:
    for call in calls:
        if isinstance(call.find_ancestor(exp.Join, exp.Select), exp.Join):
            raise CompileError(
                f"ML function {call.this}() in a JOIN condition is not supported",
                path=path, hint="compute it in a CTE first, then join on the result",
            )
    aliases = _source_aliases(select)
    pre, post = _split_where(select, registry)
    exclude = [*calls, *pre]
    if select.args.get("from_"):
        exclude.append(select.args["from_"])
    exclude += list(select.args.get("joins") or [])

    pass_names: dict[tuple[str, str], str] = {}
    pass_nodes: list[exp.Column] = []
    for column in list(select.find_all(exp.Column)):
        if _inside(column, exclude) or not _belongs(column, select, aliases):
            continue
        key = (column.table, column.name)
        if key not in pass_names:
            pass_names[key] = f"__c{len(pass_names)}"
        pass_nodes.append(column)

    projections: list[exp.Expression] = [
        exp.alias_(exp.column(name, table=table, quoted=True), alias, quoted=True)
        for (table, name), alias in pass_names.items()
    ]
    probes = list(projections)
    stage_calls: list[StageCall] = []
    by_sql: dict[str, str] = {}
    replacements: list[tuple[exp.Anonymous, str]] = []
    for call in calls:
        key = call.sql(dialect="duckdb")
        if key not in by_sql:
            fn = registry.get(str(call.this))
            assert fn is not None
            arg_names = []
            for arg, sql_type in zip(_arguments(call, fn, path), fn.arg_types()):
                name = f"__a{counter}"
                counter += 1
                projections.append(exp.alias_(_cast(arg, fn, sql_type), name, quoted=True))
                probes.append(exp.alias_(arg.copy(), name, quoted=True))
                arg_names.append(name)
            result = f"__r{counter}"
            counter += 1
            by_sql[key] = result
            stage_calls.append(StageCall(fn, tuple(arg_names), result, key))
        replacements.append((call, by_sql[key]))

    input_sql = _input_query(select, projections, pre).sql(dialect="duckdb")
    probe_sql = _input_query(select, probes, pre).sql(dialect="duckdb")

    for call, result in replacements:
        call.replace(exp.column(result, table=MAP_ALIAS, quoted=True))
    for column in pass_nodes:
        column.replace(exp.column(pass_names[(column.table, column.name)], table=MAP_ALIAS,
                                  quoted=True))
    select.set("from_", exp.From(this=exp.alias_(
        exp.to_table(relation, dialect="duckdb"), MAP_ALIAS, table=True, quoted=True)))
    select.set("joins", None)
    select.set("where", exp.Where(this=exp.and_(*post)) if post else None)
    stage = Stage(input_sql, probe_sql, tuple(pass_names.values()), tuple(stage_calls),
                  relation, False)
    return stage, counter
