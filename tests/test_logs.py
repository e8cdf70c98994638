"""What a run prints: node lines, progress, JSON events (docs/events.md), --quiet."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import ml_models
from conftest import output, run_cli, write


def events(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture
def scored(tmp_path: Path) -> Path:
    """A seed, a model, an ML model over 12,000 rows (one NULL, NaN outputs), tests."""
    root = write(tmp_path / "logs", {
        "predsql_project.yml": "name: logs\n",
        "seeds/s.csv": "id,x\n1,2\n2,3\n",
        "functions/f.yml": "functions:\n  - name: score\n    model: lr.onnx\n"
                           "    output: {name: probabilities, index: 1}\n"
                           "  - name: logf\n    model: log.onnx\n",
        "models/a.sql": "select * from {{ ref('s') }}",
        "models/b.sql": "select id, score(f0, f1, f2, f3) as p, logf(f0) as l from feats",
        "models/schema.yml": """
            version: 2
            models:
              - name: a
                columns:
                  - name: id
                    data_tests:
                      - unique
                      - accepted_values: {values: [1], config: {severity: warn}}
                  - name: x
                    data_tests:
                      - accepted_values: {values: [2]}
            """,
    })
    ml_models.logistic(root / "functions/lr.onnx")
    ml_models.nan_maker(root / "functions/log.onnx")
    ml_models.load_features(root / "logs.duckdb", "feats", ml_models.features(n=12_000),
                            "union all select 12000, null, 0, 0, 0")
    return root


def test_start_lines_numbers_plurals_and_separators(scored: Path) -> None:
    result = run_cli(scored, "build", code=1)
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Running 6 nodes with 1 thread on ")
    starts = [line for line in lines if " START " in line]
    assert len(starts) == 6
    assert re.search(r"1 of 6 START seed file main\.s \.+ \[RUN\]$", starts[0])
    numbers = [int(re.search(r"(\d+) of 6", line).group(1)) for line in starts]
    assert numbers == [1, 2, 3, 4, 5, 6]  # numbered in start order
    # every finished line carries the number of its START line
    started = {int(re.search(r"(\d+) of 6 START", s).group(1)):
               re.search(r"START (.+?) \.", s).group(1).split()[-1] for s in starts}
    finished = [line for line in lines if re.search(r"\d+ of 6 (OK|PASS|WARN|FAIL)", line)]
    assert len(finished) == 6
    for line in finished:
        number = int(re.search(r"(\d+) of 6", line).group(1))
        assert f" {started[number]} ." in line, (line, started)
    assert re.search(r"OK created sql table model main\.b \.+ \[OK 12,001 in ", result.stdout)
    assert "score: 12,000 rows inferred, 0 from cache" in result.stdout
    assert "1 NULL row not scored" in result.stdout
    negatives = sum(1 for v in ml_models.features(n=12_000)[:, 0] if v < 0)
    assert f"{negatives:,} NaN outputs" in result.stdout
    assert re.search(r"WARN 1 accepted_values_a_id_+1 \.+ \[WARN 1 in", result.stdout)
    assert re.search(r"FAIL 1 accepted_values_a_x_+2 \.+ \[FAIL 1 in", result.stdout)
    assert "Finished running 1 seed, 1 table model, 3 tests, 1 view model in " in result.stdout
    assert "Completed with 1 error." in result.stderr


def test_json_events_are_structured_with_levels(scored: Path) -> None:
    write(scored, {"models/broken.sql": "select\n  no_such_column\nfrom range(3)"})
    result = run_cli(scored, "build", "--log-format", "json", code=1)
    records = events(result.stdout)
    assert all(r["msg"].strip() and r["ts"] and r["event"] for r in records)  # no empty events
    by_event: dict[str, list[dict]] = {}
    for r in records:
        by_event.setdefault(r["event"], []).append(r)
    finished = {r["name"].replace("__", "_"): r for r in by_event["node_finished"]}
    b = finished["b"]
    assert b["status"] == "success" and b["level"] == "info" and b["rows"] == 12_001
    assert b["resource_type"] == "model" and b["node"] == "model.logs.b"
    assert b["execution_time"] > 0 and b["materialized"] == "table"
    ml = {r["function"]: r for r in by_event["ml_function"]}
    assert ml["score"]["rows_inferred"] == 12_000 and ml["score"]["rows_null"] == 1
    assert ml["score"]["rows_from_cache"] == 0 and ml["score"]["rows_per_second"] > 0
    assert ml["score"]["provider"] == "CPUExecutionProvider"
    assert ml["logf"]["nan_outputs"] > 0
    assert b["ml_functions"]["score"]["rows_inferred"] == 12_000
    assert finished["accepted_values_a_x_2"]["level"] == "error"
    assert finished["accepted_values_a_x_2"]["status"] == "fail"
    assert finished["accepted_values_a_id_1"]["level"] == "warn"
    assert finished["broken"]["level"] == "error"
    (error,) = by_event["node_error"]
    assert error["node"] == "model.logs.broken" and error["file"] == "models/broken.sql"
    assert "no_such_column" in error["message"] and error["level"] == "error"
    assert set(error) >= {"file", "line", "message", "hint"}
    starts = by_event["node_started"]
    assert [r["index"] for r in starts] == list(range(1, 8)) and starts[0]["total"] == 7
    (summary,) = by_event["run_finished"]
    assert summary["totals"] == {"pass": 4, "warn": 1, "error": 2, "skip": 0, "total": 7}


def test_command_errors_are_events_with_file_line_and_hint(project: Path) -> None:
    write(project, {"models/m.sql": "select 1 as x", "models/n.sql": "select * from {{ ref('mm') }}"})
    result = run_cli(project, "run", "--log-format", "json", code=2)
    (record,) = [r for r in events(result.stdout) if r["event"] == "error"]
    assert record["level"] == "error" and record["file"] == "models/n.sql"
    assert record["line"] == 1 and "did you mean 'm'" in record["hint"]
    assert "mm" in record["message"]


def test_quiet_prints_errors_and_the_summary(scored: Path) -> None:
    write(scored, {"models/broken.sql": "select no_such_column"})
    result = run_cli(scored, "build", "--quiet", code=1)
    assert "START" not in output(result) and "PASS" not in result.stdout.split("Finished")[0]
    assert re.search(r"FAIL 1 accepted_values_a_x_+2", result.stdout)
    assert "ERROR creating sql view model main.broken" in result.stdout
    assert "no_such_column" in result.stderr
    assert "Finished running" in result.stdout and "Completed with 2 errors." in result.stderr


@pytest.fixture
def slow(tmp_path: Path) -> Path:
    """About two seconds of inference: batch_size 4 over 600,000 rows (5 read batches)."""
    root = write(tmp_path / "slow", {
        "predsql_project.yml": "name: slow\n",
        "functions/f.yml": "functions:\n  - name: score\n    model: lr.onnx\n"
                           "    output: {name: probabilities, index: 1}\n    batch_size: 4\n"
                           "    threads: 1\n",
        "models/m.sql": "select id, score(f0, f1, f2, f3) as p from feats",
    })
    ml_models.logistic(root / "functions/lr.onnx")
    ml_models.load_features(root / "slow.duckdb", "feats", ml_models.features(n=600_000))
    return root


def test_progress_events_outside_a_terminal(slow: Path) -> None:
    result = run_cli(slow, "run", "--log-format", "json", "--progress-interval", "0.3")
    progress = [r for r in events(result.stdout) if r["event"] == "progress"]
    assert len(progress) >= 2, result.stdout
    last = progress[-1]
    assert last["node"] == "model.slow.m" and last["functions"] == ["score"]
    assert last["rows_total"] == 600_000 and 0 <= last["rows_done"] <= 600_000
    assert last["rows_per_second"] >= 0 and last["elapsed_seconds"] > 0
    assert any(r["eta_seconds"] is not None for r in progress)
    dones = [r["rows_done"] for r in progress]
    assert dones == sorted(dones)


def test_progress_lines_in_text_mode_interval_from_the_environment(
        slow: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREDSQL_PROGRESS_INTERVAL", "0.3")
    text = run_cli(slow, "run").stdout
    assert re.search(r"m: score\(\): [\d,]+ of 600,000 \(\d+%\) rows, [\d,]+ rows/s", text)
