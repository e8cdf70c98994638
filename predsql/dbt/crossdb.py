"""The `dbt` namespace: dbt's cross-database macros with DuckDB's SQL, written for predsql.

Each public macro dispatches (`adapter.dispatch(name, 'dbt')`), so a project's
`duckdb__x` / `default__x` wins as in dbt; `default__x` and, where dbt-duckdb
has its own, `duckdb__x` produce SQL with the results dbt-core 1.10 and
dbt-duckdb 1.10 give on DuckDB.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any

Ctx = MutableMapping[str, Any]
Macro = Callable[..., Any]


def _dispatch(ctx: Ctx, name: str) -> Macro:
    return ctx["adapter"].dispatch(name, "dbt")


def _type_macros(ctx: Ctx) -> dict[str, Macro]:
    column = ctx["api"].Column
    defaults = {
        "type_string": lambda: column.translate_type("string"),
        "type_timestamp": lambda: column.translate_type("timestamp"),
        "type_float": lambda: column.translate_type("float"),
        "type_numeric": lambda: column.numeric_type("numeric", 28, 6),
        "type_bigint": lambda: column.translate_type("bigint"),
        "type_int": lambda: column.translate_type("integer"),
        "type_boolean": lambda: column.translate_type("boolean"),
    }
    macros: dict[str, Macro] = {}
    for name, default in defaults.items():
        macros[f"default__{name}"] = default
        macros[name] = (lambda n: lambda: _dispatch(ctx, n)())(name)
    return macros


def _plain_macros() -> dict[str, Macro]:
    """Defaults whose SQL does not depend on anything but their arguments."""

    def listagg(measure: Any, delimiter_text: Any, order_by_clause: Any, limit_num: Any) -> str:
        order = f" {order_by_clause}" if order_by_clause else ""
        if limit_num:
            return (f"list_aggr((array_agg({measure}{order}))[1:{limit_num}], 'string_agg', "
                    f"{delimiter_text})")
        return f"string_agg({measure}, {delimiter_text}{order})"

    def array_construct(inputs: Any, data_type: Any) -> str:
        if inputs:
            return f"array[ {' , '.join(str(i) for i in inputs)} ]"
        return f"array[]::{data_type}[]"

    return {
        "default__any_value": lambda expression: f"any_value({expression})",
        "duckdb__any_value": lambda expression: f"arbitrary({expression})",
        "default__bool_or": lambda expression: f"bool_or({expression})",
        "default__cast": lambda field, type: f"cast({field} as {type})",
        "default__safe_cast": lambda field, type: f"cast({field} as {type})",
        "default__concat": lambda fields: " || ".join(str(f) for f in fields),
        "default__date_trunc": lambda datepart, date: f"date_trunc('{datepart}', {date})",
        "default__escape_single_quotes": lambda expression: str(expression).replace("'", "''"),
        "default__except": lambda: "except",
        "default__intersect": lambda: "intersect",
        "default__length": lambda expression: f"length({expression})",
        "default__position": lambda substring_text, string_text:
            f"position({substring_text} in {string_text})",
        "default__replace": lambda field, old_chars, new_chars:
            f"replace({field}, {old_chars}, {new_chars})",
        "default__right": lambda string_text, length_expression:
            f"right({string_text}, {length_expression})",
        "default__split_part": lambda string_text, delimiter_text, part_number:
            f"split_part({string_text}, {delimiter_text}, {part_number})",
        "duckdb__split_part": lambda string_text, delimiter_text, part_number:
            f"string_split({string_text}, {delimiter_text})[{part_number}]",
        "default__string_literal": lambda value: f"'{value}'",
        "default__array_append": lambda array, new_element:
            f"array_append({array}, {new_element})",
        "default__array_concat": lambda array_1, array_2: f"array_cat({array_1}, {array_2})",
        "default__array_construct": array_construct,
        "default__listagg": listagg,
        "duckdb__listagg": listagg,
        "default__equals": lambda expr1, expr2: f"({expr1} = {expr2})",
        "default__current_timestamp": lambda: "now()",
        "duckdb__current_timestamp": lambda: "now()",
        "default__current_timestamp_backcompat": lambda: "current_timestamp::timestamp",
        "duckdb__snapshot_get_time": lambda: "now()::timestamp",
        "duckdb__generate_series": lambda upper_bound:
            "select generate_series as generated_number from generate_series(1, "
            f"{upper_bound})",
    }


def _date_macros(ctx: Ctx) -> dict[str, Macro]:
    def dateadd(datepart: Any, interval: Any, from_date_or_timestamp: Any) -> str:
        unit = str(datepart).lower()
        if unit == "quarter":
            return f"({from_date_or_timestamp} + (cast({interval} as bigint) * 3) * interval 1 month)"
        if unit == "week":
            return f"({from_date_or_timestamp} + (cast({interval} as bigint) * 7) * interval 1 day)"
        return f"({from_date_or_timestamp} + cast({interval} as bigint) * interval 1 {unit})"

    def datediff(first_date: Any, second_date: Any, datepart: Any) -> str:
        if datepart == "week":
            first, second = f"({first_date})::timestamp", f"({second_date})::timestamp"
            days = _dispatch(ctx, "datediff")(first_date, second_date, "day")
            return (f"({days} // 7 + case when date_part('dow', {first}) <= "
                    f"date_part('dow', {second}) then case when {first_date} <= {second_date} "
                    f"then 0 else -1 end else case when {first_date} <= {second_date} then 1 "
                    f"else 0 end end)")
        return f"(date_diff('{datepart}', {first_date}::timestamp, {second_date}::timestamp))"

    def default_last_day(date: Any, datepart: Any) -> str:
        dbt = ctx["dbt"]
        start = dbt["date_trunc"](datepart, date)
        return f"cast({dbt['dateadd']('day', '-1', dbt['dateadd'](datepart, '1', start))} as date)"

    def duckdb_last_day(date: Any, datepart: Any) -> str:
        if datepart == "quarter":
            dbt = ctx["dbt"]
            start = dbt["date_trunc"](datepart, date)
            return f"cast({dbt['dateadd']('day', '-1', dbt['dateadd']('month', '3', start))} as date)"
        return default_last_day(date, datepart)

    def default_date(year: int, month: int, day: int) -> str:
        return f"to_date('{int(year):04d}-{int(month):02d}-{int(day):02d}', 'YYYY-MM-DD')"

    return {
        "default__dateadd": lambda datepart, interval, from_date_or_timestamp:
            f"dateadd({datepart}, {interval}, {from_date_or_timestamp})",
        "duckdb__dateadd": dateadd,
        "default__datediff": lambda first_date, second_date, datepart:
            f"datediff({datepart}, {first_date}, {second_date})",
        "duckdb__datediff": datediff,
        "default_last_day": default_last_day,
        "default__last_day": default_last_day,
        "duckdb__last_day": duckdb_last_day,
        "default__date": default_date,
    }


def _series_macros(ctx: Ctx) -> dict[str, Macro]:
    def powers_of_two(upper_bound: Any) -> int:
        if upper_bound <= 0:
            ctx["exceptions"].raise_compiler_error("upper bound must be positive")
        power = 1
        while upper_bound > 2 ** power and power < 99:
            power += 1
        return power

    def generate_series(upper_bound: Any) -> str:
        n = ctx["dbt"]["get_powers_of_two"](upper_bound)
        terms = " + ".join(f"p{i}.generated_number * power(2, {i})" for i in range(n))
        joins = " cross join ".join(f"p as p{i}" for i in range(n))
        return (f"with p as (select 0 as generated_number union all select 1), unioned as "
                f"(select {terms} + 1 as generated_number from {joins}) select * from unioned "
                f"where generated_number <= {upper_bound} order by generated_number")

    def intervals_between(start_date: Any, end_date: Any, datepart: Any) -> Any:
        table = ctx["run_query"](f"select {ctx['dbt']['datediff'](start_date, end_date, datepart)}")
        if table is not None and table.rows:
            return table.rows[0][0]
        return 1

    def date_spine(datepart: Any, start_date: Any, end_date: Any) -> str:
        dbt = ctx["dbt"]
        series = dbt["generate_series"](dbt["get_intervals_between"](start_date, end_date, datepart))
        step = dbt["dateadd"](datepart, "row_number() over (order by 1) - 1", start_date)
        return (f"with rawdata as ({series}), all_periods as (select ({step}) as date_{datepart} "
                f"from rawdata), filtered as (select * from all_periods where date_{datepart} <= "
                f"{end_date}) select * from filtered")

    return {
        "default__get_powers_of_two": powers_of_two,
        "default__generate_series": generate_series,
        "default__get_intervals_between": intervals_between,
        "default__date_spine": date_spine,
    }


def _naming_macros(ctx: Ctx) -> dict[str, Macro]:
    def schema_name(custom_schema_name: Any = None, node: Any = None) -> str:
        default = ctx["target"]["schema"]
        if custom_schema_name is None:
            return str(default)
        return f"{default}_{str(custom_schema_name).strip()}"

    def alias_name(custom_alias_name: Any = None, node: Any = None) -> str:
        if custom_alias_name:
            return str(custom_alias_name).strip()
        version = _get(node, "version")
        name = str(_get(node, "name"))
        if version:
            return f"{name}_v{str(version).replace('.', '_')}"
        return name

    def database_name(custom_database_name: Any = None, node: Any = None) -> str:
        if custom_database_name is None:
            return str(ctx["target"]["database"])
        return str(custom_database_name)

    def schema_for_env(custom_schema_name: Any = None, node: Any = None) -> str:
        if ctx["target"]["name"] == "prod" and custom_schema_name is not None:
            return str(custom_schema_name).strip()
        return str(ctx["target"]["schema"])

    return {
        "default__generate_schema_name": schema_name,
        "default__generate_alias_name": alias_name,
        "default__generate_database_name": database_name,
        "generate_schema_name_for_env": schema_for_env,
    }


def _get(node: Any, key: str) -> Any:
    if node is None:
        return None
    if isinstance(node, dict):
        return node.get(key)
    return getattr(node, key, None)


def _relation_macros(ctx: Ctx) -> dict[str, Macro]:
    def where_subquery(relation: Any) -> Any:
        where = ctx["config"].get("where", "")
        if where:
            return f"(select * from {relation} where {where}) dbt_subquery"
        return relation

    def columns_in_query(select_sql: Any) -> list[str]:
        table = ctx["run_query"](f"select * from ({select_sql}) as __dbt_sbq where false limit 0")
        return list(table.column_names) if table is not None else []

    adapter = ctx["adapter"]

    def load_relation(relation: Any) -> Any:
        return adapter.get_relation(getattr(relation, "database", None),
                                    getattr(relation, "schema", None),
                                    getattr(relation, "identifier", None))

    return {
        "default__get_where_subquery": where_subquery,
        "default__get_columns_in_query": columns_in_query,
        "get_columns_in_relation": lambda relation: adapter.get_columns_in_relation(relation),
        "load_relation": load_relation,
        "load_cached_relation": load_relation,
        "drop_relation": lambda relation: adapter.drop_relation(relation),
        "drop_relation_if_exists": lambda relation: adapter.drop_relation(relation)
        if relation else "",
        "create_schema": lambda relation: adapter.create_schema(relation),
        "drop_schema": lambda relation: adapter.drop_schema(relation),
        "truncate_relation": lambda relation: adapter.truncate_relation(relation),
        "rename_relation": lambda from_relation, to_relation:
            adapter.rename_relation(from_relation, to_relation),
        "make_hook_config": lambda sql, inside_transaction:
            {"sql": sql, "transaction": inside_transaction},
        "before_begin": lambda sql: {"sql": sql, "transaction": False},
        "after_commit": lambda sql: {"sql": sql, "transaction": False},
        "in_transaction": lambda sql: {"sql": sql, "transaction": True},
        "set_sql_header": lambda config, caller=None:
            config.set("sql_header", str(caller())) if caller else "",
    }


# name -> parameter names and defaults of the dispatching macro, as dbt declares them
DISPATCHED: dict[str, tuple[tuple[str, Any], ...]] = {
    "any_value": (("expression", ...),),
    "bool_or": (("expression", ...),),
    "cast": (("field", ...), ("type", ...)),
    "safe_cast": (("field", ...), ("type", ...)),
    "cast_bool_to_text": (("field", ...),),
    "concat": (("fields", ...),),
    "date_trunc": (("datepart", ...), ("date", ...)),
    "dateadd": (("datepart", ...), ("interval", ...), ("from_date_or_timestamp", ...)),
    "datediff": (("first_date", ...), ("second_date", ...), ("datepart", ...)),
    "last_day": (("date", ...), ("datepart", ...)),
    "date": (("year", ...), ("month", ...), ("day", ...)),
    "escape_single_quotes": (("expression", ...),),
    "except": (),
    "intersect": (),
    "hash": (("field", ...),),
    "length": (("expression", ...),),
    "position": (("substring_text", ...), ("string_text", ...)),
    "replace": (("field", ...), ("old_chars", ...), ("new_chars", ...)),
    "right": (("string_text", ...), ("length_expression", ...)),
    "split_part": (("string_text", ...), ("delimiter_text", ...), ("part_number", ...)),
    "string_literal": (("value", ...),),
    "listagg": (("measure", ...), ("delimiter_text", "','"), ("order_by_clause", None),
                ("limit_num", None)),
    "array_append": (("array", ...), ("new_element", ...)),
    "array_concat": (("array_1", ...), ("array_2", ...)),
    "array_construct": (("inputs", []), ("data_type", "integer")),
    "equals": (("expr1", ...), ("expr2", ...)),
    "current_timestamp": (),
    "current_timestamp_backcompat": (),
    "current_timestamp_in_utc_backcompat": (),
    "snapshot_get_time": (),
    "generate_series": (("upper_bound", ...),),
    "get_powers_of_two": (("upper_bound", ...),),
    "get_intervals_between": (("start_date", ...), ("end_date", ...), ("datepart", ...)),
    "date_spine": (("datepart", ...), ("start_date", ...), ("end_date", ...)),
    "generate_schema_name": (("custom_schema_name", None), ("node", None)),
    "generate_alias_name": (("custom_alias_name", None), ("node", None)),
    "generate_database_name": (("custom_database_name", None), ("node", None)),
    "get_where_subquery": (("relation", ...),),
    "get_columns_in_query": (("select_sql", ...),),
}


def _dispatcher(ctx: Ctx, name: str, params: tuple[tuple[str, Any], ...]) -> Macro:
    names = [p for p, _ in params]

    def call(*args: Any, **kwargs: Any) -> Any:
        values = list(args) + [kwargs.pop(p) if p in kwargs else d
                               for p, d in params[len(args):]]
        missing = [names[i] for i, v in enumerate(values) if v is ...]
        if missing or kwargs or len(values) > len(params):
            ctx["exceptions"].raise_compiler_error(
                f"macro {name}() takes ({', '.join(names)}); got {len(args)} positional "
                f"arguments and {sorted(kwargs) or 'no'} keyword arguments")
        return _dispatch(ctx, name)(*values)

    call.__name__ = name
    return call


def internal_macros(ctx: Ctx) -> dict[str, Macro]:
    """Every macro of the `dbt` namespace, bound to one namespace's context."""
    macros: dict[str, Macro] = {}
    macros.update(_type_macros(ctx))
    macros.update(_plain_macros())
    macros.update(_date_macros(ctx))
    macros.update(_series_macros(ctx))
    macros.update(_naming_macros(ctx))
    macros.update(_relation_macros(ctx))
    string = ctx["api"].Column.translate_type("string")
    macros["default__hash"] = lambda field: f"md5(cast({field} as {string}))"
    macros["default__cast_bool_to_text"] = lambda field: f"cast({field} as {string})"
    macros["default__current_timestamp_in_utc_backcompat"] = (
        lambda: _dispatch(ctx, "current_timestamp_backcompat")())
    macros["default__snapshot_get_time"] = lambda: _dispatch(ctx, "current_timestamp")()
    for name, params in DISPATCHED.items():
        macros[name] = _dispatcher(ctx, name, params)
    return macros
