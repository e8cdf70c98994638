"""ML functions end to end: real scikit-learn models, exported, run through `predsql run`."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pytest

import ml_models
from conftest import output, query, run_cli, write

FUNCTIONS = """
functions:
  - name: lr
    description: Logistic regression probability of class 1.
    model: lr.onnx
    output: {name: probabilities, index: 1}
  - name: lr_label
    model: lr.onnx
  - name: mlp
    model: mlp.onnx
    output: {name: probabilities, index: 1}
  - name: rf
    model: rf.onnx
  - name: pca2
    model: pca.onnx
  - name: churn
    model: churn.onnx
    output: {name: output_probability, key: 1}
  - name: churn_first
    model: churn.onnx
    output: {name: output_probability, index: 0}
  - name: dbl
    model: dbl.onnx
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("models")
    return {
        "dir": base,
        "lr": ml_models.logistic(base / "lr.onnx"),
        "mlp": ml_models.mlp(base / "mlp.onnx"),
        "rf": ml_models.forest(base / "rf.onnx"),
        "pca": ml_models.pca(base / "pca.onnx"),
        "churn": ml_models.churn_pipeline(base / "churn.onnx"),
        "dbl": ml_models.doubler(base / "dbl.onnx"),
    }


@pytest.fixture
def ml(tmp_path: Path, trained: dict) -> Path:
    root = write(tmp_path / "ml", {"predsql_project.yml": "name: ml\n",
                                   "functions/models.yml": FUNCTIONS})
    for name in ("lr", "mlp", "rf", "pca", "churn", "dbl"):
        (root / "functions" / f"{name}.onnx").write_bytes(
            (trained["dir"] / f"{name}.onnx").read_bytes())
    x = ml_models.features(n=3000, seed=5)
    ml_models.load_features(root / "ml.duckdb", "feats", x)
    frame = ml_models.churn_frame(n=700, seed=9)
    with duckdb.connect(str(root / "ml.duckdb")) as con:
        con.register("frame", frame)
        con.execute("create table customers as select row_number() over () as id, "
                    "plan, tenure::DOUBLE as tenure, spend::DOUBLE as spend from frame")
    return root


def feats(ml: Path) -> np.ndarray:
    rows = query(ml / "ml.duckdb", "select f0, f1, f2, f3 from feats order by id")
    return np.asarray(rows, dtype=np.float32)


def close(actual, expected, rel: float = 1e-4) -> None:
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64),
                               np.asarray(expected, dtype=np.float64), rtol=rel, atol=1e-6)


def test_classifiers_regressor_and_pca_match_scikit_learn(ml: Path, trained: dict) -> None:
    write(ml, {"models/scores.sql": """
        select id,
               lr(f0, f1, f2, f3) as p_lr,
               lr_label(f0, f1, f2, f3) as label,
               mlp(f0, f1, f2, f3) as p_mlp,
               rf(f0, f1, f2, f3) as y_rf,
               pca2(f0, f1, f2, f3) as emb
        from feats
    """})
    run_cli(ml, "run")
    rows = query(ml / "ml.duckdb", "select p_lr, label, p_mlp, y_rf, emb from scores order by id")
    x = feats(ml)
    close([r[0] for r in rows], trained["lr"].predict_proba(x)[:, 1])
    assert [r[1] for r in rows] == trained["lr"].predict(x).tolist()
    close([r[2] for r in rows], trained["mlp"].predict_proba(x)[:, 1])
    close([r[3] for r in rows], trained["rf"].predict(x))
    close([r[4] for r in rows], trained["pca"].transform(x), rel=1e-3)
    types = dict(query(ml / "ml.duckdb", "select column_name, data_type from "
                       "information_schema.columns where table_name = 'scores'"))
    assert types == {"id": "BIGINT", "p_lr": "FLOAT", "label": "BIGINT", "p_mlp": "FLOAT",
                     "y_rf": "FLOAT", "emb": "FLOAT[2]"}


def test_pipeline_with_string_inputs_and_zipmap(ml: Path, trained: dict) -> None:
    write(ml, {"models/churn_scores.sql": """
        select id, churn(plan, tenure, spend) as p1, churn_first(plan, tenure, spend) as p0
        from customers
    """})
    run_cli(ml, "run")
    rows = query(ml / "ml.duckdb", """select c.plan, c.tenure, c.spend, s.p1, s.p0
        from churn_scores s join customers c using (id) order by id""")
    import pandas as pd

    frame = pd.DataFrame(rows, columns=["plan", "tenure", "spend", "p1", "p0"])
    expected = trained["churn"].predict_proba(frame[["plan", "tenure", "spend"]].astype(
        {"tenure": np.float32, "spend": np.float32}))
    close(frame["p1"], expected[:, 1])
    close(frame["p0"], expected[:, 0])


def expected_lr(ml: Path, trained: dict) -> dict[int, float]:
    rows = query(ml / "ml.duckdb", "select id, f0, f1, f2, f3 from feats order by id")
    x = np.asarray([r[1:] for r in rows], dtype=np.float32)
    return dict(zip([r[0] for r in rows], trained["lr"].predict_proba(x)[:, 1].tolist()))


PLACEMENTS = {
    "where": ("select id from feats where lr(f0, f1, f2, f3) > 0.7",
              lambda p: sorted((i,) for i, v in p.items() if v > 0.7)),
    "case": ("select id, case when lr(f0, f1, f2, f3) > 0.5 then 'hi' else 'lo' end as band "
             "from feats",
             lambda p: sorted((i, "hi" if v > 0.5 else "lo") for i, v in p.items())),
    "aggregate": ("select count(*) as n, round(sum(lr(f0, f1, f2, f3)), 2) as s from feats",
                  lambda p: [(len(p), round(sum(np.float32(v) for v in p.values()), 2))]),
    "window": ("select distinct id % 3 as g, round(sum(lr(f0, f1, f2, f3)) over "
               "(partition by id % 3), 1) as s from feats",
               lambda p: sorted((g, round(sum(v for i, v in p.items() if i % 3 == g), 1))
                                for g in range(3))),
    "cte": ("with s as (select id, lr(f0, f1, f2, f3) as p from feats) "
            "select id from s where p > 0.9",
            lambda p: sorted((i,) for i, v in p.items() if np.float32(v) > 0.9)),
    "subquery": ("select id from (select id, lr(f0, f1, f2, f3) as p from feats) t "
                 "where p < 0.1",
                 lambda p: sorted((i,) for i, v in p.items() if np.float32(v) < 0.1)),
    "join": ("select a.id from feats a join feats b on a.id = b.id + 1 "
             "where lr(a.f0, a.f1, b.f2, b.f3) > 2",
             lambda p: []),
    "repeated": ("select id, lr(f0, f1, f2, f3) - lr(f0, f1, f2, f3) as zero from feats",
                 lambda p: sorted((i, 0.0) for i in p)),
}


@pytest.mark.parametrize("placement", sorted(PLACEMENTS))
def test_call_placements(ml: Path, trained: dict, placement: str) -> None:
    sql, expect = PLACEMENTS[placement]
    write(ml, {"models/m.sql": sql})
    run_cli(ml, "run")
    rows = sorted(query(ml / "ml.duckdb", "select * from m"))
    probs = expected_lr(ml, trained)
    expected = expect(probs)
    if placement in ("aggregate", "window"):
        assert [r[0] for r in rows] == [e[0] for e in expected]
        close([r[1] for r in rows], [e[1] for e in expected], rel=1e-3)
    else:
        assert rows == expected
    if placement == "repeated":
        results = json.loads((ml / "target/run_results.json").read_text())
        stats = results["results"][0]["predsql"]["ml_functions"]["lr"]
        assert stats["rows_inferred"] == 3000  # the same call is computed once


def test_join_across_models_and_nested_calls(ml: Path, trained: dict) -> None:
    write(ml, {
        "models/left_side.sql": "select id, f0, f1 from feats",
        "models/right_side.sql": "select id, f2, f3 from feats",
        "models/joined.sql": """
            select l.id, dbl(rf(l.f0, l.f1, r.f2, r.f3)) as twice, rf(l.f0, l.f1, r.f2, r.f3) as once
            from {{ ref('left_side') }} l join {{ ref('right_side') }} r on l.id = r.id
        """,
    })
    run_cli(ml, "run")
    rows = query(ml / "ml.duckdb", "select twice, once from joined order by id")
    x = feats(ml)
    once = trained["rf"].predict(x)
    close([r[1] for r in rows], once)
    close([r[0] for r in rows], 2 * once.astype(np.float32))


def test_null_arguments_give_null_and_skip_the_model(ml: Path, trained: dict) -> None:
    write(ml, {"models/m.sql": """
        select id, lr(case when id % 3 = 0 then null else f0 end, f1, f2, f3) as p from feats
    """})
    run_cli(ml, "run")
    rows = dict(query(ml / "ml.duckdb", "select id, p from m"))
    probs = expected_lr(ml, trained)
    assert all((rows[i] is None) == (i % 3 == 0) for i in rows)
    close([rows[i] for i in rows if i % 3], [probs[i] for i in rows if i % 3])
    stats = json.loads((ml / "target/run_results.json").read_text())["results"][0]["predsql"]
    assert stats["ml_functions"]["lr"]["rows_inferred"] == 2000
    assert stats["ml_functions"]["lr"]["rows_null"] == 1000


def test_on_null_error_names_the_argument(ml: Path) -> None:
    text = (ml / "functions/models.yml").read_text().replace(
        "    model: rf.onnx\n", "    model: rf.onnx\n    on_null: error\n")
    write(ml, {"functions/models.yml": text,
               "models/m.sql": "select rf(f0, nullif(f1, f1), f2, f3) as y from feats"})
    result = run_cli(ml, "run", code=1)
    assert "rf() got NULL in argument 2" in output(result) and "on_null: error" in output(result)


def test_empty_input_gives_empty_typed_table(ml: Path) -> None:
    write(ml, {"models/m.sql": "select id, pca2(f0, f1, f2, f3) as e, lr(f0, f1, f2, f3) as p "
                               "from feats where id < 0"})
    run_cli(ml, "run")
    assert query(ml / "ml.duckdb", "select count(*) from m") == [(0,)]
    types = dict(query(ml / "ml.duckdb", "select column_name, data_type from "
                       "information_schema.columns where table_name = 'm'"))
    assert types == {"id": "BIGINT", "e": "FLOAT[2]", "p": "FLOAT"}


@pytest.mark.parametrize("batch_size", [1, 7, 100000])
def test_batch_size_does_not_change_results(ml: Path, batch_size: int) -> None:
    write(ml, {"models/m.sql": "select id, mlp(f0, f1, f2, f3) as p, pca2(f0, f1, f2, f3) as e "
                               "from feats where id < 400"})
    run_cli(ml, "run")
    baseline = query(ml / "ml.duckdb", "select * from m order by id")
    text = (ml / "functions/models.yml").read_text().replace(
        "    model: mlp.onnx\n", f"    model: mlp.onnx\n    batch_size: {batch_size}\n").replace(
        "    model: pca.onnx\n", f"    model: pca.onnx\n    batch_size: {batch_size}\n")
    write(ml, {"functions/models.yml": text})
    run_cli(ml, "run", "--threads", "2")
    assert query(ml / "ml.duckdb", "select * from m order by id") == baseline


def test_values_that_cannot_be_cast_name_the_argument(ml: Path) -> None:
    write(ml, {"models/m.sql": "select rf(f0, f1, f2, case when id = 7 then 'oops' else "
                               "f3::varchar end) as y from feats"})
    result = run_cli(ml, "run", code=1)
    text = output(result)
    assert "argument 4 of rf()" in text and "'oops'" in text and "models/m.sql" in text


def test_nan_outputs_are_counted(ml: Path, tmp_path: Path) -> None:
    ml_models.nan_maker(ml / "functions/log.onnx")
    write(ml, {"functions/log.yml": "functions:\n  - name: logf\n    model: log.onnx\n",
               "models/m.sql": "select logf(f0) as y from feats"})
    result = run_cli(ml, "run")
    stats = json.loads((ml / "target/run_results.json").read_text())["results"][0]["predsql"]
    negatives = query(ml / "ml.duckdb", "select count(*) from feats where f0 < 0")[0][0]
    assert stats["ml_functions"]["logf"]["nan_outputs"] == negatives > 0
    assert f"{negatives:,} NaN outputs" in result.stdout


def test_run_results_manifest_and_functions_command(ml: Path) -> None:
    write(ml, {"models/m.sql": "select id, lr(f0, f1, f2, f3) as p from feats"})
    result = run_cli(ml, "run")
    assert "lr: 3,000 rows inferred" in result.stdout and "CPUExecutionProvider" in result.stdout
    entry = json.loads((ml / "target/run_results.json").read_text())["results"][0]
    stats = entry["predsql"]["ml_functions"]["lr"]
    assert stats["rows_inferred"] == 3000 and stats["batches"] >= 1
    assert stats["provider"] == "CPUExecutionProvider" and stats["rows_per_second"] > 0
    assert len(stats["fingerprint"]) == 64
    manifest = json.loads((ml / "target/manifest.json").read_text())
    node = manifest["nodes"]["model.ml.m"]
    assert node["predsql"]["ml_functions"] == {"lr": stats["fingerprint"]}
    assert manifest["predsql"]["functions"]["lr"]["signature"] == "lr(FLOAT x 4) -> FLOAT"
    listing = run_cli(ml, "functions").stdout
    assert "churn(plan VARCHAR, tenure FLOAT, spend FLOAT) -> FLOAT" in listing
    assert "pca2(FLOAT x 4) -> FLOAT[2]" in listing


def test_device_cuda_is_never_a_silent_cpu_run(ml: Path) -> None:
    from predsql.ml.registry import load_registry
    from predsql.ml.runtime import _cuda_session, create_runtime
    from predsql.project import load_project

    registry = load_registry(load_project(ml))
    cuda_here = _cuda_session(registry.functions["lr"]) is not None
    write(ml, {"models/m.sql": "select lr(f0, f1, f2, f3) as p from feats"})
    result = run_cli(ml, "run", "--device", "cuda", code=0 if cuda_here else 2)
    if cuda_here:
        assert "CUDAExecutionProvider" in result.stdout
    else:
        assert "--device cuda was given, but onnxruntime cannot use CUDA here" in output(result)
        assert create_runtime(registry.functions["lr"], "auto").provider == "CPUExecutionProvider"


def test_repeated_tuples_are_scored_once(ml: Path, trained: dict) -> None:
    write(ml, {"models/m.sql": "select id, plan, churn(plan, 10.0, 20.0) as p from customers"})
    run_cli(ml, "run")
    stats = json.loads((ml / "target/run_results.json").read_text())["results"][0]["predsql"]
    assert stats["ml_functions"]["churn"]["rows_inferred"] == 3  # three plans
    assert stats["ml_functions"]["churn"]["distinct_tuples"] == 3
    import pandas as pd

    rows = query(ml / "ml.duckdb", "select plan, p from m")
    frame = pd.DataFrame({"plan": [r[0] for r in rows], "tenure": np.float32(10.0),
                          "spend": np.float32(20.0)})
    close([r[1] for r in rows], trained["churn"].predict_proba(frame)[:, 1])
