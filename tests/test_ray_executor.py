"""The Ray executor on a local Ray cluster: same tables as the local executor, metrics,
cache, per-function choice, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pytest

import ml_models
from conftest import output, query, run_cli, write

ROWS = 60_000
pytestmark = pytest.mark.usefixtures("ray_cluster")


def profile(executor: str) -> str:
    return ("proj:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
            f"      path: proj.duckdb\n      executor: {executor}\n")


RAY = "{type: ray, address: auto, actors: 2, batch_size: 4096, max_in_flight: 4}"


def make_project(root: Path, executor: str = RAY, functions: str | None = None,
                 rows: int = ROWS) -> Path:
    write(root, {
        "predsql_project.yml": "name: proj\n",
        "profiles.yml": profile(executor),
        "functions/f.yml": functions or (
            "functions:\n  - name: score\n    model: forest.onnx\n"
            "  - name: prob\n    model: logistic.onnx\n    output: {name: probabilities, index: 1}\n"),
        "models/scores.sql": "select id, score(f0, f1, f2, f3) as s, prob(f0, f1, f2, f3) as p "
                             "from feats",
    })
    ml_models.forest(root / "functions/forest.onnx")
    ml_models.logistic(root / "functions/logistic.onnx")
    x = ml_models.features(n=rows, seed=5)
    x[::97, 1] = np.nan  # NaN goes to the model as it is
    x[1000:3000] = x[0]  # repeated tuples (per-batch deduplication)
    ml_models.load_features(root / "proj.duckdb", "feats", x,
                            "union all select id + 1000000, null, f1, f2, f3 from frame "
                            "where id % 50 = 0")  # NULL arguments get NULL results
    return root


def ml_result(root: Path, node: str = "model.proj.scores") -> dict:
    results = json.loads((root / "target/run_results.json").read_text())["results"]
    entry = next(r for r in results if r["unique_id"] == node)
    return entry


def table(root: Path, name: str = "scores") -> list[tuple]:
    return query(root / "proj.duckdb", f"select * from {name}")  # insertion order


@pytest.fixture
def ray_project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "proj")


def test_ray_table_equals_local_row_for_row(ray_project: Path) -> None:
    run_cli(ray_project, "run", "--executor", "local")
    local = table(ray_project)
    local_stats = ml_result(ray_project)["predsql"]["ml_functions"]
    result = run_cli(ray_project, "run", "--executor", "ray")
    on_ray = table(ray_project)
    assert len(on_ray) == ROWS + ROWS // 50
    assert on_ray == local  # same rows, same order, NULLs and NaN included
    stats = ml_result(ray_project)["predsql"]["ml_functions"]
    for name in ("score", "prob"):
        s = stats[name]
        assert s["executor"] == "ray" and local_stats[name]["executor"] == "local"
        assert s["rows_null"] == local_stats[name]["rows_null"] >= ROWS // 50
        assert s["rows_inferred"] == local_stats[name]["rows_inferred"]
        assert 1 <= s["actors"] <= 2
        per_actor = s["per_actor"]
        assert sum(a["rows"] for a in per_actor.values()) == s["rows_inferred"]
        assert all(a["rows_per_second"] > 0 for a in per_actor.values())
    assert "on ray" in result.stdout
    model = ml_models.forest(ray_project / "functions/forest.onnx")  # the same model again
    rows = query(ray_project / "proj.duckdb",
                 "select f0, f1, f2, f3, s from feats join scores using (id) "
                 "where f0 is not null and not isnan(f1) order by id")
    x = np.array([r[:4] for r in rows], dtype=np.float32)
    np.testing.assert_allclose([r[4] for r in rows], model.predict(x), rtol=1e-4, atol=1e-5)


def test_one_function_on_ray_the_other_local(tmp_path: Path) -> None:
    functions = ("functions:\n  - name: score\n    model: forest.onnx\n    executor: ray\n"
                 "  - name: prob\n    model: logistic.onnx\n"
                 "    output: {name: probabilities, index: 1}\n")
    root = make_project(tmp_path / "proj", executor="{type: local, address: auto, actors: 1}",
                        functions=functions, rows=10_000)
    run_cli(root, "run")
    stats = ml_result(root)["predsql"]["ml_functions"]
    assert stats["score"]["executor"] == "ray" and stats["prob"]["executor"] == "local"
    on_ray = table(root)
    run_cli(root, "run", "--executor", "local")
    assert ml_result(root)["predsql"]["ml_functions"]["score"]["executor"] == "local"
    assert table(root) == on_ray


def test_cache_sends_only_unseen_tuples_to_the_cluster(tmp_path: Path) -> None:
    functions = "functions:\n  - name: score\n    model: forest.onnx\n    cache: true\n"
    root = make_project(tmp_path / "proj", functions=functions, rows=20_000)
    (root / "models/scores.sql").write_text("select id, score(f0, f1, f2, f3) as s from feats")
    run_cli(root, "run")
    first = ml_result(root)["predsql"]["ml_functions"]["score"]
    assert first["executor"] == "ray" and first["rows_from_cache"] == 0
    with duckdb.connect(str(root / "proj.duckdb")) as con:
        con.execute("update feats set f2 = f2 + 1 where id % 100 = 0 and id >= 3000")
        changed = con.execute("select count(*) from feats where id % 100 = 0 and id >= 3000 "
                              "and f0 is not null and f1 is not null").fetchall()[0][0]
    run_cli(root, "run")
    second = ml_result(root)["predsql"]["ml_functions"]["score"]
    assert second["rows_inferred"] == changed
    cached = table(root)
    run_cli(root, "run", "--no-cache", "--executor", "local")
    assert sorted(table(root)) == sorted(cached)


def test_an_actor_that_cannot_load_the_model_fails_the_model(tmp_path: Path) -> None:
    # The worker node declares a GPU but has none: the CUDA actor must not fall back to the CPU.
    executor = "{type: ray, actors: 1, num_cpus_per_actor: 1, num_gpus_per_actor: 1}"
    root = make_project(tmp_path / "proj", executor=executor, rows=1000)
    run_cli(root, "run", "--executor", "local")
    before = table(root)
    result = run_cli(root, "run", code=1)
    text = output(result)
    assert "function 'score'" in text and "cannot load forest.onnx" in text
    assert "CUDA" in text and "CUDA_VISIBLE_DEVICES" in text
    assert "Traceback" not in text
    assert table(root) == before  # the old table is intact


@pytest.mark.parametrize("executor, expected", [
    ("{type: ray, num_cpus_per_actor: 64}", "the Ray cluster has 2 CPUs"),
    ("{type: ray, actors: 5}", "at least 5 actors, but the Ray cluster holds at most 2"),
])
def test_a_pool_the_cluster_cannot_hold_is_an_error(tmp_path: Path, executor: str,
                                                    expected: str) -> None:
    root = make_project(tmp_path / "proj", executor=executor, rows=100)
    assert expected in output(run_cli(root, "run", code=1))


def test_cuda_without_gpus_per_actor_is_an_error(tmp_path: Path) -> None:
    root = make_project(tmp_path / "proj", rows=100)
    text = output(run_cli(root, "run", "--device", "cuda", code=1))
    assert "device: cuda on Ray, but its actors get no GPU" in text
    assert "num_gpus_per_actor" in text


def test_text_functions_run_on_ray_too(tmp_path: Path) -> None:
    pytest.importorskip("tokenizers", reason="the `text` extra (tokenizers) is not installed")
    import text_models

    root = write(tmp_path / "tp", {
        "predsql_project.yml": "name: tp\n",
        "functions/text.yml": "functions:\n  - name: embed\n    model: bert.onnx\n"
                              "    tokenizer: tokenizer.json\n    max_length: 6\n"
                              "    pooling: mean\n    batch_size: 3\n",
        "models/emb.sql": "select id, embed(body) as v from docs",
    })
    (root / "functions/tokenizer.json").write_text(text_models.tokenizer_json())
    text_models.tiny_bert(root / "functions/bert.onnx")
    texts = [" ".join(text_models.WORDS[i % 7: i % 7 + 1 + i % 9]) for i in range(300)]
    with duckdb.connect(str(root / "tp.duckdb")) as con:
        con.execute("CREATE TABLE docs AS SELECT * FROM unnest(?) WITH ORDINALITY t(body, id)",
                    [texts + [None, " "]])
    run_cli(root, "run")
    local = query(root / "tp.duckdb", "select * from emb")
    run_cli(root, "run", "--executor", "ray")
    assert query(root / "tp.duckdb", "select * from emb") == local
    stats = json.loads((root / "target/run_results.json").read_text())["results"][0]
    embed = stats["predsql"]["ml_functions"]["embed"]
    assert embed["executor"] == "ray" and embed["rows_null"] == 2 and embed["truncated_rows"] > 0
