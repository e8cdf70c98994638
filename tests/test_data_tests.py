"""`predsql test` / `build`: generic, custom, singular and unit tests, with their configs."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pytest

import ml_models
from conftest import db_of, output, query, run_cli, write


def statuses(root: Path) -> dict[str, tuple[str, int | None]]:
    results = json.loads((root / "target/run_results.json").read_text())["results"]
    return {r["unique_id"].split(".")[-1]: (r["status"], r["failures"]) for r in results}


@pytest.fixture
def scores(project: Path) -> Path:
    write(project, {
        "models/scores.sql": """
            select * from (values (1, 0.1, 'a'), (2, 0.5, 'b'), (3, 1.0, 'c'), (4, 1.7, null),
                                  (4, -0.2, 'z')) as t(id, score, grade)
        """,
    })
    return project


def test_builtin_tests_in_both_spellings_and_forms(scores: Path) -> None:
    write(scores, {"models/props.yml": """
        models:
          - name: scores
            columns:
              - name: id
                tests: [unique]
              - name: grade
                data_tests:
                  - not_null
                  - accepted_values:
                      arguments:
                        values: ['a', 'b', 'c']
              - name: score
                data_tests:
                  - accepted_range: {min_value: 0, max_value: 1}
                  - accepted_range:
                      name: score_open_interval
                      min_value: 0.1
                      max_value: 1
                      inclusive: false
    """})
    run_cli(scores, "build", code=1)
    got = statuses(scores)
    assert got["unique_scores_id"] == ("fail", 1)
    assert got["not_null_scores_grade"] == ("fail", 1)
    assert got["accepted_values_scores_grade__a__b__c"] == ("fail", 1)
    assert got["accepted_range_scores_score__1__0"] == ("fail", 2)
    assert got["score_open_interval"] == ("fail", 4)


def test_severity_thresholds_where_limit_and_store_failures(scores: Path) -> None:
    write(scores, {"models/props.yml": """
        models:
          - name: scores
            columns:
              - name: score
                data_tests:
                  - accepted_range:
                      name: range_warn
                      min_value: 0
                      max_value: 1
                      config: {severity: warn}
                  - accepted_range:
                      name: range_threshold
                      min_value: 0
                      max_value: 1
                      config: {warn_if: '>0', error_if: '>5'}
                  - accepted_range:
                      name: range_where
                      min_value: 0
                      max_value: 1
                      config: {where: "id < 4"}
                  - accepted_range:
                      name: range_stored
                      min_value: 0
                      max_value: 1
                      config: {store_failures: true, limit: 1}
    """})
    run_cli(scores, "run")
    result = run_cli(scores, "test", code=1)
    got = statuses(scores)
    assert got["range_warn"] == ("warn", 2)
    assert got["range_threshold"] == ("warn", 2)
    assert got["range_where"] == ("pass", 0)
    assert got["range_stored"] == ("fail", 1)
    stored = query(db_of(scores), 'select id from "main_dbt_test__audit"."range_stored"')
    assert len(stored) == 1 and stored[0][0] == 4
    assert "WARN 2" in output(result) and "FAIL 1" in output(result)


def test_warn_only_run_succeeds(scores: Path) -> None:
    write(scores, {"models/props.yml": """
        models:
          - name: scores
            data_tests:
              - unique:
                  column_name: id
                  config: {severity: warn}
    """})
    run_cli(scores, "build")
    assert statuses(scores)["unique_scores_id"] == ("warn", 1)


def test_custom_generic_and_singular_tests(scores: Path) -> None:
    write(scores, {
        "macros/tests.sql": """
            {% test is_even(model, column_name) %}
            select * from {{ model }} where {{ column_name }} % 2 != 0
            {% endtest %}
        """,
        "tests/generic/positive.sql": """
            {% test positive(model, column_name, strict=true) %}
            select * from {{ model }} where {{ column_name }} {{ '<=' if strict else '<' }} 0
            {% endtest %}
        """,
        "tests/no_big_scores.sql": "select * from {{ ref('scores') }} where score > 1.5",
        "models/props.yml": """
            models:
              - name: scores
                columns:
                  - name: id
                    data_tests: [is_even]
                  - name: score
                    data_tests:
                      - positive: {strict: false}
        """,
    })
    run_cli(scores, "build", code=1)
    got = statuses(scores)
    assert got["is_even_scores_id"] == ("fail", 2)
    assert got["positive_scores_score__False"] == ("fail", 1)
    assert got["no_big_scores"] == ("fail", 1)
    manifest = json.loads((scores / "target/manifest.json").read_text())
    assert manifest["nodes"]["test.proj.no_big_scores"]["depends_on"]["nodes"] == [
        "model.proj.scores"]


def test_source_tests_and_test_type_selector(project: Path) -> None:
    with duckdb.connect(str(db_of(project))) as con:
        con.execute("create schema raw; create table raw.events as select * from "
                    "(values (1), (1), (null)) t(id)")
    write(project, {
        "models/sources.yml": """
            sources:
              - name: raw
                tables:
                  - name: events
                    columns:
                      - name: id
                        data_tests: [unique, not_null]
        """,
        "models/m.sql": "select id from {{ source('raw', 'events') }}",
    })
    run_cli(project, "test", "-s", "test_type:data", code=1)
    got = statuses(project)
    assert got["source_unique_raw_events_id"] == ("fail", 1)
    assert got["source_not_null_raw_events_id"] == ("fail", 1)


def test_build_skips_descendants_of_a_failing_test(project: Path) -> None:
    write(project, {
        "models/raw.sql": "select * from (values (1), (1)) t(id)",
        "models/child.sql": "select id from {{ ref('raw') }}",
        "models/grandchild.sql": "select id from {{ ref('child') }}",
        "models/other.sql": "select 1 as x",
        "models/props.yml": "models:\n  - name: raw\n    columns:\n"
                            "      - name: id\n        data_tests: [unique]\n",
    })
    run_cli(project, "build", code=1)
    got = statuses(project)
    assert got["raw"][0] == "success" and got["unique_raw_id"] == ("fail", 1)
    assert got["child"][0] == "skipped" and got["grandchild"][0] == "skipped"
    assert got["other"][0] == "success"


@pytest.fixture
def churn_project(tmp_path: Path) -> tuple[Path, object]:
    root = write(tmp_path / "ut", {
        "predsql_project.yml": "name: ut\n",
        "functions/f.yml": "functions:\n  - name: churn\n    model: churn.onnx\n"
                           "    output: {name: output_probability, key: 1}\n",
        "models/stg.sql": "select * from {{ source('app', 'customers') }}",
        "models/scored.sql": "select id, plan, churn(plan, tenure, spend) as p "
                             "from {{ ref('stg') }} where churn(plan, tenure, spend) > "
                             "{{ var('cut', 0) }}",
        "models/sources.yml": "sources:\n  - name: app\n    schema: main\n"
                              "    tables:\n      - name: customers\n",
    })
    pipe = ml_models.churn_pipeline(root / "functions/churn.onnx")
    with duckdb.connect(str(root / "ut.duckdb")) as con:
        con.execute("create table customers (id int, plan varchar, tenure double, "
                    "spend double, note varchar)")
    return root, pipe


def unit_yaml(rows: list[dict], expect: list[dict], extra: str = "") -> str:
    return json.dumps({"unit_tests": [{
        "name": "scores_match_sklearn", "model": "scored",
        "given": [{"input": "ref('stg')", "rows": rows}],
        "expect": {"rows": expect}, **json.loads(extra or "{}")}]})


def test_unit_test_with_an_ml_function_matches_scikit_learn(churn_project) -> None:
    root, pipe = churn_project
    import pandas as pd

    rows = [{"id": 1, "plan": "basic", "tenure": 2.0, "spend": 15.0},
            {"id": 2, "plan": "pro", "tenure": 50.0, "spend": 90.0},
            {"id": 3, "plan": "plus", "tenure": 10.0, "spend": 30.0}]
    frame = pd.DataFrame(rows)[["plan", "tenure", "spend"]].astype(
        {"tenure": np.float32, "spend": np.float32})
    probs = pipe.predict_proba(frame)[:, 1]
    expect = [{"id": r["id"], "p": float(p)} for r, p in zip(rows, probs)]
    write(root, {"models/unit.yml": unit_yaml(rows, expect)})
    run_cli(root, "test", "-s", "test_type:unit")
    assert statuses(root)["scores_match_sklearn"] == ("pass", 0)
    # the unit test never touched the target database
    assert query(root / "ut.duckdb", "select count(*) from information_schema.tables") == [(1,)]

    wrong = [dict(e, p=e["p"] + 0.01) if e["id"] == 2 else e for e in expect]
    write(root, {"models/unit.yml": unit_yaml(rows, wrong)})
    result = run_cli(root, "test", code=1)
    assert statuses(root)["scores_match_sklearn"] == ("fail", 2)
    text = output(result)
    assert "- expected" in text and "+ actual" in text and "| 2" in text


def test_unit_test_overrides_vars_and_csv_rows(churn_project) -> None:
    root, _ = churn_project
    write(root, {"models/unit.yml": """
        unit_tests:
          - name: high_cut_keeps_nobody
            model: scored
            overrides:
              vars: {cut: 0.999}
            given:
              - input: ref('stg')
                format: csv
                rows: |
                  id,plan,tenure,spend
                  1,basic,2,15
                  2,pro,50,90
            expect:
              rows: []
    """})
    run_cli(root, "test")
    assert statuses(root)["high_cut_keeps_nobody"] == ("pass", 0)


def test_failing_unit_test_skips_its_model_in_build(churn_project) -> None:
    root, _ = churn_project
    write(root, {"models/unit.yml": unit_yaml(
        [{"id": 1, "plan": "basic", "tenure": 2.0, "spend": 15.0}], [{"id": 99}])})
    run_cli(root, "build", code=1)
    got = statuses(root)
    assert got["scores_match_sklearn"] == ("fail", 2)
    assert got["scored"][0] == "skipped" and got["stg"][0] == "success"
