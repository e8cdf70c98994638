"""`predsql compile -s x` prints x's SQL; `predsql show --inline` runs ad-hoc SQL with ML."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import ml_models
from conftest import db_of, query, run_cli, write


@pytest.fixture
def shop(project: Path) -> Path:
    write(project, {
        "functions/f.yml": "functions:\n  - name: score\n    model: lr.onnx\n"
                           "    output: {name: probabilities, index: 1}\n",
        "models/base.sql": "{{ config(materialized='ephemeral') }}\nselect * from feats",
        "models/scores.sql": "-- scored\nselect id, score(f0, f1, f2, f3) as p from {{ ref('base') }}",
    })
    ml_models.logistic(project / "functions/lr.onnx")
    ml_models.load_features(db_of(project), "feats", ml_models.features(n=300_000))
    return project


def test_compile_one_node_prints_its_sql(shop: Path) -> None:
    out = run_cli(shop, "compile", "-s", "scores").stdout
    assert "Compiled node 'scores' is:\n" in out
    assert "score(f0, f1, f2, f3)" in out and "__dbt__cte__base" in out
    out = run_cli(shop, "compile", "-s", "base").stdout
    assert "Compiled node 'base' is:\nselect * from feats" in out
    out = run_cli(shop, "compile", "-s", "base scores").stdout
    assert "Compiled node" not in out and "2 nodes selected" in out
    records = [json.loads(line) for line in run_cli(
        shop, "compile", "-s", "scores", "--log-format", "json").stdout.splitlines()]
    (event,) = [r for r in records if r["event"] == "compiled_node"]
    assert event["node"] == "model.proj.scores" and "score(" in event["compiled_code"]


def test_show_inline_runs_ml_functions_on_the_rows_shown(shop: Path) -> None:
    run_cli(shop, "run")
    expected = query(db_of(shop), "select id, p from scores where id < 5 order by id")
    result = run_cli(shop, "show", "--inline",
                     "select id, score(f0, f1, f2, f3) as p from {{ ref('base') }} "
                     "where id < 5 order by id", "--log-format", "json")
    (preview,) = [r for r in map(json.loads, result.stdout.splitlines())
                  if r["event"] == "preview"]
    assert preview["columns"] == ["id", "p"]
    assert [(row[0], pytest.approx(row[1], abs=1e-6)) for row in preview["rows"]] == expected
    text = run_cli(shop, "show", "--inline", "select id, score(f0, f1, f2, f3) as p "
                   "from feats", "--limit", "3").stdout
    assert "inline query (first 3 rows)" in text
    assert [line.split("│")[1].strip() for line in text.splitlines()
            if line.startswith("│")] == ["0", "1", "2"]
    tables = query(db_of(shop), "select table_name from information_schema.tables "
                   "where table_schema = '__predsql_work'")
    assert tables == []


def test_show_inline_errors(shop: Path) -> None:
    result = run_cli(shop, "show", "--inline", "select * from {{ ref('scors') }}", code=2)
    assert "no model or seed named 'scors'" in result.stderr
    assert "did you mean 'scores'?" in result.stderr
    result = run_cli(shop, "show", "--inline", "select * from {{ ref('scores') }}", code=1)
    assert "scores has not been built yet" in result.stderr
    result = run_cli(shop, "show", "scores", "--inline", "select 1", code=2)
    assert "give a MODEL or --inline" in result.stderr
