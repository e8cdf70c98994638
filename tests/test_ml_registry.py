"""The registry: one broken function does not block unrelated work, load-time problems
come with their cause and fix, and model signatures are cached by file version."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import ml_models
from conftest import output, query, run_cli, write


def tiny(op: str = "Relu", opset: int = 13, ir: int = 8, domain: str = "",
         elem: int = TensorProto.FLOAT) -> bytes:
    graph = helper.make_graph([helper.make_node(op, ["x"], ["y"], domain=domain)], "g",
                              [helper.make_tensor_value_info("x", elem, [None])],
                              [helper.make_tensor_value_info("y", elem, [None])])
    opsets = [helper.make_opsetid("", opset)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = ir
    return model.SerializeToString()


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    root = write(tmp_path / "reg", {
        "predsql_project.yml": "name: reg\n",
        "functions/good.yml": "functions:\n  - name: dbl\n    model: dbl.onnx\n",
        "models/stg_x.sql": "select range::DOUBLE as x from range(5)",
    })
    ml_models.doubler(root / "functions/dbl.onnx")
    return root


def function_error(root: Path, data: bytes, extra: str = "") -> str:
    (root / "functions/m.onnx").write_bytes(data)
    write(root, {"functions/f.yml": f"functions:\n  - name: f\n    model: m.onnx\n{extra}"})
    listing = output(run_cli(root, "functions", code=1))
    assert "dbl(x FLOAT) -> FLOAT" in listing  # the others are listed as usual
    assert "functions/f.yml:2: function 'f'" in listing
    return listing


def test_broken_function_does_not_block_unrelated_work(proj: Path) -> None:
    write(proj, {
        "functions/broken.yml": "functions:\n  - name: churn\n    model: churn.onnx\n",
        "models/good.sql": "select x, dbl(x) as y from {{ ref('stg_x') }}",
        "models/bad.sql": "select x,\n  churn(x) as p from {{ ref('stg_x') }}",
        "models/after_bad.sql": "select * from {{ ref('bad') }}",
    })
    listing = run_cli(proj, "ls").stdout
    assert "bad" in listing and "good" in listing
    run_cli(proj, "run", "-s", "stg_x")
    run_cli(proj, "compile", "-s", "good")
    err = run_cli(proj, "compile", code=2).stderr
    assert "models/bad.sql:2" in err and "churn()" in err and "churn.onnx does not exist" in err
    listing = output(run_cli(proj, "functions", code=1))
    assert "dbl(x FLOAT) -> FLOAT" in listing and "churn: cannot be used" in listing
    result = run_cli(proj, "run", code=1)
    assert "functions/broken.yml:2" in result.stderr and "'bad' (models/bad.sql)" in result.stderr
    statuses = {r["unique_id"]: r["status"] for r in json.loads(
        (proj / "target/run_results.json").read_text())["results"]}
    assert statuses == {"model.reg.stg_x": "success", "model.reg.good": "success",
                        "model.reg.bad": "error", "model.reg.after_bad": "skipped"}
    assert query(proj / "reg.duckdb", "select sum(y) from good") == [(20.0,)]
    manifest = json.loads((proj / "target/manifest.json").read_text())
    assert "does not exist" in manifest["predsql"]["functions"]["churn"]["error"]


def test_signatures_are_cached_by_file_version(proj: Path, monkeypatch) -> None:
    from predsql.ml import model_info

    write(proj, {"models/good.sql": "select x, dbl(x) as y from {{ ref('stg_x') }}"})
    run_cli(proj, "functions")
    assert (proj / "target/predsql_model_signatures.json").is_file()
    calls: list[Path] = []
    inspect = model_info.inspect_model

    def counting(root: Path, path: Path, *args):
        calls.append(path)
        return inspect(root, path, *args)

    monkeypatch.setattr(model_info, "inspect_model", counting)
    for command in ("ls", "compile", "functions"):
        run_cli(proj, command)
    run_cli(proj, "run")
    assert calls == []  # no command read the model file's signature again
    ml_models.nan_maker(proj / "functions/dbl.onnx")  # another model, same file name
    run_cli(proj, "functions")
    assert [p.name for p in calls] == ["dbl.onnx"]
    run_cli(proj, "run")
    assert query(proj / "reg.duckdb", "select y from good where x = 1") == [(0.0,)]  # log(1)


def test_custom_operator_domains(proj: Path, monkeypatch) -> None:
    listing = function_error(proj, tiny("Foo", domain="com.acme.ops"))
    assert "custom operators of domain 'com.acme.ops' (Foo)" in listing
    assert "which custom-op library" in listing
    from predsql.ml import load_errors

    monkeypatch.setattr(load_errors, "installed", lambda package: False)
    listing = function_error(proj, tiny("StringUpper", domain="ai.onnx.contrib",
                                        elem=TensorProto.STRING))
    assert "domain 'ai.onnx.contrib' (StringUpper)" in listing
    assert "pip install onnxruntime-extensions" in listing


def test_custom_operators_of_onnxruntime_extensions_run(proj: Path) -> None:
    if importlib.util.find_spec("onnxruntime_extensions") is None:
        pytest.skip("needs onnxruntime-extensions: pip install -e '.[frameworks]'")
    (proj / "functions/upper.onnx").write_bytes(
        tiny("StringUpper", domain="ai.onnx.contrib", elem=TensorProto.STRING))
    write(proj, {"functions/f.yml": "functions:\n  - name: shout\n    model: upper.onnx\n",
                 "models/m.sql": "select s, shout(s) as u from (values ('abc'), ('Hi there'), "
                                 "(NULL)) t(s)"})
    run_cli(proj, "run")
    assert sorted(query(proj / "reg.duckdb", "select s, u from m"), key=str) == sorted(
        [("abc", "ABC"), ("Hi there", "HI THERE"), (None, None)], key=str)


def test_opsets_and_ir_versions_this_onnxruntime_cannot_run(proj: Path) -> None:
    listing = function_error(proj, tiny(opset=40))
    assert "opset 40 of domain 'ai.onnx'" in listing and "cannot run this opset" in listing
    assert "supports up to" in listing and "target_opset" in listing
    listing = function_error(proj, tiny(opset=5))
    assert "uses opset 5, older than onnxruntime" in listing and "convert_version" in listing
    listing = function_error(proj, tiny(ir=99))
    assert "IR version 99" in listing and "reads up to" in listing


def _external(root: Path, weights: float) -> None:
    w = numpy_helper.from_array(np.full((1, 1), weights, dtype=np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])],
                              initializer=[w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save_model(model, str(root / "functions/ext.onnx"), save_as_external_data=True,
                    location="ext.weights", size_threshold=0)


def test_external_data(proj: Path) -> None:
    _external(proj, 3.0)
    write(proj, {"functions/f.yml": "functions:\n  - name: triple\n    model: ext.onnx\n",
                 "models/m.sql": "select x, triple(x) as y from {{ ref('stg_x') }}"})
    run_cli(proj, "run")
    assert query(proj / "reg.duckdb", "select sum(y) from m") == [(30.0,)]
    fingerprint = json.loads((proj / "target/manifest.json").read_text())[
        "predsql"]["functions"]["triple"]["fingerprint"]
    _external(proj, 4.0)  # same .onnx file, new weights
    run_cli(proj, "run")
    assert query(proj / "reg.duckdb", "select sum(y) from m") == [(40.0,)]
    assert json.loads((proj / "target/manifest.json").read_text())[
        "predsql"]["functions"]["triple"]["fingerprint"] != fingerprint
    (proj / "functions/ext.weights").unlink()
    listing = output(run_cli(proj, "functions", code=1))
    assert "external data file 'ext.weights', which does not exist" in listing


def _identity(shape: list, elem: int = TensorProto.FLOAT, out: list | None = None) -> bytes:
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", elem, shape)],
                              [helper.make_tensor_value_info("y", elem, out or shape)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


def test_what_is_not_supported_yet_says_so(proj: Path) -> None:
    listing = function_error(proj, _identity([None, 3, 32, 32]))
    assert "input 'x' has shape [None, 3, 32, 32]; predsql feeds [N] and [N, k] inputs" in listing
    listing = function_error(proj, _identity([None, 2], TensorProto.UINT64))
    assert "input 'x' has type tensor(uint64), which predsql cannot feed" in listing
    listing = function_error(proj, _identity([None, None]))
    assert "its number of columns is not fixed" in listing and "columns:" in listing
    (proj / "functions/m.onnx").write_bytes(_identity([None, None], out=[None, 2]))
    write(proj, {"functions/f.yml": "functions:\n  - name: f\n    model: m.onnx\n"
                                    "    inputs: [{name: x, columns: [a, b]}]\n",
                 "models/m.sql": "select f(b := 2.0, a := 1.0) as y"})
    assert "f(a FLOAT, b FLOAT) -> FLOAT[2]" in run_cli(proj, "functions").stdout
    run_cli(proj, "run", "-s", "m")
    assert query(proj / "reg.duckdb", "select y from m") == [((1.0, 2.0),)]
