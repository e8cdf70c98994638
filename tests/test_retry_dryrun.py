"""`predsql retry` and `predsql run --dry-run`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb

import ml_models
from conftest import db_of, output, query, run_cli, write

LR = "functions:\n  - name: score\n    model: lr.onnx\n    output: {name: probabilities, index: 1}\n"


def statuses(project: Path) -> dict[str, str]:
    results = json.loads((project / "target/run_results.json").read_text())["results"]
    return {r["unique_id"].split(".")[-1]: r["status"] for r in results}


def test_retry_runs_what_failed_with_the_same_flags(project: Path) -> None:
    write(project, {
        "models/a.sql": "{{ config(materialized='table') }} select {{ var('v') }} as v",
        "models/b.sql": "select v, no_such_column from {{ ref('a') }}",
        "models/c.sql": "select * from {{ ref('b') }}",
        "models/d.sql": "select {{ var('v') }} * 10 as v",
    })
    run_cli(project, "run", "--vars", "{v: 7}", "--threads", "2", code=1)
    assert statuses(project) == {"a": "success", "b": "error", "c": "skipped", "d": "success"}
    args = json.loads((project / "target/run_results.json").read_text())["args"]
    assert args["which"] == "run" and args["vars"] == {"v": 7} and args["threads"] == 2
    write(project, {"models/b.sql": "select v from {{ ref('a') }}"})
    with duckdb.connect(str(db_of(project))) as con:
        con.execute("update a set v = 8")  # a is not rebuilt by the retry
    result = run_cli(project, "retry")
    assert "Retrying `predsql run`: 2 nodes that errored, failed or were skipped" in result.stdout
    assert "with 2 threads" in result.stdout
    assert statuses(project) == {"b": "success", "c": "success"}
    assert query(db_of(project), "select v from c") == [(8,)]
    assert query(db_of(project), "select v from d") == [(70,)]  # vars from the last run
    assert "Nothing to retry" in run_cli(project, "retry").stdout


def test_retry_after_a_run_interrupted_before_its_selection(project: Path) -> None:
    write(project, {"models/a.sql": "select {{ var('v', 1) }} as v",
                    "models/b.sql": "select 2 as w"})
    run_cli(project, "run", "-s", "a")
    results = project / "target/run_results.json"
    data = json.loads(results.read_text())
    data["results"] = []
    data["args"].update(interrupted="SIGTERM", vars={"v": 5})
    results.write_text(json.dumps(data))
    result = run_cli(project, "retry")
    assert "the whole run" in result.stdout
    assert statuses(project) == {"a": "success"}  # the original selection, -s a
    assert query(db_of(project), "select v from a") == [(5,)]


def test_retry_without_a_previous_run(project: Path) -> None:
    result = run_cli(project, "retry", code=2)
    assert "nothing to retry" in result.stderr and "run_results.json does not exist" in result.stderr
    run_cli(project, "compile")
    write(project, {"target/run_results.json": json.dumps({"results": [], "args": {}})})
    assert "nothing to retry" in run_cli(project, "retry", code=2).stderr


def test_dry_run_counts_rows_to_score_minus_cache_hits(project: Path) -> None:
    write(project, {"functions/f.yml": LR + "    cache: true\n",
                    "models/scores.sql": "select id, score(f0, f1, f2, f3) as p from feats",
                    "models/plain.sql": "select 1 as x"})
    ml_models.logistic(project / "functions/lr.onnx")
    ml_models.load_features(db_of(project), "feats", ml_models.features(n=20_000),
                            "union all select 20000, null, 1, 1, 1")
    first = output(run_cli(project, "run", "--dry-run"))
    assert "scores: score(): 20,000 of 20,000 rows to score" in first
    assert "time unknown (no earlier run measured this function)" in first
    assert not (project / "target/run_results.json").exists()
    assert query(db_of(project), "select count(*) from information_schema.tables "
                 "where table_name in ('scores', 'plain')") == [(0,)]
    run_cli(project, "run")
    before = (project / "target/run_results.json").read_text()
    with duckdb.connect(str(db_of(project))) as con:
        con.execute("update feats set f0 = f0 + 1 where id % 100 = 0")  # 200 changed rows
    result = run_cli(project, "run", "--dry-run", "--log-format", "json")
    records = [json.loads(line) for line in result.stdout.splitlines()]
    (estimate,) = [r for r in records if r["event"] == "dry_run_estimate"]
    assert estimate["rows_in"] == 20_000 and estimate["rows_to_score"] == 200
    assert estimate["rows_sent"] == 200 and estimate["rows_per_second"] > 0
    assert estimate["estimated_seconds"] is not None
    (summary,) = [r for r in records if r["event"] == "dry_run_summary"]
    assert summary["rows_sent"] == 200
    assert (project / "target/run_results.json").read_text() == before  # nothing written
    text = run_cli(project, "run", "--dry-run", "--no-cache").stdout
    assert re.search(r"scores: score\(\): 20,000 of 20,000 rows to score, (under 1s|about \S+) "
                     r"at [\d,]+ rows/s", text)


def test_dry_run_of_models_whose_inputs_are_not_built(project: Path) -> None:
    write(project, {"functions/f.yml": LR,
                    "models/base.sql": "select range as id, 1.0 as f0 from range(10)",
                    "models/scores.sql": "select id, score(f0, f0, f0, f0) as p "
                                         "from {{ ref('base') }}"})
    ml_models.logistic(project / "functions/lr.onnx")
    text = output(run_cli(project, "run", "--dry-run"))
    assert "scores" in text and "rows unknown" in text
    run_cli(project, "run")
    text = run_cli(project, "build", "--dry-run").stdout
    assert "scores: score(): 10 of 10 rows to score" in text
