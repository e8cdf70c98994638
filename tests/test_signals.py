"""SIGINT and SIGTERM at any phase: starting, loading, compiling, running, finishing."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

import ml_models
from conftest import query, run_cli, write

ROWS = 60_000


@pytest.fixture
def signalled(tmp_path: Path) -> Path:
    root = write(tmp_path / "sigs", {
        "predsql_project.yml": "name: sigs\n",
        "functions/f.yml": "functions:\n  - name: score\n    model: lr.onnx\n"
                           "    output: {name: probabilities, index: 1}\n    batch_size: 64\n",
        "models/a_first.sql": "select {{ var('v') }} as v",
        "models/b_scores.sql": "select id, score(f0, f1, f2, f3) as p, {{ var('v') }} as v "
                               "from {{ ref('a_first') }}, feats",
        "models/c_after.sql": "select * from {{ ref('b_scores') }}",
    })
    ml_models.logistic(root / "functions/lr.onnx")
    ml_models.load_features(root / "sigs.duckdb", "feats", ml_models.features(n=ROWS))
    return root


def start(root: Path, version: int, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "predsql", "run", "--project-dir", str(root),
         "--vars", f"{{v: {version}}}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"}, **kwargs)


def wait_for_handlers(proc: subprocess.Popen) -> None:
    """Until predsql's entry point catches SIGTERM (what Python does before that,
    while it starts the interpreter, is Python's business)."""
    status = Path(f"/proc/{proc.pid}/status")
    while proc.poll() is None:
        caught = next(line for line in status.read_text().splitlines()
                      if line.startswith("SigCgt:"))
        if int(caught.split()[1], 16) & (1 << (signal.SIGTERM - 1)):
            return
        time.sleep(0.005)


def consistent(db: Path) -> None:
    """Every model is entirely one version: the old one or the new one."""
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select count(*) from a_first").fetchall() == [(1,)]
        for table in ("b_scores", "c_after"):
            versions, rows = con.execute(f"select count(distinct v), count(*) from {table}"
                                         ).fetchall()[0]
            assert (versions, rows) == (1, ROWS), table
        leftovers = con.execute("select table_name from information_schema.tables where "
                                "table_name like '__predsql%' and table_schema <> "
                                "'__predsql_work'").fetchall()
        assert leftovers == []


def signal_loop(root: Path, runs: int, seed: int) -> dict[int, int]:
    """Signals at random moments of whole runs; every outcome is clean."""
    rng = random.Random(seed)
    began = time.monotonic()
    first = start(root, 0)
    wait_for_handlers(first)
    assert first.wait() == 0, first.communicate()
    duration = time.monotonic() - began
    codes: dict[int, int] = {}
    for attempt in range(1, runs + 1):
        results = root / "target/run_results.json"
        results.unlink(missing_ok=True)
        proc = start(root, attempt)
        wait_for_handlers(proc)
        time.sleep(rng.uniform(0, duration))
        sig = rng.choice([signal.SIGINT, signal.SIGTERM])
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=120)
        what = f"attempt {attempt}: {sig.name}, exit {proc.returncode}\n{out}\n{err}"
        assert proc.returncode in (0, 2), what
        assert "Traceback" not in out + err and "internal error" not in out + err, what
        if proc.returncode == 2:
            assert f"Interrupted by {sig.name}" in err, what
        run_results = json.loads(results.read_text())  # written whatever the phase
        statuses = {r["status"] for r in run_results["results"]}
        assert proc.returncode == 2 or statuses == {"success"}, what
        consistent(root / "sigs.duckdb")
        codes[proc.returncode] = codes.get(proc.returncode, 0) + 1
    print(f"signal loop: {codes} over {runs} runs of {duration:.1f}s")
    return codes


def test_signal_loop_over_all_phases(signalled: Path) -> None:
    codes = signal_loop(signalled, runs=6, seed=3)
    assert codes.get(2, 0) >= 2
    run_cli(signalled, "run", "--vars", "{v: 99}")
    consistent(signalled / "sigs.duckdb")


@pytest.mark.slow
def test_signal_loop_long(signalled: Path) -> None:
    codes = signal_loop(signalled, runs=60, seed=4)
    assert codes.get(2, 0) >= 30


@pytest.mark.parametrize("when", ["loading", "compiling"])
def test_sigterm_before_running_writes_skipped_results(signalled: Path, when: str) -> None:
    """A signal while the project loads or compiles: nothing runs, every selected
    node is reported skipped (or, before the selection is known, none), exit 2."""
    run_cli(signalled, "run", "--vars", "{v: 1}")
    busy = "{% for i in range(90000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}"
    slow = {"loading": busy, "compiling": f"select 1 as n {busy}"}[when]
    write(signalled, {"predsql_project.yml": f"name: sigs\nvars:\n  big: '{slow}'\n"}
          if when == "loading" else {"models/d_slow.sql": slow})
    proc = start(signalled, 2)
    wait_for_handlers(proc)
    log = signalled / "logs/predsql.log"
    size = log.stat().st_size
    time.sleep(1.5)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, out + err
    assert "Interrupted by SIGTERM" in err and "Traceback" not in err
    assert "START" not in out and log.stat().st_size > size
    results = json.loads((signalled / "target/run_results.json").read_text())["results"]
    assert {r["status"] for r in results} <= {"skipped"}
    assert query(signalled / "sigs.duckdb", "select distinct v from b_scores") == [(1,)]


def test_sigint_ignored_by_the_parent_stays_ignored(signalled: Path) -> None:
    """A background job (`predsql run &` in a script) ignores SIGINT, as the shell set it."""
    proc = start(signalled, 5, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    wait_for_handlers(proc)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    assert query(signalled / "sigs.duckdb", "select distinct v from c_after") == [(5,)]
