"""state:modified selects what a change touched; ml_metadata stamps fingerprints."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import ml_models
from conftest import query, run_cli, write


@pytest.fixture
def stateful(tmp_path: Path) -> Path:
    root = write(tmp_path / "st", {
        "predsql_project.yml": "name: st\n",
        "functions/f.yml": "functions:\n  - name: score\n    model: m.onnx\n"
                           "    output: {name: probabilities, index: 1}\n",
        "models/a.sql": "select range as id, random() as x from range(20)",
        "models/b.sql": "select * from {{ ref('a') }}",
        "models/c.sql": "{{ config(ml_metadata=true) }}\n"
                        "select id, score(x, x, x, x) as s from {{ ref('a') }}",
        "models/d.sql": "select * from {{ ref('c') }} where s > 0.5",
        "models/e.sql": "select 1 as unrelated",
    })
    ml_models.logistic(root / "functions/m.onnx")
    run_cli(root, "run")
    shutil.copytree(root / "target", tmp_path / "saved")
    return root


def modified(root: Path, selector: str) -> set[str]:
    result = run_cli(root, "ls", "-s", selector, "--state", str(root.parent / "saved"),
                     "--output", "name", "--resource-type", "model")
    return set(result.stdout.split())


def test_nothing_modified(stateful: Path) -> None:
    assert modified(stateful, "state:modified") == set()


def test_touching_one_sql_file(stateful: Path) -> None:
    write(stateful, {"models/b.sql": "select id from {{ ref('a') }}"})
    assert modified(stateful, "state:modified") == {"b"}
    write(stateful, {"models/a.sql": "select range as id, 0.5 as x from range(20)"})
    assert modified(stateful, "state:modified+") == {"a", "b", "c", "d"}


def test_replacing_one_onnx_file(stateful: Path) -> None:
    ml_models.mlp(stateful / "functions/m.onnx")
    assert modified(stateful, "state:modified") == {"c"}
    assert modified(stateful, "state:modified+") == {"c", "d"}
    run_cli(stateful, "run", "-s", "state:modified+", "--state", str(stateful.parent / "saved"))
    results = json.loads((stateful / "target/run_results.json").read_text())["results"]
    assert {r["unique_id"].split(".")[-1] for r in results} == {"c", "d"}


def test_config_change_counts(stateful: Path) -> None:
    write(stateful, {"models/e.sql": "{{ config(tags=['x']) }} select 1 as unrelated"})
    assert modified(stateful, "state:modified") == {"e"}


def test_ml_metadata_column(stateful: Path) -> None:
    manifest = json.loads((stateful / "target/manifest.json").read_text())
    fingerprint = manifest["predsql"]["functions"]["score"]["fingerprint"]
    stamps = query(stateful / "st.duckdb", "select distinct _predsql_ml_fingerprints from c")
    assert [json.loads(s[0]) for s in stamps] == [{"score": fingerprint}]
