"""Faults a nightly run must survive: signals, a held database, full disks, memory."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import ml_models
from conftest import db_of, output, query, run_cli, write

ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def predsql(root: Path, *args: str, **kwargs) -> subprocess.Popen:
    kwargs.setdefault("cwd", root)  # relative profile paths start at the working directory
    return subprocess.Popen([sys.executable, "-m", "predsql", *args, "--project-dir", str(root)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
                            **kwargs)


@pytest.fixture
def slow_ml(tmp_path: Path) -> Path:
    """A model that takes several seconds: batch_size 1 over 200k rows."""
    root = write(tmp_path / "sig", {
        "predsql_project.yml": "name: sig\n",
        "functions/f.yml": "functions:\n  - name: score\n    model: lr.onnx\n"
                           "    output: {name: probabilities, index: 1}\n    batch_size: 1\n",
        "models/a_first.sql": "select {{ var('v', 0) }} as v",
        "models/b_scores.sql": "select id, score(f0, f1, f2, f3) as p, {{ var('v', 0) }} as v "
                               "from {{ ref('a_first') }}, feats",
        "models/c_after.sql": "select * from {{ ref('b_scores') }}",
    })
    ml_models.logistic(root / "functions/lr.onnx")
    ml_models.load_features(root / "sig.duckdb", "feats", ml_models.features(n=2000))
    run_cli(root, "run")
    ml_models.load_features(root / "sig.duckdb", "feats", ml_models.features(n=200_000))
    return root


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_rolls_back_and_skips_the_rest(slow_ml: Path, sig: signal.Signals) -> None:
    proc = predsql(slow_ml, "run", "--vars", "{v: 1}")
    for line in proc.stdout:  # the ML model is running (however slow the start-up)
        if "START sql table model main.b_scores" in line:
            break
    time.sleep(1)
    assert proc.poll() is None, proc.communicate()
    began = time.monotonic()
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - began < 10
    assert proc.returncode == 2, out + err
    assert f"Interrupted by {sig.name}" in err and "Traceback" not in out + err
    results = json.loads((slow_ml / "target/run_results.json").read_text())["results"]
    status = {r["unique_id"].split(".")[-1]: r["status"] for r in results}
    assert status == {"a_first": "success", "b_scores": "error", "c_after": "skipped"}
    assert "interrupted" in next(r["message"] for r in results if r["status"] == "error")
    assert query(db_of(slow_ml, "sig"), "select count(*), max(v) from b_scores") == [(2000, 0)]
    tables = query(db_of(slow_ml, "sig"), "select table_name from information_schema.tables "
                   "where table_name like '__predsql%'")
    assert tables == []


def test_lock_timeout_waits_for_the_holder(project: Path) -> None:
    write(project, {"models/m.sql": "select 1 as x"})
    run_cli(project, "run")
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb,time; c=duckdb.connect({str(db_of(project))!r}); "
         "print('ready', flush=True); time.sleep(2)"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "ready"
    started = time.monotonic()
    run_cli(project, "run", "--lock-timeout", "30")
    assert time.monotonic() - started >= 1
    holder.wait()


def limited(size: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    return apply


def test_disk_full_is_a_clean_error_and_keeps_old_data(project: Path) -> None:
    write(project, {"predsql_project.yml": "name: proj\nmodels:\n  +materialized: table\n",
                    "models/small.sql": "select 1 as x",
                    "models/wide.sql": "select range as id, {{ var('v', 0) }} as v, "
                                       "md5(range::varchar) as h from range(300000)"})
    run_cli(project, "run")
    db = db_of(project)
    size = db.stat().st_size
    for extra in (0, 256 * 1024, 4 * 1024 * 1024):
        proc = predsql(project, "run", "--vars", "{v: 7}", preexec_fn=limited(size + extra))
        out, err = proc.communicate(timeout=120)
        assert proc.returncode in (1, 2), out + err
        assert "Traceback" not in out + err
        assert "models/wide.sql" in err or "database" in err.lower()
        assert query(db, "select count(*), max(v) from wide") == [(300000, 0)]
    run_cli(project, "run", "--vars", "{v: 7}")
    assert query(db, "select max(v) from wide") == [(7,)]


def test_memory_limit_fails_one_model_and_spilling_completes(project: Path) -> None:
    heavy = ("select range % 1000003 as k, string_agg(md5(range::varchar), ',') as s "
             "from range(3000000) group by 1")
    write(project, {
        "profiles.yml": "proj:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
                        "      path: proj.duckdb\n      settings: {memory_limit: '40MB', "
                        "temp_directory: '', threads: 1}\n",
        "models/heavy.sql": "{{ config(materialized='table') }} " + heavy,
        "models/light.sql": "select 1 as x",
    })
    result = run_cli(project, "run", code=1)
    results = json.loads((project / "target/run_results.json").read_text())["results"]
    status = {r["unique_id"].split(".")[-1]: r["status"] for r in results}
    assert status == {"heavy": "error", "light": "success"}
    assert "models/heavy.sql" in output(result) and "memory" in output(result).lower()
    write(project, {"profiles.yml": "proj:\n  target: dev\n  outputs:\n    dev:\n"
                                    "      type: duckdb\n      path: proj.duckdb\n"
                                    f"      settings: {{memory_limit: '40MB', threads: 1, "
                                    f"temp_directory: '{project / 'spill'}'}}\n"})
    run_cli(project, "run")
    assert query(db_of(project), "select count(*) from heavy") == [(1000003,)]
