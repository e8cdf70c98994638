"""Several inputs fed by named columns, several outputs as a STRUCT, named arguments,
swapped columns, fixed batch dimensions and the picklable batch boundary."""

from __future__ import annotations

import json
import pickle
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

import ml_models
from conftest import output, query, run_cli, write

TWO = """
functions:
  - name: two
    model: two.onnx
    inputs:
      - {name: numeric, columns: [income, debt, age]}
      - {name: region, columns: [north, south]}
    outputs:
      - {name: score}
      - {name: label, as: positive}
  - name: lr
    model: lr.onnx
    outputs:
      - label
      - {name: probabilities, index: 1, as: probability}
      - {name: probabilities, as: probs}
"""


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("shapes")
    ml_models.two_inputs(base / "two.onnx")
    return {"dir": base, "lr": ml_models.logistic(base / "lr.onnx", k=3)}


@pytest.fixture
def proj(tmp_path: Path, models: dict) -> Path:
    root = write(tmp_path / "shapes", {"predsql_project.yml": "name: shapes\n",
                                       "functions/f.yml": TWO})
    for name in ("two", "lr"):
        (root / "functions" / f"{name}.onnx").write_bytes(
            (models["dir"] / f"{name}.onnx").read_bytes())
    rng = np.random.default_rng(3)
    with duckdb.connect(str(root / "shapes.duckdb")) as con:
        con.execute("create table people as select range as id, "
                    "random() * 4 - 2 as income, random() * 4 - 2 as debt, "
                    "random() * 4 - 2 as age, (range % 2)::DOUBLE as north, "
                    "((range + 1) % 2)::DOUBLE as south from range(2500)")
        x = rng.normal(size=(1800, 3))
        con.execute("create table feats as select * from (select unnest(?) as a, unnest(?) as b, "
                    "unnest(?) as c) ", [x[:, 0].tolist(), x[:, 1].tolist(), x[:, 2].tolist()])
    return root


def expected_two(rows: list[tuple]) -> tuple[np.ndarray, np.ndarray]:
    data = np.asarray(rows, dtype=np.float32)
    score = data[:, :3] @ ml_models.W_NUMERIC + data[:, 3:5] @ ml_models.W_REGION
    return score[:, 0], (score[:, 0] > 0).astype(int)


def stats_of(root: Path, index: int = 0) -> dict:
    results = json.loads((root / "target/run_results.json").read_text())["results"]
    return results[index]["predsql"]["ml_functions"]


def test_two_input_tensors_and_a_struct_result(proj: Path) -> None:
    write(proj, {"models/scored.sql": """
        select id, two(income, debt, age, north, south).score as score,
               two(income, debt, age, north, south).positive as positive,
               two(income, debt, age, north, south) as whole
        from people
        where two(income, debt, age, north, south).score > -100
    """})
    run_cli(proj, "run")
    rows = query(proj / "shapes.duckdb", "select p.income, p.debt, p.age, p.north, p.south, "
                 "s.score, s.positive, s.whole from scored s join people p using (id) order by id")
    score, positive = expected_two([r[:5] for r in rows])
    np.testing.assert_allclose([r[5] for r in rows], score, rtol=1e-5, atol=1e-6)
    assert [r[6] for r in rows] == positive.tolist()
    assert rows[0][7] == {"score": rows[0][5], "positive": rows[0][6]}
    assert stats_of(proj)["two"]["rows_inferred"] == 2500  # one pass for every field used
    types = dict(query(proj / "shapes.duckdb", "select column_name, data_type from "
                       "information_schema.columns where table_name = 'scored'"))
    assert types["whole"] == "STRUCT(score FLOAT, positive BIGINT)"
    listing = run_cli(proj, "functions").stdout
    assert ("two(income FLOAT, debt FLOAT, age FLOAT, north FLOAT, south FLOAT) -> "
            "STRUCT(score FLOAT, positive BIGINT)") in listing
    assert "input numeric float[N, 3] <- income, debt, age" in listing


def test_named_arguments_and_swapped_columns(proj: Path) -> None:
    write(proj, {"models/named.sql": """
        select id, two(south := south, north := north, age := age, debt := debt,
                       income := income).score as score
        from people
    """})
    run_cli(proj, "run")
    rows = query(proj / "shapes.duckdb", "select p.income, p.debt, p.age, p.north, p.south, "
                 "n.score from named n join people p using (id) order by id")
    np.testing.assert_allclose([r[5] for r in rows], expected_two([r[:5] for r in rows])[0],
                               rtol=1e-5, atol=1e-6)
    write(proj, {"models/swapped.sql": "select id,\n two(debt, income, age, north, south) as s\n"
                                       "from people"})
    err = run_cli(proj, "compile", code=2).stderr
    assert "models/swapped.sql:2" in err and "swapped columns" in err
    assert "'debt' as argument 1" in err and "income := ..." in err
    write(proj, {"models/swapped.sql": "select two(income, debt, age, north, wrong := south) "
                                       "as s from people"})
    err = run_cli(proj, "compile", code=2).stderr
    assert "named 'wrong'" in err and "income, debt, age, north, south" in err


def test_struct_of_a_classifier_label_probability_and_class_array(proj: Path,
                                                                   models: dict) -> None:
    write(proj, {"models/cls.sql": """
        select a, b, c, lr(a, b, c).label as label, lr(a, b, c).probability as p,
               lr(a, b, c).probs as probs
        from feats where lr(a, b, c).probability >= 0
    """})
    run_cli(proj, "run")
    rows = query(proj / "shapes.duckdb", "select a, b, c, label, p, probs from cls")
    x = np.asarray([r[:3] for r in rows], dtype=np.float32)
    model = models["lr"]
    assert [r[3] for r in rows] == model.predict(x).tolist()
    np.testing.assert_allclose([r[4] for r in rows], model.predict_proba(x)[:, 1], rtol=1e-4,
                               atol=1e-6)
    np.testing.assert_allclose([r[5] for r in rows], model.predict_proba(x), rtol=1e-4, atol=1e-6)
    assert stats_of(proj)["lr"]["rows_inferred"] == 1800


def test_fixed_batch_dimension(proj: Path, tmp_path: Path) -> None:
    ml_models.fixed_batch(proj / "functions/fixed.onnx", 4)
    write(proj, {"functions/fixed.yml": "functions:\n  - name: fixed4\n    model: fixed.onnx\n",
                 "models/m.sql": "select id, fixed4(income, debt, age) as y from people "
                                 "where id < 10"})
    listing = output(run_cli(proj, "functions", code=1))
    assert "fixed batch dimension (shape [4, 3])" in listing and "dynamic_axes" in listing
    assert "batch_size: 4" in listing
    write(proj, {"functions/fixed.yml": "functions:\n  - name: fixed4\n    model: fixed.onnx\n"
                                        "    batch_size: 4\n"})
    run_cli(proj, "run", "-s", "m")
    rows = query(proj / "shapes.duckdb", "select p.income + p.debt + p.age, m.y from m "
                 "join people p using (id)")
    assert len(rows) == 10  # 4 + 4 + 2 padded to 4
    np.testing.assert_allclose([r[1] for r in rows], [2 * r[0] for r in rows], rtol=1e-5)


def _map_in_child(mapper: object, columns: list[list[float]]) -> list:
    arrays = [pa.array(c, type=pa.float32()) for c in columns]
    return mapper(arrays).column.to_pylist()  # type: ignore[operator]


def test_batch_boundary_is_picklable_and_runs_in_another_process(proj: Path) -> None:
    from predsql.ml.registry import load_registry
    from predsql.ml.runtime import BatchMapper
    from predsql.project import load_project

    fn = load_registry(load_project(proj)).functions["two"]
    columns = [[1.0, None, 0.5], [0.0, 1.0, 2.0], [2.0, 1.0, 0.0], [1.0, 0.0, 1.0],
               [0.0, 1.0, 0.0]]
    local = BatchMapper(fn)
    mapped = local([pa.array(c, type=pa.float32()) for c in columns])
    assert mapped.rows_null == 1 and mapped.rows_inferred == 2
    clone = pickle.loads(pickle.dumps(local))
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        remote = pool.submit(_map_in_child, clone, columns).result(timeout=120)
    assert remote == mapped.column.to_pylist()
    assert remote[1] is None and remote[0]["positive"] == 1


def test_on_null_nan_matches_hist_gradient_boosting(proj: Path, tmp_path: Path) -> None:
    model = ml_models.hist_gradient_boosting(proj / "functions/hgb.onnx")
    write(proj, {"functions/hgb.yml": """
        functions:
          - name: hgb
            model: hgb.onnx
            output: {name: probabilities, index: 1}
            on_null: nan
          - name: hgb_null
            model: hgb.onnx
            output: {name: probabilities, index: 1}
    """, "models/m.sql": "select id, hgb(a, b, c) as p, hgb_null(a, b, c) as q from missing"})
    x, _ = ml_models.with_missing(n=1500, seed=4)
    with duckdb.connect(str(proj / "shapes.duckdb")) as con:
        con.execute("create table missing as select * from (select unnest(range(?)) as id, "
                    "unnest(?) as a, unnest(?) as b, unnest(?) as c)",
                    [len(x)] + [[None if v != v else float(v) for v in x[:, j]] for j in range(3)])
    run_cli(proj, "run")
    rows = query(proj / "shapes.duckdb", "select p, q from m order by id")
    np.testing.assert_allclose([r[0] for r in rows], model.predict_proba(x)[:, 1], rtol=1e-4,
                               atol=1e-6)
    any_nan = np.isnan(x).any(axis=1)
    assert [r[1] is None for r in rows] == any_nan.tolist()  # on_null: null (the default)
    assert "on_null nan" in run_cli(proj, "functions").stdout
