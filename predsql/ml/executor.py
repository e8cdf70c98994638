"""Running a model with ML calls: type checks, stages, streaming, the final table."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

import duckdb

from predsql.compiler import CompiledNode
from predsql.database import WORK_SCHEMA, ensure_schema, quote
from predsql.errors import CompileError, ExecutionError
from predsql.executors.base import Executors
from predsql.ml import cache
from predsql.ml.mapping import ALL_FROM_CACHE, FunctionStats, NewTuples, StageStream
from predsql.ml.plan import Plan, Stage, StageCall
from predsql.ml.plan_cache import RUN_ID_SLOT, PlanCache, Relation, describe, with_run_id
from predsql.ml.registry import Registry

if TYPE_CHECKING:
    from sqlglot import exp

METADATA_COLUMN = "_predsql_ml_fingerprints"
NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
           "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL", "BOOLEAN")


def install_stub_macros(cursor: duckdb.DuckDBPyConnection, registry: Registry,
                        names: Any = None) -> None:
    """Typed stand-ins so DuckDB can bind (and name the columns of) a model's SQL: for
    the functions `names` (all when None)."""
    for fn in registry.functions.values():
        if names is not None and fn.name not in names:
            continue
        params = [f"a{i}" for i in range(fn.arity)]
        casts = " OR ".join(f"CAST({p} AS {t}) IS NULL" for p, t in zip(params, fn.arg_types()))
        body = f"CASE WHEN {casts or 'true'} THEN NULL ELSE CAST(NULL AS {fn.result_type}) END"
        cursor.execute(f"CREATE OR REPLACE TEMP MACRO {fn.name}({', '.join(params)}) AS {body}")


def castable(source: str, target: str) -> bool:
    source = source.upper()
    nested = source.endswith("]") or source.startswith(("STRUCT", "MAP", "UNION"))
    if nested:
        return False
    if target in ("VARCHAR",):
        return True
    if source.startswith(("VARCHAR", "NULL")) or source.startswith(NUMERIC):
        return True
    return False


def _relations(cursor: duckdb.DuckDBPyConnection, tree: exp.Expression) -> tuple[Relation, ...]:
    """The relations the SQL reads (not its CTEs, not table functions), with their columns."""
    from sqlglot import exp

    cte_names = {c.alias_or_name for c in tree.find_all(exp.CTE)}
    relations: dict[tuple[str, str], Relation] = {}
    for table in tree.find_all(exp.Table):
        if not table.name or (not table.db and table.name in cte_names):
            continue
        if isinstance(table.this, exp.Anonymous) or table.args.get("this") is None:
            continue  # table functions such as read_csv(...)
        db = table.db or "main"
        if (db, table.name) not in relations:
            relations[db, table.name] = Relation(db, table.name, describe(cursor, db, table.name))
    return tuple(relations.values())


def _qualify_schema(relations: tuple[Relation, ...]) -> dict[str, Any]:
    schema: dict[str, Any] = {}
    for relation in relations:
        schema.setdefault(relation.db, {})[relation.name] = {
            column: "UNKNOWN" for column, _ in relation.columns}
    return schema


class MlRows:
    """A RowSource for models with ML calls (see materializations.RowSource)."""

    def __init__(self, node: CompiledNode, registry: Registry,
                 runtimes: Executors, cursor: duckdb.DuckDBPyConnection, console: Any,
                 use_cache: bool = True, plans: PlanCache | None = None) -> None:
        self.node = node
        self.runtimes = runtimes
        self.console = console
        self.use_cache = use_cache
        check_not_broken(node, registry)
        self.run_id = uuid.uuid4().hex[:10]
        self.columns = expected_columns(cursor, node, registry, plans)
        self.plan = make_plan(cursor, node, registry, self.run_id, plans)
        self._stats: dict[str, FunctionStats] = {}
        self._extra_tables: list[str] = []

    def view_sql(self) -> str:
        raise CompileError("ML calls cannot run inside a view", path=self.node.node.rel_path)

    def stats(self) -> dict[str, Any]:
        functions = {name: s.as_dict() for name, s in self._stats.items()}
        return {"ml_functions": functions} if functions else {}

    def create_table(self, cursor: duckdb.DuckDBPyConnection, target: str) -> int:
        ensure_schema(cursor, WORK_SCHEMA)
        stream_name = None
        served_view = None
        try:
            for stage in self.plan.stages:
                check_stage_types(cursor, self.node, stage)
                stage = self._serve_from_cache(cursor, stage)
                if not stage.calls:  # every call of the stage came from the caches
                    if stage.streamed:
                        served_view = stage.relation
                        cursor.execute(f"CREATE TEMP VIEW {stage.relation} AS {stage.input_sql}")
                        return self._final(cursor, target, None)
                    cursor.execute(f"CREATE TABLE {stage.relation} AS {stage.input_sql}")
                    continue
                stream = StageStream(cursor, stage, self.runtimes, self._stats, self.console,
                                     self.node, self._store)
                if stage.streamed:  # the last stage: DuckDB reads it in the final statement
                    stream_name = stage.relation
                    cursor.register(stream_name, stream.reader())
                    return self._final(cursor, target, stream)
                self._write_stage(cursor, stage, stream)
            return self._final(cursor, target, None)
        finally:
            if stream_name:
                cursor.unregister(stream_name)
            if served_view:
                cursor.execute(f"DROP VIEW IF EXISTS {served_view}")
            self._drop_work_tables(cursor)

    def _serve_from_cache(self, cursor: duckdb.DuckDBPyConnection, stage: Stage) -> Stage:
        if not self.use_cache or not any(c.fn.cache for c in stage.calls):
            return stage
        for call in stage.calls:
            if call.fn.cache:  # no session yet: one is created when a tuple misses the cache
                self._stats.setdefault(call.fn.name, FunctionStats(
                    call.fn.name, call.fn.fingerprint, ALL_FROM_CACHE))
        return cache.lookup(cursor, stage, self.node, self.runtimes)

    def _store(self, cursor: duckdb.DuckDBPyConnection, call: StageCall,
               new: NewTuples) -> None:
        cache.store(cursor, call, new, self.runtimes.cache_lock(call.fn.name))

    def _write_stage(self, cursor: duckdb.DuckDBPyConnection, stage: Stage,
                     stream: StageStream) -> None:
        name = f"__predsql_in_{self.run_id}"
        cursor.register(name, stream.reader())
        try:
            stream.run(lambda: cursor.execute(
                f"CREATE TABLE {stage.relation} AS SELECT * FROM {name}"))
        finally:
            cursor.unregister(name)

    def _final(self, cursor: duckdb.DuckDBPyConnection, target: str, stream: Any) -> int:
        names = ", ".join(quote(name) for name, _ in self.columns)
        stamp = ""
        if self.node.config.get("ml_metadata"):
            fingerprints = json.dumps(self.node.extra.get("ml_functions") or {}, sort_keys=True)
            stamp = f", '{fingerprints}' AS {quote(METADATA_COLUMN)}"
        sql = (f"CREATE TABLE {target} AS SELECT *{stamp} FROM (\n{self.plan.final_sql}\n) "
               f"AS __predsql_out({names})")

        def run() -> int:
            row = cursor.execute(sql).fetchall()[0]
            return int(row[0]) if row else 0

        return stream.run(run) if stream is not None else run()

    def _drop_work_tables(self, cursor: duckdb.DuckDBPyConnection) -> None:
        for table in self._extra_tables:
            try:
                cursor.execute(f"DROP TABLE IF EXISTS {table}")
            except duckdb.Error:
                pass
        for stage in self.plan.stages:
            if not stage.streamed:
                try:
                    cursor.execute(f"DROP TABLE IF EXISTS {stage.relation}")
                except duckdb.Error:
                    pass


def check_not_broken(node: CompiledNode, registry: Registry) -> None:
    """A model calling a function that cannot be used fails (alone), with that function's error."""
    for name in node.extra.get("ml_broken") or []:
        broken = registry.broken_function(name)
        if broken is not None:
            error = broken.error
            raise ExecutionError(
                f"{node.name!r} ({node.node.rel_path}) calls {name}(), which cannot be used: "
                f"{error.message}", path=error.path, line=error.line, hint=error.hint)


def expected_columns(cursor: duckdb.DuckDBPyConnection, node: CompiledNode,
                     registry: Registry, plans: PlanCache | None = None) -> list[tuple[str, str]]:
    """The model's output columns as DuckDB itself would name and type them."""
    install_stub_macros(cursor, registry, node.extra.get("ml_functions"))
    sql = node.compiled_sql.rstrip().rstrip(";")
    if any(c.get("named") for c in node.extra.get("ml_calls", [])):
        cached = plans.calls(node) if plans is not None else None
        if cached is not None and cached.positional_sql is not None:
            sql = cached.positional_sql
        else:
            from predsql.ml.analysis import parse_sql
            from predsql.ml.arguments import positional_sql

            sql = positional_sql(parse_sql(node), registry.functions)  # stub macros: positional
    try:
        rows = cursor.execute(f"DESCRIBE {sql}").fetchall()
    except duckdb.BinderException as exc:
        raise CompileError(
            f"{node.name!r}: the SQL around its ML calls does not bind: {exc}",
            path=node.node.rel_path,
            hint="check the argument types against `predsql functions`",
        ) from exc
    return [(r[0], r[1]) for r in rows]


def make_plan(cursor: duckdb.DuckDBPyConnection, node: CompiledNode, registry: Registry,
              run_id: str, plans: PlanCache | None = None) -> Plan:
    """The node's plan: from `plans` when its SQL, functions and input relations are
    unchanged (then sqlglot is not imported), else built and stored there."""
    if plans is None or not plans.cacheable(node):
        return _build_plan(cursor, node, registry, run_id)[0]
    work, stream = _relation_names(node, RUN_ID_SLOT)
    plan = plans.plan(cursor, node, work, stream)
    if plan is None:
        plan, relations = _build_plan(cursor, node, registry, RUN_ID_SLOT)
        plans.store_plan(node, work, stream, relations, plan)
    return with_run_id(plan, run_id)


def _relation_names(node: CompiledNode, run_id: str) -> tuple[str, str]:
    """The work tables' name (a format string with `{n}`) and the stream's name."""
    work = f"{quote(WORK_SCHEMA)}.{quote(f'{node.alias}_{run_id}_' + '{n}')}"
    return work, f"__predsql_stream_{run_id}"


def _build_plan(cursor: duckdb.DuckDBPyConnection, node: CompiledNode, registry: Registry,
                run_id: str) -> tuple[Plan, tuple[Relation, ...]]:
    from predsql.ml.analysis import parse_sql
    from predsql.ml.plan_build import build_plan  # sqlglot: only when a plan is built

    tree = parse_sql(node)
    relations = _relations(cursor, tree)
    work, stream = _relation_names(node, run_id)
    try:
        plan = build_plan(tree, registry, _qualify_schema(relations), work, stream,
                          node.node.rel_path)
    except CompileError:
        raise
    except Exception as exc:  # sqlglot cannot qualify this SQL
        raise CompileError(
            f"predsql cannot plan the ML calls of {node.name!r}: {exc}",
            path=node.node.rel_path,
            hint="simplify the query around the ML call (e.g. move it into a CTE)",
        ) from exc
    return plan, relations


def check_stage_types(cursor: duckdb.DuckDBPyConnection, node: CompiledNode, stage: Stage) -> None:
    types = {r[0]: r[1] for r in cursor.execute(f"DESCRIBE {stage.probe_sql}").fetchall()}
    for call in stage.calls:
        for position, (column, target) in enumerate(zip(call.arg_columns, call.fn.arg_types())):
            source = types.get(column, "NULL")
            if not castable(source, target):
                line = next((c["line"] for c in node.extra.get("ml_calls", [])
                             if c["function"] == call.fn.name), None)
                raise CompileError(
                    f"{node.name!r}: argument {position + 1} of {call.fn.name}() has type "
                    f"{source}, which cannot be cast to the model's input type {target}",
                    path=node.node.rel_path, line=line,
                    hint=f"pass a value castable to {target}: {call.fn.signature()}",
                )


def check_ml_types(cursor: duckdb.DuckDBPyConnection, node: CompiledNode,
                   registry: Registry, plans: PlanCache | None = None) -> None:
    """Bind the model and check argument types before data moves. A missing upstream
    relation only postpones the check to the node's own run, where MlRows makes the
    same checks stage by stage."""
    if not node.extra.get("ml_calls") or node.materialized == "ephemeral":
        return
    if node.extra.get("ml_broken"):
        return  # the node fails with the function's error when it runs
    try:
        expected_columns(cursor, node, registry, plans)
        plan = make_plan(cursor, node, registry, "check", plans)
        for stage in plan.stages:
            if WORK_SCHEMA in stage.probe_sql:
                continue
            check_stage_types(cursor, node, stage)
    except (duckdb.CatalogException, CompileError) as exc:
        if not _missing_relation(exc):
            raise
    except duckdb.Error:
        pass  # reported with the node when it runs


def _missing_relation(exc: Exception) -> bool:
    text = str(exc)
    return "does not exist" in text or "Catalog Error" in text

