"""The guides' commands, run as a reader would: every `sh` block of docs/tutorial.md in
order, in one shell, in an empty folder (`predsql` is this checkout's code)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import onnxruntime as ort
import pytest
import yaml

ROOT = Path(__file__).parent.parent
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def code_blocks(doc: Path, language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(doc.read_text(encoding="utf-8"))
            if lang == language]


def predsql_on_path(folder: Path) -> dict[str, str]:
    """An environment whose `predsql` runs this checkout with this interpreter."""
    folder.mkdir()
    shim = folder / "predsql"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m predsql "$@"\n')
    shim.chmod(0o755)
    python = folder / "python"
    python.symlink_to(sys.executable)
    path = f"{folder}{os.pathsep}{os.environ['PATH']}"
    pythonpath = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PATH": path, "PYTHONPATH": pythonpath, "NO_COLOR": "1"}


def test_the_tutorial_runs_from_an_empty_folder(tmp_path: Path) -> None:
    lines = [line for block in code_blocks(ROOT / "docs/tutorial.md", "sh")
             for line in block.splitlines() if line.strip()]
    installs = [line for line in lines if line.startswith("pip install")]
    assert installs == ["pip install -e ."]  # the one line not run here (no network)
    script = "\n".join(["set -euxo pipefail", *[ln for ln in lines if ln not in installs]])
    work = tmp_path / "work"
    work.mkdir()
    done = subprocess.run(["bash", "-c", script], cwd=work, env=predsql_on_path(tmp_path / "bin"),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "PASS=11 WARN=0 ERROR=0 SKIP=0 TOTAL=11" in done.stdout
    assert "churn_probability(tenure_months FLOAT, monthly_spend FLOAT, support_tickets FLOAT) " \
           "-> FLOAT" in done.stdout
    assert "wrote functions/churn.onnx (trained on 21 customers)" in done.stdout
    project = work / "churn_demo"
    with duckdb.connect(str(project / "churn_demo.duckdb"), read_only=True) as con:
        x = con.execute("select tenure_months, monthly_spend, support_tickets from "
                        "customer_segments order by id").fetchnumpy()
        scores = con.execute("select churn_probability from churn_scores order by id").fetchnumpy()
    features = np.column_stack(list(x.values())).astype(np.float32)
    assert len(features) == 21  # the customer the tutorial adds
    session = ort.InferenceSession(str(project / "functions/churn.onnx"),
                                   providers=["CPUExecutionProvider"])
    expected = session.run(None, {"features": features})[0][:, 0]  # the retrained model
    np.testing.assert_allclose(scores["churn_probability"], expected, rtol=1e-6)


def init_project(tmp_path: Path, name: str) -> tuple[Path, dict[str, str]]:
    env = predsql_on_path(tmp_path / "bin")
    subprocess.run(["predsql", "init", name], cwd=tmp_path, env=env, check=True,
                   capture_output=True)
    return tmp_path / name, env


OPERATIONS = ROOT / "docs/operations.md"


def test_the_nightly_script_builds_and_retries_once_what_failed(tmp_path: Path) -> None:
    [script] = code_blocks(OPERATIONS, "bash")
    project, env = init_project(tmp_path, "analytics")
    nightly = project / "nightly.sh"
    nightly.write_text(script)
    nightly.chmod(0o755)
    done = subprocess.run(["./nightly.sh"], cwd=project, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    [log] = (project / "logs").glob("build-*.jsonl")
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert events[-1]["event"] == "run_finished" and events[-1]["level"] == "info"
    assert "Retrying" not in done.stdout
    (project / "models/broken.sql").write_text("select * from {{ ref('customers') }} "
                                               "where cast(name as integer) > 0")
    done = subprocess.run(["./nightly.sh"], cwd=project, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Retrying `predsql build`: 1 node that errored, failed or were skipped" in done.stdout


def test_the_python_function_for_schedulers(tmp_path: Path) -> None:
    plain = code_blocks(OPERATIONS, "python")[0]
    assert "airflow" not in plain and "dagster" not in plain
    namespace: dict = {}
    exec(compile(plain, "operations.md", "exec"), namespace)
    project, _ = init_project(tmp_path, "analytics")
    assert namespace["nightly_build"](str(project)) == {"churn_scores.churn_probability": 20}
    (project / "models/broken.sql").write_text("select nope")
    with pytest.raises(RuntimeError, match=r"predsql build .*: exit 1 \(error=1, pass=8"):
        namespace["nightly_build"](str(project))
    for block in code_blocks(OPERATIONS, "python")[1:]:  # Airflow and Dagster: shown, not run
        compile(block, "operations.md", "exec")


def test_the_ci_workflow_steps_run_full_then_slim(tmp_path: Path) -> None:
    profiles, workflow = (yaml.safe_load(block) for block in code_blocks(OPERATIONS, "yaml"))
    project, env = init_project(tmp_path, "analytics")
    (project / "profiles.yml").write_text(yaml.safe_dump(profiles))
    steps = {step.get("name") or step.get("run") or step["uses"]: step
             for step in workflow["jobs"]["build"]["steps"]}
    assert steps["pip install -r requirements.txt"]["run"]  # the one step not run here
    build = steps["Build against the seeds"]["run"]
    keep = steps["Keep this build's manifest for later pull requests"]["run"]

    def step(script: str) -> str:
        done = subprocess.run(["bash", "-eo", "pipefail", "-c", script], cwd=project, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    (project / "models/answer.sql").write_text("select 42 as answer")  # unrelated to the change
    assert "PASS=12" in step(build)  # a push to main: no state yet, the whole project
    assert (project / "ci.duckdb").exists() and not (project / "analytics.duckdb").exists()
    step(keep)
    model = project / "models/churn_scores.sql"
    model.write_text(model.read_text().replace(">= 0.5", ">= 0.6"))
    slim = step(build)  # a pull request changing churn_scores
    assert "Running 11 nodes" in slim  # the seed, both models and their tests; not `answer`
    assert "PASS=11" in slim and "answer" not in slim
