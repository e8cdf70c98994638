"""dbt's macro runtime: namespaces, dispatch, the `dbt` cross-database macros, adapter
introspection, statements, the sandbox, per-node compile errors."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import duckdb

from conftest import db_of, output, query, run_cli, write


def results(root: Path) -> dict[str, str]:
    data = json.loads((root / "target" / "run_results.json").read_text())
    return {r["unique_id"].split(".")[-1]: r["status"] for r in data["results"]}


def local_package(project: Path) -> None:
    """A package `helpers` next to the project, declared with `local:`."""
    write(project.parent / "helpers", {
        "dbt_project.yml": "name: helpers\n",
        "macros/shout.sql": """
            {% macro shout(x) %}{{ return(adapter.dispatch('shout', 'helpers')(x)) }}{% endmacro %}
            {% macro default__shout(x) %}upper({{ x }}){% endmacro %}
            {% macro greeting() %}'hello from ' || {{ helpers.whoami() }}{% endmacro %}
            {% macro whoami() %}'helpers'{% endmacro %}
        """,
    })
    write(project, {"packages.yml": "packages:\n  - local: ../helpers\n"})


def test_package_macros_are_namespaced_and_dispatched(project: Path) -> None:
    local_package(project)
    write(project, {
        "models/m.sql": "select {{ helpers.shout(\"'a'\") }} as s, {{ helpers.greeting() }} as g",
    })
    run_cli(project, "run")
    assert query(db_of(project), "select s, g from m") == [("A", "hello from helpers")]
    # the root project overrides a dispatched implementation (search order root, package)
    write(project, {"macros/over.sql": "{% macro duckdb__shout(x) %}lower({{ x }}) || '!'"
                                       "{% endmacro %}"})
    run_cli(project, "run")
    assert query(db_of(project), "select s from m") == [("a!",)]
    # a project macro with a package macro's name wins for plain names, as in dbt
    write(project, {"macros/who.sql": "{% macro whoami() %}'root'{% endmacro %}",
                    "models/m.sql": "select {{ whoami() }} as w, {{ helpers.whoami() }} as h"})
    run_cli(project, "run")
    assert query(db_of(project), "select w, h from m") == [("root", "helpers")]


def test_dispatch_config_search_order(project: Path) -> None:
    local_package(project)
    write(project, {
        "predsql_project.yml": "name: proj\ndispatch:\n  - macro_namespace: helpers\n"
                               "    search_order: ['helpers']\n",
        "macros/over.sql": "{% macro duckdb__shout(x) %}'ignored'{% endmacro %}",
        "models/m.sql": "select {{ helpers.shout(\"'a'\") }} as s",
    })
    run_cli(project, "run")
    assert query(db_of(project), "select s from m") == [("A",)]


def test_cross_database_macros_give_duckdb_results(project: Path) -> None:
    write(project, {"models/m.sql": """
        select
          {{ dbt.date_trunc('month', "date '2024-03-17'") }} as month_start,
          {{ dbt.dateadd('day', 3, "date '2024-03-17'") }} as plus3,
          {{ dbt.dateadd('quarter', 1, "date '2024-03-17'") }} as next_quarter,
          {{ dbt.datediff("date '2024-01-01'", "date '2024-03-01'", 'day') }} as days,
          {{ dbt.datediff("date '2024-01-03'", "date '2024-01-10'", 'week') }} as weeks,
          {{ dbt.last_day("date '2024-02-10'", 'month') }} as eom,
          {{ dbt.concat(["'a'", "'b'"]) }} as ab,
          {{ dbt.hash("'x'") }} as h,
          {{ dbt.safe_cast("'12'", dbt.type_int()) }} as twelve,
          {{ dbt.split_part("'a-b-c'", "'-'", 2) }} as part,
          {{ dbt.position("'b'", "'abc'") }} as pos,
          {{ dbt.right("'abcdef'", 2) }} as r,
          {{ dbt.length("'abc'") }} as len,
          {{ dbt.replace("'aXa'", "'X'", "'-'") }} as rep,
          {{ dbt.string_literal('s') }} as lit,
          {{ dbt.cast_bool_to_text('true') }} as bt,
          '{{ dbt.type_string() }}|{{ dbt.type_timestamp() }}|{{ dbt.type_numeric() }}' as types
        """})
    run_cli(project, "run")
    row = query(db_of(project), "select * from m")[0]
    assert row[0] == datetime.datetime(2024, 3, 1)  # DuckDB truncates a DATE to a TIMESTAMP
    assert row[1] == datetime.datetime(2024, 3, 20)
    assert row[2] == datetime.datetime(2024, 6, 17)
    assert row[3:5] == (60, 1)
    assert row[5] == datetime.date(2024, 2, 29)
    assert row[6:] == ("ab", "9dd4e461268c8034f5c8564e155c67a6", 12, "b", 2, "ef", 3, "a-a",
                       "s", "true", "TEXT|timestamp|numeric(28,6)")


def test_introspection_sees_parents_built_in_the_same_run(project: Path) -> None:
    write(project, {
        "macros/cols.sql": """
            {% macro column_list(rel) %}
              {% if not execute %}{{ return('*') }}{% endif %}
              {% set cols = adapter.get_columns_in_relation(rel) %}
              {{ return(cols | map(attribute='name') | join(', ')) }}
            {% endmacro %}
        """,
        "models/a.sql": "select 1 as x, 'y' as y",
        "models/b.sql": "select {{ column_list(ref('a')) }}, "
                        "'{{ column_list(ref('a')) }}' as listed from {{ ref('a') }}",
        "models/c.sql": """
            {% set r = run_query("select count(*) as n from " ~ ref('b')) %}
            {% call statement('two', fetch_result=True) %}select 2 as v{% endcall %}
            select {{ r.columns[0].values()[0] if execute else 0 }} as n,
                   {{ load_result('two')['data'][0][0] if execute else 0 }} as two
            from {{ ref('b') }}
        """,
    })
    run_cli(project, "run")  # a fresh database: b and c are compiled again when they run
    assert query(db_of(project), "select * from b") == [(1, "y", "x, y")]
    assert query(db_of(project), "select * from c") == [(1, 2)]
    manifest = json.loads((project / "target/manifest.json").read_text())
    assert manifest["nodes"]["model.proj.b"]["predsql"]["introspective"] is True


def test_modules_and_the_sandbox(project: Path) -> None:
    write(project, {"models/m.sql": """
        select '{{ modules.datetime.date(2024, 1, 2).isoformat() }}' as d,
               '{{ modules.re.sub('[0-9]', '#', 'a1b2') }}' as r,
               {{ modules.itertools.chain([1], [2]) | list | length }} as n,
               '{{ modules.pytz.timezone('Europe/Paris').zone }}' as tz
        """})
    run_cli(project, "run")
    assert query(db_of(project), "select * from m") == [("2024-01-02", "a#b#", 2,
                                                         "Europe/Paris")]
    # no path from `modules` to other modules (re imports enum, enum imports sys)
    write(project, {"models/m.sql": "select {{ modules.re.enum is defined }} as a, "
                                    "{{ modules.datetime.sys is defined }} as b"})
    run_cli(project, "run")
    assert query(db_of(project), "select * from m") == [(False, False)]
    for bad in ("{{ adapter._db }}", "{{ modules.__class__ }}", "{{ ''.__class__ }}"):
        write(project, {"models/m.sql": f"select 1 as x -- {bad}"})
        result = run_cli(project, "run", code=2)  # refused while parsing: nothing runs
        assert "models/m.sql:1: unsafe Jinja refused" in result.stderr
        assert "Traceback" not in output(result)


def test_compile_error_fails_one_node_and_skips_its_descendants(project: Path) -> None:
    write(project, {
        # raised while compiling (at parse time it would stop the whole command, as in dbt)
        "macros/boom.sql": "{% macro boom() %}{% if execute %}\n"
                           "  {{ exceptions.raise_compiler_error('no good') }}\n"
                           "{% endif %}{% endmacro %}",
        "models/a.sql": "select 1 as id",
        "models/b.sql": "select * from {{ ref('a') }} where {{ boom() }}",
        "models/c.sql": "select * from {{ ref('b') }}",
        "models/d.sql": "select * from {{ ref('a') }} where {{ nope() }}",
        "models/e.sql": "select * from {{ ref('a') }}",
    })
    result = run_cli(project, "build", code=1)
    assert results(project) == {"a": "success", "b": "error", "c": "skipped",
                                "d": "error", "e": "success"}
    assert "macros/boom.sql:2: Compilation Error: no good" in result.stderr
    assert "models/d.sql:1: 'nope' is undefined" in result.stderr
    assert "Traceback" not in output(result)


def test_custom_generic_test_with_an_undefined_name(project: Path) -> None:
    write(project, {
        "tests/generic/bad.sql": "{% test bad(model, column_name) %}\n"
                                 "select * from {{ model }}\nwhere {{ missing_macro() }}\n"
                                 "{% endtest %}",
        "models/m.sql": "select 1 as id",
        "models/p.yml": "models:\n  - name: m\n    columns:\n      - name: id\n"
                        "        data_tests: [bad, not_null]\n",
    })
    result = run_cli(project, "build", code=1)
    assert results(project) == {"m": "success", "bad_m_id": "error", "not_null_m_id": "pass"}
    assert "tests/generic/bad.sql:3: 'missing_macro' is undefined" in result.stderr
    assert "Traceback" not in output(result)


def test_generate_schema_and_alias_name_overrides(project: Path) -> None:
    write(project, {
        "predsql_project.yml": "name: proj\nmodels:\n  proj:\n    raw:\n      +schema: raw\n",
        "macros/names.sql": """
            {% macro generate_schema_name(custom_schema_name, node) -%}
              {{ custom_schema_name | trim if custom_schema_name else target.schema }}
            {%- endmacro %}
            {% macro generate_alias_name(custom_alias_name=none, node=none) -%}
              {{ (custom_alias_name or node.name) ~ ('_v' if node.resource_type == 'model' else '') }}
            {%- endmacro %}
        """,
        "models/raw/src.sql": "select 1 as id",
        "models/m.sql": "{{ config(alias='renamed') }} select * from {{ ref('src') }}",
    })
    run_cli(project, "run")
    tables = query(db_of(project), "select table_schema, table_name from information_schema"
                                   ".tables order by 1, 2")
    assert tables == [("main", "renamed_v"), ("raw", "src_v")]


def test_default_custom_schema_is_target_underscore_custom(project: Path) -> None:
    write(project, {"models/m.sql": "{{ config(schema='marts') }} select 1 as x"})
    run_cli(project, "run")
    assert query(db_of(project), "select table_schema from information_schema.tables") == [
        ("main_marts",)]


def test_compile_names_every_node_that_fails_to_compile(project: Path) -> None:
    write(project, {
        "models/a.sql": "select 1 as id",
        "models/b.sql": "select {{ nope() }} from {{ ref('a') }}",
        "models/c.sql": "select {{ var('missing') }}",
    })
    result = run_cli(project, "compile", code=2)
    assert "models/b.sql:1: 'nope' is undefined" in result.stderr
    assert "models/c.sql:1: required var 'missing'" in result.stderr
    assert (project / "target/manifest.json").is_file()
    assert (project / "target/compiled/proj/models/a.sql").is_file()


def test_graph_log_builtins_and_relations(project: Path) -> None:
    write(project, {
        "macros/ref.sql": """
            {# a project `ref` overriding dbt's, calling the original through builtins #}
            {% macro ref(name) %}
              {% do log('ref to ' ~ name, info=True) %}
              {{ return(builtins.ref(name)) }}
            {% endmacro %}
        """,
        "models/a.sql": "select 1 as id",
        "models/b.sql": """
            {% set models = graph.nodes.values() | selectattr('resource_type', 'equalto', 'model')
                            | map(attribute='name') | sort | list if execute else [] %}
            {% set rel = api.Relation.create(schema='main', identifier='a') %}
            {% set found = adapter.get_relation(database=target.database, schema='main',
                                                identifier='a') %}
            {% set pairs = zip(['x', 'y'], [1, 2]) | list %}
            select '{{ models | join(",") }}' as models,
                   '{{ rel }}' as rel,
                   '{{ found.type if found else "none" }}' as found,
                   {{ pairs[1][1] }} as two,
                   '{{ ref("a").identifier }}' as ident
            from {{ ref('a') }}
        """,
    })
    result = run_cli(project, "run")
    assert "ref to a" in result.stdout
    assert query(db_of(project), "select * from b") == [
        ("a,b", '"main"."a"', "view", 2, "a")]


def test_statements_that_write_run_once_when_the_node_runs(project: Path) -> None:
    with duckdb.connect(str(db_of(project))) as con:
        con.execute("create table audit (n int)")
    write(project, {"models/m.sql": """
        {% if execute %}{% do run_query("insert into audit values (1)") %}{% endif %}
        {% set seen = run_query("select count(*) from audit") %}
        select {{ seen.rows[0][0] if execute else 0 }} as seen_while_compiling
    """})
    run_cli(project, "run")
    assert query(db_of(project), "select count(*) from audit") == [(1,)]
    assert query(db_of(project), "select * from m") == [(1,)]


def test_generate_database_name_override(project: Path) -> None:
    write(project, {
        "macros/db.sql": "{% macro generate_database_name(custom_database_name, node) %}"
                         "{{ custom_database_name or target.database }}{% endmacro %}",
        "models/m.sql": "select 1 as x",
    })
    run_cli(project, "run")
    assert query(db_of(project), "select x from m") == [(1,)]
    write(project, {"models/m.sql": "{{ config(database='elsewhere') }} select 1 as x"})
    result = run_cli(project, "run", code=2)
    assert "placed in database 'elsewhere'" in result.stderr and "models/m.sql" in result.stderr
