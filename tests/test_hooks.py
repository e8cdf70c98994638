"""Hooks as dbt runs them, and the project file rendered as dbt renders it."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import db_of, output, query, run_cli, write

PROJECT = """
name: proj
models:
  proj:
    +post-hook: "insert into main.hooklog select 'post {{ this }} {{ target.name }}', 2"
    +pre-hook:
      - "insert into main.hooklog select 'pre project {{ this.identifier }}', 1"
    skipped:
      +enabled: "{{ var('load_skipped', false) }}"
seeds:
  proj:
    +post-hook: "{% do adapter.drop_relation(this.incorporate(type='table')) %}"
on-run-start:
  - "create table if not exists main.hooklog (what varchar, n int)"
  - "insert into main.hooklog select 'start {{ target.name }}', 0"
on-run-end: >-
  insert into main.hooklog select 'end ' || '{{ results | length }}
  {{- " " ~ schemas | join(',') }} {{ results | map(attribute='status') | join(',') }}', 9
"""


def test_hooks_run_at_their_moments(project: Path) -> None:
    write(project, {
        "predsql_project.yml": PROJECT,
        "seeds/dropped.csv": "a\n1\n",
        "models/skipped/never.sql": "select 1 as x",
        "models/m.sql": "{{ config(pre_hook=\"insert into main.hooklog select 'pre model', 1\","
                        " post_hook=[\"insert into main.hooklog select 'post model ' || "
                        "(select count(*) from {{ this }}), 3\"]) }}\nselect 1 as x",
    })
    result = run_cli(project, "build")
    log = query(db_of(project), "select what from hooklog order by rowid")
    assert log == [
        ("start dev",),
        ("pre project m",), ("pre model",),
        ('post "main"."m" dev',), ("post model 1",),
        ("end 2 main success,success",),
    ]
    # the seed's post-hook dropped it (dbt_utils' own integration tests do this)
    assert query(db_of(project), "select count(*) from information_schema.tables "
                                 "where table_name = 'dropped'") == [(0,)]
    data = json.loads((project / "target/run_results.json").read_text())["results"]
    assert [r["unique_id"] for r in data if r["unique_id"].startswith("operation.")] == [
        "operation.proj.proj-on-run-start-0", "operation.proj.proj-on-run-start-1",
        "operation.proj.proj-on-run-end-0"]
    assert "never" not in output(result)


def test_enabled_from_a_var_is_a_boolean(project: Path) -> None:
    write(project, {
        "predsql_project.yml": PROJECT,
        "models/skipped/never.sql": "select 1 as x",
        "models/m.sql": "select 1 as x",
    })
    run_cli(project, "run", "--vars", "{load_skipped: true}")
    assert query(db_of(project), "select count(*) from never") == [(1,)]


def test_failing_hooks_are_node_errors(project: Path) -> None:
    write(project, {"models/m.sql": "select 1 as x", "models/n.sql": "select 2 as y"})
    run_cli(project, "run")
    write(project, {
        "predsql_project.yml": "name: proj\non-run-start: [\"select * from missing_table\"]\n",
        "models/m.sql": "{{ config(post_hook='insert into nowhere values (1)') }} select 3 as x",
    })
    result = run_cli(project, "run", code=1)
    data = {r["unique_id"]: r for r in
            json.loads((project / "target/run_results.json").read_text())["results"]}
    assert data["operation.proj.proj-on-run-start-0"]["status"] == "error"
    assert data["model.proj.m"]["status"] == "error"
    assert "post-hook 0 of 'm' failed" in data["model.proj.m"]["message"]
    assert data["model.proj.n"]["status"] == "success"
    assert "Traceback" not in output(result)
    # the post-hook ran inside the swap's transaction: the previous m is intact
    assert query(db_of(project), "select x from m") == [(1,)]


def test_target_in_project_file_values(project: Path) -> None:
    write(project, {
        "predsql_project.yml": "name: proj\nmodels:\n  proj:\n"
                               "    +materialized: \"{{ 'view' if target.name == 'dev' else 'table' }}\"\n",
        "models/m.sql": "select 1 as x",
    })
    run_cli(project, "run")
    assert query(db_of(project), "select table_type from information_schema.tables "
                                 "where table_name = 'm'") == [("VIEW",)]


def test_properties_keys_dbt_renders_later_never_break_compilation(project: Path) -> None:
    write(project, {
        "models/m.sql": "select 1 as id, 'a' as kind",
        "models/props.yml": """
            version: 2
            models:
              - name: m
                description: "rows of {{ target.name }}"
                columns:
                  - name: kind
                    data_tests:
                      - accepted_values:
                          arguments:
                            values: ["{{ var('kind', 'a') }}"]
            semantic_models:
              - name: things
                model: ref('m')
                measures:
                  - name: n
                    agg: count
                    filter: "{{ Dimension('thing__kind') }} = 'a'"
            metrics:
              - name: n_things
                type: simple
                type_params: {measure: n}
                filter: "{{ Dimension('thing__kind') }} = 'a'"
            saved_queries:
              - name: q
                query_params:
                  where: ["{{ TimeDimension('metric_time', 'day') }} > '2024-01-01'"]
            exposures:
              - name: dashboard
                type: dashboard
                owner: {email: a@example.com}
                depends_on: ["ref('m')"]
                config: {meta: {filter: "{{ Entity('thing') }}"}}
            groups:
              - name: finance
                owner: {email: a@example.com}
            some_future_key:
              - anything: "{{ not_rendered() }}"
        """,
    })
    run_cli(project, "build")
    manifest = json.loads((project / "target/manifest.json").read_text())
    assert manifest["nodes"]["model.proj.m"]["description"] == "rows of dev"


def test_properties_errors_name_the_real_line(project: Path) -> None:
    write(project, {
        "models/m.sql": "select 1 as id",
        "models/props.yml": """
            version: 2
            models:
              - name: m
                columns:
                  - name: id
                    description: "{{ undefined_function() }}"
        """,
    })
    result = run_cli(project, "compile", code=2)
    assert "models/props.yml:6" in result.stderr and "Traceback" not in output(result)


def test_only_the_chosen_profile_target_is_rendered(project: Path) -> None:
    write(project, {
        "profiles.yml": """
            proj:
              target: "{{ env_var('PREDSQL_TEST_TARGET', 'local') }}"
              outputs:
                cloud:
                  type: bigquery
                  project: "{{ env_var('NOT_SET_HERE') }}"
                  dataset: "x_{{ modules.datetime.datetime.now().strftime('%f') }}"
                local:
                  type: duckdb
                  path: "{{ 'proj' }}.duckdb"
        """,
        "models/m.sql": "select 1 as x",
    })
    run_cli(project, "run")
    assert query(db_of(project), "select x from m") == [(1,)]


def test_post_hooks_of_incremental_models_and_views(project: Path) -> None:
    write(project, {
        "predsql_project.yml": "name: proj\non-run-start: [\"create table if not exists "
                               "main.log (what varchar, n bigint)\"]\n",
        "models/inc.sql": "{{ config(materialized='incremental', unique_key='id', post_hook="
                          "\"insert into main.log select 'inc', count(*) from {{ this }}\") }}\n"
                          "select 1 as id",
        "models/v.sql": "{{ config(materialized='view', post_hook=\"insert into main.log "
                        "select 'v', count(*) from {{ this }}\") }}\nselect 1 as id",
    })
    run_cli(project, "run")
    run_cli(project, "run")
    assert query(db_of(project), "select what, n from log order by rowid") == [
        ("inc", 1), ("v", 1), ("inc", 1), ("v", 1)]
