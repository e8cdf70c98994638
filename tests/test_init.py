"""`predsql init`: the first `predsql build` in the new folder scores rows with the
scaffolded ML function and passes its tests; the scores are onnxruntime's own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import onnxruntime as ort

from conftest import output, run_cli

FEATURES = ["tenure_months", "monthly_spend", "support_tickets"]


def test_init_then_build_scores_rows_as_onnxruntime_does(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "init", "demo")
    assert "Next: cd demo && predsql build" in result.stdout
    project = tmp_path / "demo"
    model = project / "functions/churn.onnx"
    assert model.is_file()
    built = run_cli(project, "build")
    assert "PASS=11 WARN=0 ERROR=0 SKIP=0 TOTAL=11" in built.stdout
    assert "churn_probability: 20 rows inferred" in built.stdout
    with duckdb.connect(str(project / "demo.duckdb"), read_only=True) as con:
        features = con.execute(f"select {', '.join(FEATURES)} from customers order by id"
                               ).fetchnumpy()
        scored = con.execute("select churn_probability, churn_risk from churn_scores "
                             "order by id").fetchall()
    x = np.column_stack([features[c] for c in FEATURES]).astype(np.float32)
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    expected = session.run(["probability"], {"features": x})[0][:, 0]
    got = np.array([p for p, _ in scored], dtype=np.float32)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert [r for _, r in scored] == ["high" if p >= 0.5 else "low" for p in expected]
    assert {"high", "low"} == {r for _, r in scored}  # the model separates the seed


def test_the_train_script_rewrites_the_same_model(tmp_path: Path) -> None:
    run_cli(tmp_path, "init", "demo")
    model = tmp_path / "demo/functions/churn.onnx"
    first = model.read_bytes()
    model.unlink()
    done = subprocess.run([sys.executable, "train.py"], cwd=tmp_path / "demo",
                          capture_output=True, text=True, check=True)
    assert "wrote functions/churn.onnx (trained on 20 customers)" in done.stdout
    assert model.read_bytes() == first


def test_init_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo/notes.txt").write_text("mine")
    result = run_cli(tmp_path, "init", "demo", code=2)
    assert "exists and is not empty" in output(result)
    assert "choose a new folder name" in output(result)
    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == ["notes.txt"]
