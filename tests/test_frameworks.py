"""Models from PyTorch, LightGBM, XGBoost, CatBoost and scikit-learn text pipelines, exported
as docs/exporting-models.md says (tests/export_recipes.py), run by `predsql run` and
compared with each framework's own predictions (rtol 1e-4)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

import export_recipes as recipes
from conftest import output, query, run_cli, write

RTOL = 1e-4


def need(*modules: str) -> None:
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)}: pip install -e '.[frameworks]'")


def close(actual, expected) -> None:
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64),
                               np.asarray(expected, dtype=np.float64), rtol=RTOL, atol=1e-6)


def load_table(db: Path, name: str, columns: dict[str, np.ndarray | list]) -> None:
    """NaN in a float column becomes NULL, as in a real table with missing values."""
    arrays = {}
    for column, values in columns.items():
        if isinstance(values, np.ndarray) and values.dtype.kind == "f":
            arrays[column] = pa.array(values.astype(np.float64), mask=np.isnan(values))
        else:
            arrays[column] = pa.array(values)
    table = pa.table({"id": pa.array(np.arange(len(next(iter(arrays.values()))))), **arrays})
    with duckdb.connect(str(db)) as con:
        con.register("incoming", table)
        con.execute(f"create or replace table {name} as select * from incoming")


def feature_columns(x: np.ndarray) -> dict[str, np.ndarray]:
    return {f"f{j}": x[:, j] for j in range(x.shape[1])}


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    root = write(tmp_path / "fw", {"predsql_project.yml": "name: fw\n"})
    (root / "functions").mkdir()
    return root


def db(root: Path) -> Path:
    return root / "fw.duckdb"


def by_id(root: Path, sql: str) -> list[tuple]:
    return query(db(root), sql + " order by id")


# -- PyTorch ------------------------------------------------------------------------

def _mlp(proj: Path, dynamo: bool) -> None:
    import torch

    model = recipes.torch_mlp(proj / "functions/mlp.onnx", dynamo=dynamo)
    write(proj, {"functions/mlp.yml": "functions:\n  - name: mlp\n    model: mlp.onnx\n",
                 "models/m.sql": "select id, mlp(f0, f1, f2, f3) as p from feats"})
    x = recipes.features(n=3000, seed=7)
    load_table(db(proj), "feats", feature_columns(x))
    run_cli(proj, "run")
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()[:, 0]
    close([r[1] for r in by_id(proj, "select id, p from m")], expected)


def test_pytorch_mlp_dynamic_batch(proj: Path) -> None:
    need("torch")
    _mlp(proj, dynamo=False)


@pytest.mark.slow
def test_pytorch_mlp_dynamo_exporter(proj: Path) -> None:
    need("torch", "onnxscript")
    _mlp(proj, dynamo=True)


def _people(root: Path, n: int) -> np.ndarray:
    rng = np.random.default_rng(5)
    numeric = rng.normal(size=(n, 3)).astype(np.float32)
    region = np.eye(2, dtype=np.float32)[rng.integers(0, 2, n)]
    load_table(db(root), "people", {"income": numeric[:, 0], "debt": numeric[:, 1],
                                    "age": numeric[:, 2], "north": region[:, 0],
                                    "south": region[:, 1]})
    return np.hstack([numeric, region])


TOWERS = """
functions:
  - name: towers
    model: towers.onnx
    inputs:
      - {name: numeric, columns: [income, debt, age]}
      - {name: region, columns: [north, south]}
    outputs: [score, label]
"""


def _expected_towers(model, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import torch

    with torch.no_grad():
        score, label = model(torch.from_numpy(data[:, :3]), torch.from_numpy(data[:, 3:]))
    return score.numpy()[:, 0], label.numpy()[:, 0]


def test_pytorch_two_input_tensors_and_two_outputs(proj: Path) -> None:
    need("torch")
    model = recipes.torch_two_inputs(proj / "functions/towers.onnx")
    write(proj, {"functions/towers.yml": TOWERS, "models/m.sql": """
        select id, towers(income, debt, age, north, south).score as score,
               towers(income, debt, age, north, south).label as label
        from people"""})
    data = _people(proj, 2000)
    run_cli(proj, "run")
    rows = by_id(proj, "select id, score, label from m")
    score, label = _expected_towers(model, data)
    close([r[1] for r in rows], score)
    assert [r[2] for r in rows] == label.tolist()


def test_pytorch_fixed_batch_axis(proj: Path) -> None:
    need("torch")
    model = recipes.torch_two_inputs(proj / "functions/towers.onnx", fixed_batch=1)
    write(proj, {"functions/towers.yml": TOWERS, "models/m.sql":
                 "select id, towers(income, debt, age, north, south).score as s from people"})
    data = _people(proj, 60)
    listing = output(run_cli(proj, "functions", code=1))
    assert "fixed batch dimension (shape [1, 3])" in listing and "dynamic_axes" in listing
    run_cli(proj, "run", code=1)  # the model calling it fails, with the same error
    write(proj, {"functions/towers.yml": TOWERS + "    batch_size: 1\n"})
    run_cli(proj, "run")
    close([r[1] for r in by_id(proj, "select id, s from m")], _expected_towers(model, data)[0])


# -- LightGBM / XGBoost: missing values as NaN ----------------------------------------

BOOSTED = """
functions:
  - name: {name}
    model: {name}.onnx
    outputs: [label, {{name: probabilities, index: 1, as: p}}]
    on_null: nan
"""


@pytest.mark.parametrize("name", ["lightgbm", "xgboost"])
def test_gradient_boosting_with_missing_values(proj: Path, name: str) -> None:
    need(name, "onnxmltools")
    recipe = recipes.lightgbm_classifier if name == "lightgbm" else recipes.xgboost_classifier
    model = recipe(proj / f"functions/{name}.onnx")
    write(proj, {"functions/f.yml": BOOSTED.format(name=name), "models/m.sql":
                 f"select id, {name}(f0, f1, f2, f3).p as p, {name}(f0, f1, f2, f3).label as label "
                 "from feats"})
    x = recipes.features(n=2500, seed=11, missing=0.25)
    load_table(db(proj), "feats", feature_columns(x))
    run_cli(proj, "run")
    rows = by_id(proj, "select id, p, label from m")
    assert query(db(proj), "select count(*) from feats where f0 is null")[0][0] > 0
    close([r[1] for r in rows], model.predict_proba(x)[:, 1])
    assert [r[2] for r in rows] == model.predict(x).tolist()


# -- CatBoost -----------------------------------------------------------------------

def test_catboost_native_onnx_with_class_probabilities(proj: Path) -> None:
    need("catboost")
    model = recipes.catboost_classifier(proj / "functions/cat.onnx")
    write(proj, {"functions/cat.yml": """
        functions:
          - name: cat
            model: cat.onnx
            outputs: [label, {name: probabilities, as: probs}, {name: probabilities, key: 1, as: p1}]
    """, "models/m.sql": "select id, cat(f0, f1, f2, f3) as c from feats"})
    x = recipes.features(n=2000, seed=3)
    load_table(db(proj), "feats", feature_columns(x))
    run_cli(proj, "run")
    rows = [r[1] for r in by_id(proj, "select id, c from m")]
    expected = model.predict_proba(x)
    close([r["probs"] for r in rows], expected)
    close([r["p1"] for r in rows], expected[:, 1])
    assert [r["label"] for r in rows] == model.predict(x).astype(int).tolist()
    assert "classes 0, 1" in run_cli(proj, "functions").stdout


# -- scikit-learn text pipelines --------------------------------------------------------

TEXT = """
functions:
  - name: sentiment
    model: text.onnx
    output: {name: probabilities, index: 1}
"""


def test_text_pipeline_tfidf_logistic_regression(proj: Path) -> None:
    pipe = recipes.text_pipeline(proj / "functions/text.onnx")
    docs, _ = recipes.reviews(n=800, seed=1)
    load_table(db(proj), "reviews", {"body": docs})
    write(proj, {"functions/text.yml": TEXT,
                 "models/m.sql": "select id, sentiment(body) as p from reviews"})
    run_cli(proj, "run")
    close([r[1] for r in by_id(proj, "select id, p from m")], pipe.predict_proba(docs)[:, 1])


def test_text_pipeline_whose_locale_is_missing(proj: Path) -> None:
    pipe = recipes.text_pipeline(proj / "functions/text.onnx", locale="xx_XX.UTF-8")
    docs, _ = recipes.reviews(n=300, seed=2)
    load_table(db(proj), "reviews", {"body": docs})
    write(proj, {"functions/text.yml": TEXT, "models/other.sql": "select 1 as x",
                 "models/m.sql": "select id, sentiment(body) as p from reviews"})
    listing = output(run_cli(proj, "functions", code=1))
    assert "needs the locale xx_XX.UTF-8" in listing and "not installed" in listing
    assert "{'locale': 'C'}" in listing and "`locale: C`" in listing
    run_cli(proj, "run", "-s", "other")  # unrelated models still run
    write(proj, {"functions/text.yml": TEXT + "    locale: C\n"})
    run_cli(proj, "run")
    close([r[1] for r in by_id(proj, "select id, p from m")], pipe.predict_proba(docs)[:, 1])
