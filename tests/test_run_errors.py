"""Errors met while running: bad values mid-stream, onnxruntime failures, devices,
tables not built yet, misspelt names. Each says where, what and what to do."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

import ml_models
from conftest import output, run_cli, write
from predsql.ml import devices

LR = "functions:\n  - name: score\n    model: lr.onnx\n    output: {name: probabilities, index: 1}\n"


@pytest.fixture
def scoring(tmp_path: Path) -> Path:
    root = write(tmp_path / "errs", {"predsql_project.yml": "name: errs\n",
                                     "functions/f.yml": LR + "    cache: {cache}\n"})
    ml_models.logistic(root / "functions/lr.onnx")
    with duckdb.connect(str(root / "errs.duckdb")) as con:
        con.execute("create table t as select range as id, (range % 7)::varchar as s "
                    "from range(300000)")
    return root


@pytest.mark.parametrize("cache", ["false", "true"])
def test_a_value_that_cannot_be_cast_mid_stream_reads_as_up_front(scoring: Path,
                                                                   cache: str) -> None:
    (scoring / "functions/f.yml").write_text(LR + f"    cache: {cache}\n")
    messages = []
    for bad_row in (3, 250_000):  # in the first batch, and far into the stream
        write(scoring, {"models/m.sql": f"select id, score(1, case when id = {bad_row} then "
                                        "'n/a' else s end, 2, 3) as p from t"})
        text = output(run_cli(scoring, "run", code=1))
        assert "internal error" not in text and "LINE 1" not in text and "CAST(" not in text
        messages.append(next(line for line in text.splitlines() if "cannot be cast" in line))
        assert "hint: clean or filter the column" in text
    assert messages[0] == messages[1]
    assert messages[0] == ("models/m.sql:1: 'm': argument 2 of score() cannot be cast to FLOAT: "
                           "1 row, e.g. 'n/a'")


def save(nodes: list, initializers: list, x_shape: list, y_shape: list, path: Path) -> None:
    graph = helper.make_graph(
        nodes, "m", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)], initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    ml_models.save(model, path)


def ints(name: str, values: list[int]) -> TensorProto:
    return helper.make_tensor(name, TensorProto.INT64, [len(values)], values)


@pytest.fixture
def failing(tmp_path: Path) -> Path:
    """Real ONNX models onnxruntime fails on: a Reshape that needs an even batch, and
    a petabyte allocation. (A fixed batch dimension is refused when the registry is read.)"""
    root = write(tmp_path / "ortf", {
        "predsql_project.yml": "name: ortf\n",
        "functions/f.yml": "functions:\n" + "".join(
            f"  - name: {n}\n    model: {n}.onnx\n" for n in ("pairs", "hog")),
        **{f"models/m_{n}.sql": f"select {n}(range, 1, 2, 3) as y from range(5)"
           for n in ("pairs", "hog")},
    })
    fn = root / "functions"
    save([helper.make_node("Reshape", ["x", "s"], ["r"]),
          helper.make_node("ReduceSum", ["r", "ax"], ["y"], keepdims=1)],
         [ints("s", [-1, 8]), ints("ax", [1])], ["N", 4], ["N", 1], fn / "pairs.onnx")
    one = helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0])
    save([helper.make_node("ConstantOfShape", ["shape"], ["c"], value=one),
          helper.make_node("ReduceSum", ["c"], ["total"], keepdims=0),
          helper.make_node("Slice", ["x", "start", "end", "axis"], ["first"]),
          helper.make_node("Add", ["first", "total"], ["y"])],
         [ints("shape", [1 << 48]), ints("start", [0]), ints("end", [1]), ints("axis", [1])],
         ["N", 4], ["N", 1], fn / "hog.onnx")
    return root


def test_onnxruntime_failures_name_function_model_batch_and_fix(failing: Path) -> None:
    result = run_cli(failing, "run", "--log-format", "json", code=1)
    errors = {r["name"]: r for r in map(json.loads, result.stdout.splitlines())
              if r["event"] == "node_error"}
    assert set(errors) == {"m_pairs", "m_hog"}
    for name, error in errors.items():
        fn = name.removeprefix("m_")
        assert error["file"] == "functions/f.yml"
        assert f"{fn}() failed in onnxruntime" in error["message"]
        assert f"model {fn}.onnx" in error["message"] and "batch of 5 rows" in error["message"]
        assert "internal error" not in error["message"] and "onnxruntime_src" not in error["message"]
        assert "[ONNXRuntimeError]" not in error["message"]
    assert "(shape mismatch)" in errors["m_pairs"]["message"]
    assert "cannot be reshaped" in errors["m_pairs"]["message"]
    assert "dynamic batch dimension" in errors["m_pairs"]["hint"]
    assert "(out of memory)" in errors["m_hog"]["message"]
    assert "lower batch_size in functions/f.yml" in errors["m_hog"]["hint"]


@pytest.fixture
def fresh_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devices, "_status", None)


@pytest.fixture
def tiny_ml(tmp_path: Path) -> Path:
    root = write(tmp_path / "dev", {"predsql_project.yml": "name: dev\n",
                                    "functions/f.yml": LR + "    device: auto\n",
                                    "models/m.sql": "select score(1, 2, 3, 4) as p"})
    ml_models.logistic(root / "functions/lr.onnx")
    return root


def test_device_cuda_flag_blames_the_flag_with_the_provider_reason(tiny_ml: Path,
                                                                   fresh_probe: None) -> None:
    status = devices.probe_cuda()
    if status.usable:  # a GPU machine: the flag works
        run_cli(tiny_ml, "run", "--device", "cuda")
        results = json.loads((tiny_ml / "target/run_results.json").read_text())["results"]
        assert results[0]["predsql"]["ml_functions"]["score"]["provider"].startswith("CUDA")
        return
    result = run_cli(tiny_ml, "run", "--device", "cuda", code=2)
    assert "--device cuda was given, but onnxruntime cannot use CUDA here: " in result.stderr
    assert status.reason and status.reason in result.stderr
    assert "\x1b[" not in status.reason and "[ONNXRuntimeError]" not in status.reason
    assert "functions/f.yml" not in result.stderr  # the flag asked, not the YAML
    assert "START" not in result.stdout  # refused before anything ran


def test_unusable_cuda_simulated(tiny_ml: Path, fresh_probe: None,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """onnxruntime without the CUDA provider (plain onnxruntime, macOS, ...)."""
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    result = run_cli(tiny_ml, "run", "--device", "cuda", code=2)
    assert "has no CUDAExecutionProvider (providers: CPUExecutionProvider)" in result.stderr
    auto = run_cli(tiny_ml, "run")
    assert auto.stdout.count("device auto runs ML functions on CPU: CUDA is not usable here "
                             "(this onnxruntime") == 1
    write(tiny_ml, {"functions/f.yml": LR + "    device: cuda\n"})
    result = run_cli(tiny_ml, "run", code=1)
    assert "functions/f.yml: function 'score' asks for device: cuda, but onnxruntime cannot " \
           "use CUDA here: this onnxruntime" in result.stderr
    assert "set device: auto or cpu" in result.stderr


def test_tables_not_built_yet_say_which_command_builds_them(project: Path) -> None:
    write(project, {"seeds/people.csv": "id,age\n1,30\n",
                    "models/adults.sql": "select * from {{ ref('people') }} where age >= 18",
                    "models/counts.sql": "select count(*) as n from {{ ref('adults') }}"})
    text = output(run_cli(project, "run", "-s", "adults", code=1))
    assert "'adults' reads \"main\".\"people\", which does not exist yet" in text
    assert "run `predsql seed -s people`" in text and "database error" not in text
    run_cli(project, "seed")
    text = output(run_cli(project, "run", "-s", "counts", code=1))
    assert "adults has not been built yet: run `predsql run -s adults`" in text
    assert "`predsql build -s +counts`" in text


def test_show_suggests_the_closest_name_and_the_command_to_build(project: Path) -> None:
    write(project, {"seeds/people.csv": "id,age\n1,30\n",
                    "models/adults.sql": "select * from {{ ref('people') }}"})
    result = run_cli(project, "show", "adlts", code=2)
    assert "no model or seed named 'adlts'" in result.stderr
    assert "did you mean 'adults'?" in result.stderr
    result = run_cli(project, "show", "people", code=1)
    assert "run `predsql seed -s people`" in result.stderr
