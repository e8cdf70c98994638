"""kill -9 at random moments: every table is its old or its new version, never a mix."""

from __future__ import annotations

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

BIG_ROWS = 5_000_000
INC_ROWS = 100_000
ML_ROWS = 400_000


@pytest.fixture
def killable(tmp_path: Path) -> Path:
    root = write(tmp_path / "kill", {
        "predsql_project.yml": "name: kill\n",
        "functions/f.yml": "functions:\n  - name: score\n    model: lr.onnx\n"
                           "    output: {name: probabilities, index: 1}\n",
        "models/big.sql": f"select range as id, {{{{ var('version') }}}} as version "
                          f"from range({BIG_ROWS})",
        "models/inc.sql": "{{ config(materialized='incremental') }}\n"
                          f"select range as id, {{{{ var('version') }}}} as version "
                          f"from range({INC_ROWS})",
        "models/ml.sql": "select id, score(f0, f1, f2, f3) * 0 + {{ var('version') }} as version "
                         "from feats",
    })
    ml_models.logistic(root / "functions/lr.onnx")
    ml_models.load_features(root / "kill.duckdb", "feats", ml_models.features(n=ML_ROWS))
    run_cli(root, "run", "--vars", "{version: 0}")
    return root


def check_consistent(db: Path) -> None:
    """Each table holds exactly one complete version (incremental: whole appends)."""
    with duckdb.connect(str(db)) as con:
        big = con.execute("select count(distinct version), count(*) from big").fetchall()[0]
        assert big == (1, BIG_ROWS)
        ml = con.execute("select count(distinct version), count(*) from ml").fetchall()[0]
        assert ml == (1, ML_ROWS)
        sizes = con.execute("select count(*) from inc group by version").fetchall()
        assert sizes and all(size == (INC_ROWS,) for size in sizes)


def start_run(root: Path, version: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "predsql", "run", "--quiet", "--project-dir", str(root),
         "--vars", f"{{version: {version}}}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)


def kill_loop(root: Path, kills: int, seed: int) -> tuple[int, int]:
    """(attempts after which every table was consistent, attempts killed mid-run).

    Kill delays are fractions of a measured uninterrupted run, so they land mid-run
    whatever the speed of the machine; a run that finished before its kill (the machine
    got faster meanwhile) shortens the estimate and is tried again, up to 3x `kills`
    attempts, so that `kills` runs really are killed mid-run."""
    rng = random.Random(seed)
    began = time.monotonic()
    start_run(root, -1).wait()  # a version of its own: inc appends whole runs
    duration = time.monotonic() - began
    survived = landed = 0
    for attempt in range(1, 3 * kills + 1):
        proc = start_run(root, attempt)
        time.sleep(rng.uniform(0.2, 0.9) * duration)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            landed += 1
        else:
            duration *= 0.7
        proc.wait()
        check_consistent(root / "kill.duckdb")
        survived += 1
        if landed == kills:
            break
    print(f"kill -9: {landed} of {survived} runs killed mid-run, all consistent afterwards")
    return survived, landed


def finish_cleanly(root: Path) -> None:
    run_cli(root, "run", "--vars", "{version: 999}")
    check_consistent(root / "kill.duckdb")
    leftovers = query(root / "kill.duckdb", "select table_schema, table_name from "
                      "information_schema.tables where table_name like '__predsql%' "
                      "or table_schema like '__predsql%'")
    assert leftovers == []
    assert query(root / "kill.duckdb", "select distinct version from big") == [(999,)]


def test_kill_9_short_loop(killable: Path) -> None:
    survived, landed = kill_loop(killable, kills=4, seed=1)
    assert landed == 4 and survived >= 4
    finish_cleanly(killable)


@pytest.mark.slow
def test_kill_9_long_loop(killable: Path) -> None:
    survived, landed = kill_loop(killable, kills=16, seed=2)
    assert landed == 16 and survived >= 16
    finish_cleanly(killable)
