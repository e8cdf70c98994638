"""The hot path's pieces: Arrow <-> numpy through buffers, the distinct-values probe,
no session when the cache serves everything, predsql's default DuckDB memory limit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

import ml_models
from conftest import run_cli, write
from predsql.database import DEFAULT_MEMORY_LIMIT, connect
from predsql.ml.arrays import distinct_rows, from_numpy, to_numpy, valid_mask
from predsql.project import Target

NUMBERS = [pa.float16(), pa.float32(), pa.float64(), pa.int8(), pa.int16(), pa.int32(),
           pa.int64(), pa.uint8(), pa.uint32(), pa.uint64()]


@pytest.mark.parametrize("arrow_type", NUMBERS, ids=str)
def test_to_numpy_matches_pyarrow_with_nulls_and_offsets(arrow_type: pa.DataType) -> None:
    values = [1, None, 3, 0, None, 7, 8, None, 2, 5, 6]
    array = pa.array(values, type=arrow_type)
    for piece in (array, array.slice(1), array.slice(3, 5), array.slice(11)):
        expected = piece.to_numpy(zero_copy_only=False)
        got = to_numpy(piece)
        if piece.null_count and not pa.types.is_floating(arrow_type):
            assert got.dtype == expected.dtype  # left to pyarrow: NULLs of integers
        np.testing.assert_array_equal(got, expected)
        mask = valid_mask(piece)
        assert (mask is None) == (piece.null_count == 0)
        if mask is not None:
            np.testing.assert_array_equal(mask, piece.is_valid().to_numpy(zero_copy_only=False))


def test_to_numpy_keeps_float_bits_and_booleans() -> None:
    bits = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 1e-45], dtype=np.float32)
    got = to_numpy(pa.array(bits))
    assert got.view(np.uint32).tolist() == bits.view(np.uint32).tolist()
    flags = pa.array([True, False, True, True, False, False, True, False, True]).slice(2)
    np.testing.assert_array_equal(to_numpy(flags), flags.to_numpy(zero_copy_only=False))


@pytest.mark.parametrize("arrow_type", [pa.float32(), pa.int64(), pa.bool_(), pa.string()],
                         ids=str)
def test_from_numpy_equals_pa_array(arrow_type: pa.DataType) -> None:
    rng = np.random.default_rng(0)
    values = {"float": rng.random(37).astype(np.float32), "int64": rng.integers(0, 9, 37),
              "bool": rng.random(37) > 0.5,
              "string": np.array([str(i) for i in range(37)], dtype=object)}[str(arrow_type)]
    valid = rng.random(37) > 0.3
    for mask in (None, valid):
        got = from_numpy(values, arrow_type, mask)
        expected = pa.array(values, type=arrow_type, mask=None if mask is None else ~mask)
        assert got.equals(expected)
        got.validate(full=True)


def test_distinct_probe_gives_up_early_and_agrees_with_the_full_count() -> None:
    many = [pa.array(np.arange(1000, dtype=np.float32)), pa.array(np.zeros(1000, np.float32))]
    assert distinct_rows(many, limit=500) is None
    few = [pa.array(np.array([0.0, -0.0, np.nan, 1.0] * 250, dtype=np.float32))]
    first, inverse = distinct_rows(few, limit=500)
    full_first, full_inverse = distinct_rows(few)
    np.testing.assert_array_equal(first, full_first)
    np.testing.assert_array_equal(inverse, full_inverse)


def test_predsql_sets_a_memory_limit_only_when_the_profile_sets_none(tmp_path: Path) -> None:
    def limit(settings: dict) -> str:
        target = Target(name="dev", profile="p", path=str(tmp_path / "x.duckdb"),
                        settings=settings)
        con = connect(target)
        try:
            return con.execute("select current_setting('memory_limit')").fetchone()[0]
        finally:
            con.close()

    with duckdb.connect() as con:
        con.execute(f"set memory_limit = '{DEFAULT_MEMORY_LIMIT}'")
        default = con.execute("select current_setting('memory_limit')").fetchone()[0]
    assert limit({}) == default
    assert limit({"memory_limit": "1GB"}) != default
    assert limit({"max_memory": "1GB"}) != default


def test_a_run_served_entirely_from_the_cache_creates_no_session(tmp_path: Path) -> None:
    root = write(tmp_path / "c", {
        "predsql_project.yml": "name: c\n",
        "functions/f.yml": "functions:\n  - name: score\n    model: forest.onnx\n    cache: true\n",
        "models/scores.sql": "select id, score(f0, f1, f2, f3) as s from feats",
    })
    ml_models.forest(root / "functions/forest.onnx")
    ml_models.load_features(root / "c.duckdb", "feats", ml_models.features(n=2000, seed=1))
    run_cli(root, "run")
    first = duckdb.connect(str(root / "c.duckdb")).execute(
        "select id, s from scores order by id").fetchall()
    # a second run in a fresh process, with onnxruntime's session constructor broken
    code = ("import sys, onnxruntime as ort\n"
            "def fail(*a, **k): raise RuntimeError('a session was created')\n"
            "ort.InferenceSession = fail\n"
            "sys.argv = ['predsql', 'run', '--project-dir', sys.argv[1]]\n"
            "from predsql.cli import main\nmain()\n")
    done = subprocess.run([sys.executable, "-c", code, str(root)], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((root / "target/run_results.json").read_text())["results"]
    stats = results[0]["predsql"]["ml_functions"]["score"]
    assert stats["rows_inferred"] == 0 and stats["rows_from_cache"] == 2000
    assert stats["provider"] == "none (all from cache)"
    again = duckdb.connect(str(root / "c.duckdb")).execute(
        "select id, s from scores order by id").fetchall()
    assert again == first


def test_io_binding_gives_the_same_bits_as_session_run(tmp_path: Path) -> None:
    """The CUDA path's I/O binding, run here on the CPU provider: same outputs."""
    import onnxruntime as ort

    from predsql.ml.runtime import FunctionRuntime, map_batch
    from predsql.ml.specs import InputSpec, MlFunction, OutputSpec

    path = tmp_path / "forest.onnx"
    ml_models.forest(path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = session.get_inputs()[0]
    outs = session.get_outputs()
    fn = MlFunction(name="f", description="", yml_path="f.yml", model_path=path,
                    inputs=(InputSpec(x.name, "float", "FLOAT", 4, 2, ()),),
                    outputs=(OutputSpec(outs[0].name, outs[0].name, "float", "FLOAT", None,
                                        None),),
                    struct=False, batch_size=None, device="cpu", on_null="null", cache=False,
                    threads=None, fingerprint="x", config={}, file_sha256="")
    rng = np.random.default_rng(0)
    arrays = [pa.array(rng.random(5000).astype(np.float32)) for _ in range(4)]
    plain = FunctionRuntime(fn, session, "CPUExecutionProvider", 2048, 1, None)
    bound = FunctionRuntime(fn, session, "CPUExecutionProvider", 2048, 1, None, io_binding=True)
    a = map_batch(plain, arrays).column
    b = map_batch(bound, arrays).column
    assert to_numpy(a).view(np.uint32).tolist() == to_numpy(b).view(np.uint32).tolist()


def _net_with_subnormal_weights(path: Path) -> None:
    """A (4 -> 8 -> 1) ReLU network; a quarter of its weights are subnormal, as in the
    dead units of a regularized network."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(3)
    w1 = rng.normal(size=(4, 8)).astype(np.float32)
    w1[:, ::4] = np.float32(3e-42) * rng.choice([-1, 1], size=(4, 2))
    w2 = rng.normal(size=(8, 1)).astype(np.float32)
    w2[1::4] = np.float32(-1e-40)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "w1"], ["h"]), helper.make_node("Relu", ["h"], ["r"]),
         helper.make_node("MatMul", ["r", "w2"], ["y"])], "net",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def test_subnormal_weights_are_flushed_with_the_same_results(tmp_path: Path) -> None:
    import onnx
    import onnxruntime as ort

    from predsql.ml.onnx_files import subnormal_weights
    from predsql.ml.registry import load_registry
    from predsql.project import load_project

    root = write(tmp_path / "s", {
        "predsql_project.yml": "name: s\n",
        "functions/f.yml": "functions:\n  - name: flushed\n    model: net.onnx\n"
                           "  - name: kept\n    model: net.onnx\n    subnormal_weights: keep\n",
        "models/scores.sql": "select id, flushed(f0, f1, f2, f3) as a, kept(f0, f1, f2, f3) as b "
                             "from feats",
    })
    _net_with_subnormal_weights(root / "functions/net.onnx")
    x = ml_models.features(n=3000, seed=2)
    x[:100] *= 1e-39  # subnormal inputs reach the model unchanged
    ml_models.load_features(root / "s.duckdb", "feats", x)
    registry = load_registry(load_project(root))
    flushed, kept = registry.functions["flushed"], registry.functions["kept"]
    assert flushed.flush_subnormals and not kept.flush_subnormals
    assert subnormal_weights(onnx.load_from_string(flushed.load_model_bytes())) == 0
    assert subnormal_weights(onnx.load_from_string(kept.load_model_bytes())) == 10

    run_cli(root, "run")
    rows = duckdb.connect(str(root / "s.duckdb")).execute(
        "select a, b from scores order by id").fetchall()
    session = ort.InferenceSession(str(root / "functions/net.onnx"),
                                   providers=["CPUExecutionProvider"])
    expected = session.run(None, {"X": x.astype(np.float32)})[0].reshape(-1)
    got = np.array(rows, dtype=np.float32)
    assert np.array_equal(got[:, 1], expected)  # kept: onnxruntime's own bits
    # flushed: the same bits wherever the output is a normal number; where onnxruntime's
    # output is itself subnormal (it came only from the tiny weights), it is within 1.2e-38
    normal = np.abs(expected) >= np.finfo(np.float32).tiny
    assert normal.sum() > 2500
    assert np.array_equal(got[normal, 0], expected[normal])
    assert np.all(np.abs(got[~normal, 0] - expected[~normal]) < np.finfo(np.float32).tiny)


def test_subnormal_weights_takes_flush_or_keep(tmp_path: Path) -> None:
    root = write(tmp_path / "b", {
        "predsql_project.yml": "name: b\n",
        "functions/f.yml": "functions:\n  - name: f\n    model: net.onnx\n"
                           "    subnormal_weights: drop\n",
    })
    _net_with_subnormal_weights(root / "functions/net.onnx")
    result = run_cli(root, "functions", code=None)
    assert "subnormal_weights 'drop' must be `flush` or `keep`" in result.output
    assert "functions/f.yml" in result.output


def test_a_rewritten_model_is_kept_in_target_and_runs_without_importing_onnx(
        tmp_path: Path) -> None:
    root = write(tmp_path / "k", {
        "predsql_project.yml": "name: k\n",
        "functions/f.yml": "functions:\n  - name: net\n    model: net.onnx\n",
        "models/scores.sql": "select id, net(f0, f1, f2, f3) as a from feats",
    })
    _net_with_subnormal_weights(root / "functions/net.onnx")
    ml_models.load_features(root / "k.duckdb", "feats", ml_models.features(n=500, seed=4))
    run_cli(root, "run")
    first = duckdb.connect(str(root / "k.duckdb")).execute(
        "select a from scores order by id").fetchall()
    assert len(list((root / "target/predsql_session_models").glob("*.onnx"))) == 1
    code = ("import sys\nsys.argv = ['predsql', 'run', '--project-dir', sys.argv[1]]\n"
            "from predsql.cli import main\ntry:\n    main()\nexcept SystemExit as e:\n"
            "    assert not e.code, e.code\nprint('onnx imported:', 'onnx' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code, str(root)], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "onnx imported: False" in done.stdout
    again = duckdb.connect(str(root / "k.duckdb")).execute(
        "select a from scores order by id").fetchall()
    assert again == first
    # the kept file removed: the run rewrites the model itself
    for kept in (root / "target/predsql_session_models").glob("*.onnx"):
        kept.unlink()
    run_cli(root, "run")
    assert duckdb.connect(str(root / "k.duckdb")).execute(
        "select a from scores order by id").fetchall() == first


def test_the_cuda_probe_model_is_what_onnx_helper_builds() -> None:
    import onnx
    from onnx import TensorProto, helper

    from predsql.ml.devices import PROBE_MODEL

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "probe",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    assert onnx.load_from_string(PROBE_MODEL) == model
