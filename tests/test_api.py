"""predsql.invoke: the Python API for Airflow/Dagster tasks and notebooks."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import ml_models
from conftest import db_of, query, write
from predsql import InvocationResult, invoke
from predsql.errors import ProjectError


@pytest.fixture
def scored(project: Path) -> Path:
    write(project, {
        "functions/f.yml": "functions:\n  - name: score\n    model: lr.onnx\n"
                           "    output: {name: probabilities, index: 1}\n",
        "models/scores.sql": "select id, score(f0, f1, f2, f3) as p from feats",
        "models/broken.sql": "select no_such_column",
        "models/after.sql": "select * from {{ ref('broken') }}",
    })
    ml_models.logistic(project / "functions/lr.onnx")
    ml_models.load_features(db_of(project), "feats", ml_models.features(n=5_000))
    return project


def in_worker(func):
    """Run `func` on a thread, as an Airflow or Dagster worker would."""
    box: dict = {}
    thread = threading.Thread(target=lambda: box.update(value=func()))
    thread.start()
    thread.join()
    return box["value"]


def database_is_free(db: Path) -> bool:
    """Another process can open the file for writing: nothing here still holds it."""
    code = f"import duckdb; duckdb.connect({str(db)!r}).close()"
    return subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def test_invoke_from_a_worker_thread(scored: Path) -> None:
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    threads = threading.active_count()
    seen: list[dict] = []
    result = in_worker(lambda: invoke(["run", "-q"], project_dir=scored,
                                      callbacks=[seen.append]))
    assert isinstance(result, InvocationResult)
    assert result.exit_code == 1 and not result.success and result.exception is None
    status = {n.name: n.status for n in result.nodes}
    assert status == {"scores": "success", "broken": "error", "after": "skipped"}
    scores = result.node("scores")
    assert scores.rows_affected == 5_000
    stats = scores.ml_functions["score"]
    assert stats["rows_inferred"] == 5_000 and stats["provider"] == "CPUExecutionProvider"
    assert "no_such_column" in result.node("broken").message
    assert "exit 1" in result.summary() and "error=1" in result.summary()
    finished = [e for e in seen if e["event"] == "node_finished"]
    assert {e["name"] for e in finished} == {"scores", "broken", "after"}
    # nothing left behind: signal handlers, threads, the database file
    assert {s: signal.getsignal(s) for s in handlers} == handlers
    assert threading.active_count() == threads
    assert database_is_free(db_of(scored))
    assert query(db_of(scored), "select count(*) from scores") == [(5_000,)]


def test_invoke_never_exits(scored: Path, tmp_path: Path) -> None:
    missing = invoke(["run"], project_dir=tmp_path / "nowhere")
    assert missing.exit_code == 2 and isinstance(missing.exception, ProjectError)
    assert "no predsql_project.yml" in str(missing.exception)
    usage = invoke(["run", "--no-such-flag"], project_dir=scored)
    assert usage.exit_code == 2 and "--no-such-flag" in str(usage.exception)
    assert invoke(["--version"]).exit_code == 0
    ok = invoke(["run", "-s", "scores", "-q"], project_dir=scored)
    assert ok.success and [n.name for n in ok.nodes] == ["scores"]
    listed = invoke(["ls", "-s", "scores"], project_dir=scored)
    assert listed.success and listed.nodes == ()
    with pytest.raises(KeyError):
        ok.node("nope")


def test_invoke_on_the_main_thread_restores_signal_handlers(scored: Path) -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    result = invoke(["run", "-s", "scores", "-q"], project_dir=scored)
    assert result.success
    assert {s: signal.getsignal(s) for s in before} == before
    assert database_is_free(db_of(scored))
