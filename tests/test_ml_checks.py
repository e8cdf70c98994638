"""Every check that runs before data moves names the file, the function and the fix."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest
from onnx import TensorProto, helper

import ml_models
from conftest import output, query, run_cli, write


@pytest.fixture(scope="module")
def lr_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("lr") / "lr.onnx"
    ml_models.logistic(path, k=3)
    return path.read_bytes()


@pytest.fixture
def proj(tmp_path: Path, lr_bytes: bytes) -> Path:
    root = write(tmp_path / "chk", {
        "predsql_project.yml": "name: chk\n",
        "functions/score.yml": """
            functions:
              - name: score
                model: lr.onnx
                output: {name: probabilities, index: 1}
        """,
    })
    (root / "functions/lr.onnx").write_bytes(lr_bytes)
    with duckdb.connect(str(root / "chk.duckdb")) as con:
        con.execute("create table t as select range as id, random() as a, random() as b, "
                    "random() as c, current_date as d from range(10)")
    return root


def compile_error(root: Path, command: str = "compile") -> str:
    result = run_cli(root, command, code=2)
    assert "Traceback" not in output(result)
    return result.stderr


def test_unknown_function_close_to_a_registered_one(proj: Path) -> None:
    write(proj, {"models/m.sql": "select id,\n  scroe(a, b, c) as s\nfrom t"})
    err = compile_error(proj)
    assert "models/m.sql:2" in err and "unknown function 'scroe'" in err
    assert "did you mean the ML function 'score'" in err


def test_duckdb_functions_are_left_alone(proj: Path) -> None:
    write(proj, {"models/m.sql": "select sqrt(a) as r, score(a, b, c) as s from t"})
    run_cli(proj, "run")
    assert query(proj / "chk.duckdb", "select count(*) from m") == [(10,)]


def test_wrong_number_of_arguments(proj: Path) -> None:
    write(proj, {"models/m.sql": "select\n\n score(a, b) as s from t"})
    err = compile_error(proj)
    assert "models/m.sql:3" in err and "score() with 2 arguments; it takes 3" in err
    assert "score(FLOAT x 3) -> FLOAT" in err


def test_argument_type_that_cannot_be_cast(proj: Path) -> None:
    write(proj, {"models/m.sql": "select score(a, b, d) as s from t"})
    err = compile_error(proj)
    assert "models/m.sql" in err and "argument 3 of score() has type DATE" in err
    assert "FLOAT" in err
    err = run_cli(proj, "run", code=2).stderr
    assert "argument 3 of score() has type DATE" in err


def test_ml_call_in_a_view_is_a_compile_error(proj: Path) -> None:
    write(proj, {"models/v.sql": "{{ config(materialized='view') }}\nselect score(a, b, c) from t"})
    err = compile_error(proj)
    assert "models/v.sql:2" in err and "materialized as a view" in err and "'score'" in err


def test_ml_model_without_materialization_is_a_table(proj: Path) -> None:
    write(proj, {"models/m.sql": "select id, score(a, b, c) as s from t",
                 "models/plain.sql": "select 1 as x"})
    result = run_cli(proj, "run", "--debug")
    assert "configures no materialization: built as a table" in (
        output(result))
    kinds = dict(query(proj / "chk.duckdb", "select table_name, table_type from "
                       "information_schema.tables where table_name in ('m', 'plain')"))
    assert kinds == {"m": "BASE TABLE", "plain": "VIEW"}
    write(proj, {"predsql_project.yml": "name: chk\nmodels:\n  +materialized: view\n"})
    assert "materialized as a view" in compile_error(proj)


def test_ephemeral_ml_model_is_evaluated_by_its_consumer(proj: Path) -> None:
    write(proj, {
        "models/e.sql": "{{ config(materialized='ephemeral') }}\n"
                        "select id, score(a, b, c) as s from t",
        "models/final.sql": "select count(*) as n from {{ ref('e') }} where s >= 0",
    })
    run_cli(proj, "run")
    assert query(proj / "chk.duckdb", "select n from final") == [(10,)]


def registry_error(proj: Path, yml: str, files: dict[str, bytes] | None = None) -> str:
    """The error of a broken function: `functions` shows it (exit 1), compiling a model
    that calls it fails with it (exit 2), and models that do not call it still compile."""
    write(proj, {"functions/score.yml": yml, "models/m.sql": "select score(a, b, c) as s from t",
                 "models/other.sql": "select 1 as x"})
    for name, data in (files or {}).items():
        (proj / "functions" / name).write_bytes(data)
    listing = output(run_cli(proj, "functions", code=1))
    assert "functions/score.yml" in listing and "cannot be used" in listing
    run_cli(proj, "compile", "-s", "other")
    err = compile_error(proj)
    assert "functions/score.yml" in err and "models/m.sql" in err
    return err


def one(model: str, extra: str = "") -> str:
    return f"functions:\n  - name: score\n    model: {model}\n{extra}"


def test_missing_model_file(proj: Path) -> None:
    err = registry_error(proj, one("nope.onnx"))
    assert "function 'score'" in err and "does not exist" in err


def test_model_file_that_is_not_onnx(proj: Path) -> None:
    err = registry_error(proj, one("bad.onnx"), {"bad.onnx": b"\x00\x01garbage" * 50})
    assert "function 'score'" in err and "not a valid ONNX model" in err


def test_empty_and_truncated_model_files(proj: Path, lr_bytes: bytes) -> None:
    err = registry_error(proj, one("empty.onnx"), {"empty.onnx": b""})
    assert "is empty" in err
    err = registry_error(proj, one("cut.onnx"), {"cut.onnx": lr_bytes[: len(lr_bytes) // 2]})
    assert "function 'score'" in err and ("not a valid ONNX" in err or "cannot load" in err)


def test_git_lfs_pointer(proj: Path) -> None:
    pointer = b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n"
    err = registry_error(proj, one("lfs.onnx"), {"lfs.onnx": pointer})
    assert "Git LFS pointer" in err and "git lfs pull" in err


def test_opset_this_onnxruntime_cannot_run(proj: Path) -> None:
    node = helper.make_node("Relu", ["x"], ["y"])
    graph = helper.make_graph([node], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 40)])
    model.ir_version = 8
    err = registry_error(proj, one("new.onnx"), {"new.onnx": model.SerializeToString()})
    assert "function 'score'" in err and "cannot run this opset" in err


def test_output_name_and_index_that_do_not_exist(proj: Path) -> None:
    err = registry_error(proj, one("lr.onnx", "    output: {name: probs}\n"))
    assert "no output 'probs'" in err and "probabilities" in err
    err = registry_error(proj, one("lr.onnx", "    output: {name: probabilities, index: 5}\n"))
    assert "index 5 is out of range" in err


def test_zipmap_output_classes(proj: Path, tmp_path: Path) -> None:
    ml_models.logistic(tmp_path / "zm.onnx", k=3, zipmap=True)
    (proj / "functions/zm.onnx").write_bytes((tmp_path / "zm.onnx").read_bytes())
    write(proj, {"functions/score.yml": one("zm.onnx", "    output: {name: output_probability}\n"),
                 "models/m.sql": "select score(a, b, c) as p from t"})
    listing = run_cli(proj, "functions").stdout
    assert "score(FLOAT x 3) -> FLOAT[2]" in listing and "classes 0, 1" in listing
    run_cli(proj, "run")
    sums = query(proj / "chk.duckdb", "select min(p[1] + p[2]), max(p[1] + p[2]) from m")
    assert abs(sums[0][0] - 1) < 1e-5 and abs(sums[0][1] - 1) < 1e-5
    err = registry_error(proj, one("zm.onnx", "    output: {name: output_probability, key: 7}\n"))
    assert "no class 7" in err


def test_model_paths_cannot_leave_the_project(proj: Path, tmp_path: Path, lr_bytes: bytes) -> None:
    outside = tmp_path / "outside.onnx"
    outside.write_bytes(lr_bytes)
    err = registry_error(proj, one("../../outside.onnx"))
    assert "outside the project folder" in err
    os.symlink(outside, proj / "functions" / "link.onnx")
    err = registry_error(proj, one("link.onnx"))
    assert "outside the project folder" in err


def test_unknown_registry_key_and_builtin_name(proj: Path) -> None:
    err = registry_error(proj, one("lr.onnx", "    batchsize: 10\n"))
    assert "unknown key `batchsize`" in err and "batch_size" in err
    write(proj, {"functions/score.yml": "functions:\n  - name: sqrt\n    model: lr.onnx\n",
                 "models/m.sql": "select sqrt(a) as r from t"})
    assert "already a DuckDB function" in output(run_cli(proj, "functions", code=1))
    run_cli(proj, "run")  # sqrt() stays DuckDB's
