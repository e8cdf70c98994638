"""Project loading, rendering, graph errors, materializations and failure handling."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from conftest import db_of, output, query, run_cli, write


def test_failed_model_skips_descendants_and_spares_siblings(project: Path) -> None:
    write(project, {
        "models/base.sql": "select 1 as id",
        "models/broken.sql": "select * from {{ ref('base') }} where no_such_column = 1",
        "models/after_broken.sql": "select * from {{ ref('broken') }}",
        "models/sibling.sql": "select id + 1 as id from {{ ref('base') }}",
    })
    result = run_cli(project, "run", code=1)
    results = json.loads((project / "target" / "run_results.json").read_text())
    status = {r["unique_id"].split(".")[-1]: r["status"] for r in results["results"]}
    assert status == {"base": "success", "broken": "error", "after_broken": "skipped",
                      "sibling": "success"}
    assert "no_such_column" in output(result)
    assert "models/broken.sql" in output(result)
    assert "Traceback" not in output(result)
    assert query(db_of(project), "select id from sibling") == [(2,)]


def test_fail_fast_stops_the_run(project: Path) -> None:
    write(project, {
        "models/a_broken.sql": "select * from nowhere",
        "models/b_fine.sql": "select 1 as x",
    })
    run_cli(project, "run", "--fail-fast", code=1)
    results = json.loads((project / "target" / "run_results.json").read_text())
    status = {r["unique_id"].split(".")[-1]: r["status"] for r in results["results"]}
    assert status == {"a_broken": "error", "b_fine": "skipped"}


def test_failed_rebuild_keeps_the_old_table(project: Path) -> None:
    table = "{{ config(materialized='table') }} "
    write(project, {"models/scores.sql": table + "select 1 as id, 0.5 as score"})
    run_cli(project, "run")
    write(project, {"models/scores.sql": table + "select 1 as id, 1 / 'x' as score"})
    run_cli(project, "run", code=1)
    assert query(db_of(project), "select id, score from scores") == [(1, 0.5)]
    leftovers = query(db_of(project), "select table_name from information_schema.tables "
                                      "where table_name like '__predsql%'")
    assert leftovers == []


def test_leftovers_of_a_killed_run_are_cleaned(project: Path) -> None:
    write(project, {"models/m.sql": "select 1 as x"})
    run_cli(project, "run")
    with duckdb.connect(str(db_of(project))) as con:
        con.execute('create table "__predsql_tmp_m" as select 2 as x')
    run_cli(project, "run")
    tables = query(db_of(project), "select table_name from information_schema.tables")
    assert tables == [("m",)]


def test_view_and_table_swap_kinds(project: Path) -> None:
    write(project, {"models/m.sql": "{{ config(materialized='view') }} select 1 as x"})
    run_cli(project, "run")
    write(project, {"models/m.sql": "{{ config(materialized='table') }} select 2 as x"})
    run_cli(project, "run")
    assert query(db_of(project), "select table_type from information_schema.tables "
                                 "where table_name = 'm'") == [("BASE TABLE",)]
    assert query(db_of(project), "select x from m") == [(2,)]


def test_ephemeral_models_are_inlined(project: Path) -> None:
    write(project, {
        "models/base.sql": "select range as id from range(5)",
        "models/evens.sql": "{{ config(materialized='ephemeral') }}\n"
                            "select id from {{ ref('base') }} where id % 2 = 0 -- trailing",
        "models/doubled.sql": "{{ config(materialized='ephemeral') }}\n"
                              "select id * 2 as id from {{ ref('evens') }};",
        "models/final.sql": "with x as (select * from {{ ref('doubled') }})\n"
                            "select id from x order by id",
    })
    run_cli(project, "run")
    assert query(db_of(project), "select id from final order by id") == [(0,), (4,), (8,)]
    tables = {r[0] for r in query(db_of(project), "select table_name from information_schema.tables")}
    assert tables == {"base", "final"}
    compiled = (project / "target/compiled/proj/models/final.sql").read_text()
    assert "__dbt__cte__doubled" in compiled and "__dbt__cte__evens" in compiled


def test_vars_from_the_command_line(project: Path) -> None:
    write(project, {
        "predsql_project.yml": "name: proj\nvars:\n  threshold: 1\n",
        "models/m.sql": "select {{ var('threshold') }} as t, '{{ var('label', 'none') }}' as l",
    })
    run_cli(project, "run")
    assert query(db_of(project), "select t, l from m") == [(1, "none")]
    run_cli(project, "run", "--vars", "{threshold: 7, label: seven}")
    assert query(db_of(project), "select t, l from m") == [(7, "seven")]


def test_missing_var_is_a_clear_error(project: Path) -> None:
    write(project, {"models/m.sql": "select {{ var('nope') }} as x"})
    result = run_cli(project, "run", code=1)  # as dbt: the node errors, the run goes on
    assert "required var 'nope'" in result.stderr and "models/m.sql:1" in result.stderr


def test_cycle_is_reported_with_its_path(project: Path) -> None:
    write(project, {
        "models/a.sql": "select * from {{ ref('c') }}",
        "models/b.sql": "select * from {{ ref('a') }}",
        "models/c.sql": "select * from {{ ref('b') }}",
    })
    result = run_cli(project, "run", code=2)
    assert "dependency cycle" in result.stderr
    cycle = result.stderr.split("dependency cycle: ")[1].split("\n")[0]
    assert len(cycle.split(" -> ")) == 4 and set(cycle.split(" -> ")) == {"a", "b", "c"}


def test_missing_ref_names_model_file_and_suggestion(project: Path) -> None:
    write(project, {
        "models/customers.sql": "select 1 as id",
        "models/orders.sql": "select 1 as id\nunion all\nselect * from {{ ref('custmers') }}",
    })
    result = run_cli(project, "compile", code=2)
    assert "models/orders.sql:3" in result.stderr
    assert "'custmers', which does not exist" in result.stderr
    assert "did you mean 'customers'" in result.stderr


def test_jinja_syntax_error_has_its_line(project: Path) -> None:
    write(project, {"models/m.sql": "select 1 as x\n-- fine\nfrom {{ ref('a' }}\nselect 2\n"})
    result = run_cli(project, "run", code=2)
    assert "models/m.sql:3: Jinja syntax error" in result.stderr
    write(project, {"models/m.sql": "select 1 as x\n{% if true %}\nselect 2\n"})
    result = run_cli(project, "run", code=2)
    assert "models/m.sql:2: Jinja syntax error" in result.stderr
    assert "endif" in result.stderr
    assert "Traceback" not in output(result)


def test_jinja_runtime_error_has_its_line(project: Path) -> None:
    write(project, {"models/m.sql": "select 1 as x\n\n{{ undefined_thing.attr }}\n"})
    result = run_cli(project, "run", code=1)
    assert "models/m.sql:3" in result.stderr and "'undefined_thing' is undefined" in result.stderr
    assert "Traceback" not in output(result)


def test_sandbox_limits_in_the_project_file_are_errors_not_tracebacks(project: Path) -> None:
    write(project, {"predsql_project.yml": "name: p\nvars:\n  big: '{{ range(10**6) | list }}'\n"})
    result = run_cli(project, "compile", code=2)
    assert "predsql_project.yml" in result.stderr and "Range too big" in result.stderr
    assert "Traceback" not in output(result)


def test_duplicate_model_names(project: Path) -> None:
    write(project, {"models/a/m.sql": "select 1", "models/b/m.sql": "select 2"})
    result = run_cli(project, "run", code=2)
    assert "two nodes are named 'm'" in result.stderr


def test_invalid_yaml_has_file_and_line(project: Path) -> None:
    write(project, {"models/schema.yml": "models:\n  - name: m\n    columns: [a\n"})
    result = run_cli(project, "run", code=2)
    assert "models/schema.yml:" in result.stderr and "invalid YAML" in result.stderr


def test_config_precedence_and_custom_schema(project: Path) -> None:
    write(project, {
        "predsql_project.yml": """
            name: proj
            models:
              proj:
                +materialized: view
                +tags: [nightly]
                marts:
                  +schema: marts
                  +materialized: table
                  persist_docs: {relation: true}
        """,
        "models/marts/a.sql": "select 1 as x",
        "models/marts/b.sql": "{{ config(materialized='view', tags=['extra']) }} select 2 as x",
        "models/marts/c.sql": "select 3 as x",
        "models/marts/props.yml": """
            models:
              - name: c
                config:
                  materialized: view
                  alias: c_alias
        """,
        "models/v.sql": "select 4 as x",
    })
    run_cli(project, "run")
    kinds = {(s, n): k for s, n, k in query(db_of(project), """
        select table_schema, table_name, table_type from information_schema.tables""")}
    assert kinds == {("main_marts", "a"): "BASE TABLE", ("main_marts", "b"): "VIEW",
                     ("main_marts", "c_alias"): "VIEW", ("main", "v"): "VIEW"}
    manifest = json.loads((project / "target/manifest.json").read_text())
    assert manifest["nodes"]["model.proj.b"]["tags"] == ["nightly", "extra"]


def test_env_var_in_sql_and_profile(project: Path, monkeypatch) -> None:
    monkeypatch.setenv("PREDSQL_TEST_DB", "custom.duckdb")
    monkeypatch.setenv("REGION", "emea")
    write(project, {
        "profiles.yml": """
            proj:
              target: dev
              outputs:
                dev:
                  type: duckdb
                  path: "{{ env_var('PREDSQL_TEST_DB') }}"
                  settings: {threads: 2}
        """,
        "models/m.sql": "select '{{ env_var('REGION') }}' as r, '{{ env_var('NOPE', 'dflt') }}' as d",
    })
    run_cli(project, "run")
    assert query(project / "custom.duckdb", "select r, d from m") == [("emea", "dflt")]


def test_profiles_dir_lookup_order(project: Path, tmp_path: Path, monkeypatch) -> None:
    elsewhere = write(tmp_path / "profiles_env", {"profiles.yml": """
        proj:
          target: ci
          outputs:
            ci: {type: duckdb, path: from_env.duckdb}
    """})
    flag_dir = write(tmp_path / "profiles_flag", {"profiles.yml": """
        proj:
          target: ci
          outputs:
            ci: {type: duckdb, path: from_flag.duckdb}
            other: {type: duckdb, path: other.duckdb}
    """})
    write(project, {"models/m.sql": "select 1 as x"})
    monkeypatch.setenv("PREDSQL_PROFILES_DIR", str(elsewhere))
    run_cli(project, "run")
    assert (project / "from_env.duckdb").exists()
    run_cli(project, "run", "--profiles-dir", str(flag_dir))
    assert (project / "from_flag.duckdb").exists()
    run_cli(project, "run", "--profiles-dir", str(flag_dir), "--target", "other")
    assert (project / "other.duckdb").exists()
    result = run_cli(project, "run", "--profiles-dir", str(flag_dir), "--target", "nope", code=2)
    assert "target 'nope'" in result.stderr


def test_embedded_default_database(project: Path) -> None:
    write(project, {"models/m.sql": "select 1 as x"})
    run_cli(project, "run")
    assert query(project / "proj.duckdb", "select x from m") == [(1,)]


def test_seed_column_types(project: Path) -> None:
    write(project, {
        "seeds/codes.csv": "code,amount\n001,1.5\n002,2\n",
        "seeds/props.yml": "seeds:\n  - name: codes\n    config:\n"
                           "      column_types: {code: VARCHAR}\n",
    })
    run_cli(project, "seed")
    assert query(db_of(project), "select code, amount from codes order by code") == [
        ("001", 1.5), ("002", 2.0)]


def test_macros_and_threads(project: Path) -> None:
    write(project, {
        "macros/m.sql": "{% macro double(x) %}({{ x }} * 2){% endmacro %}\n"
                        "{% macro label() %}{{ return('L' ~ 1) }}{% endmacro %}",
        **{f"models/m{i}.sql": f"select {{{{ double({i}) }}}} as v, '{{{{ label() }}}}' as l"
           for i in range(6)},
    })
    run_cli(project, "run", "--threads", "4")
    assert query(db_of(project), "select v, l from m5") == [(10, "L1")]


def test_quiet_and_json_logs(project: Path) -> None:
    write(project, {"models/m.sql": "select 1 as x"})
    quiet = run_cli(project, "run", "--quiet").stdout.splitlines()
    assert len(quiet) == 1 and quiet[0].startswith("Finished running 1 view model")
    lines = run_cli(project, "run", "--log-format", "json").stdout.splitlines()
    records = [json.loads(line) for line in lines]
    assert any(r.get("status") == "success" and r.get("node") == "model.proj.m" for r in records)
    assert (project / "logs" / "predsql.log").read_text().count("OK created") >= 2


def test_show_and_clean(project: Path) -> None:
    write(project, {"models/m.sql": "select range as id from range(20)"})
    run_cli(project, "run")
    result = run_cli(project, "show", "m", "--limit", "3")
    assert "first 3 rows" in result.stdout
    run_cli(project, "clean")
    assert not (project / "target").exists()


def test_debug_lists_versions_and_providers(project: Path) -> None:
    result = run_cli(project, "debug")
    assert "duckdb" in result.stdout and "CPUExecutionProvider" in result.stdout
    assert "embedded default" in result.stdout


def test_second_run_on_a_held_database_fails_at_once(project: Path) -> None:
    write(project, {"models/m.sql": "select 1 as x"})
    run_cli(project, "run")
    holder = subprocess.Popen(
        [sys.executable, "-c",
         f"import duckdb,time; c=duckdb.connect({str(db_of(project))!r}); "
         "print('ready', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        started = time.monotonic()
        result = run_cli(project, "run", code=2)
        assert time.monotonic() - started < 10
        assert f"process {holder.pid}" in result.stderr
        assert str(db_of(project)) in result.stderr
    finally:
        holder.kill()
        holder.wait()
    assert query(db_of(project), "select x from m") == [(1,)]


def test_init_then_build_from_a_subprocess(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    predsql = [sys.executable, "-m", "predsql"]
    subprocess.run([*predsql, "init", "demo"], cwd=tmp_path, check=True, env=env)
    done = subprocess.run([*predsql, "build"], cwd=tmp_path / "demo", env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS=11" in done.stdout


def test_two_argument_ref_this_and_target(project: Path) -> None:
    write(project, {
        "models/base.sql": "select 1 as id",
        "models/m.sql": "select id, '{{ this }}' as me, '{{ target.name }}' as t, "
                        "'{{ this.identifier }}' as ident from {{ ref('proj', 'base') }}",
    })
    run_cli(project, "run")
    assert query(db_of(project), "select me, t, ident from m") == [
        ('"main"."m"', "dev", "m")]


def test_unknown_materialization_is_a_project_error(project: Path) -> None:
    write(project, {"models/m.sql": "{{ config(materialized='snapshot') }} select 1"})
    result = run_cli(project, "run", code=2)
    assert "unknown materialization 'snapshot'" in result.stderr
