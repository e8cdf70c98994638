"""The prediction cache: only unseen tuples reach the model, results never change."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import duckdb
import numpy as np
import pyarrow as pa
import pytest

import ml_models
from conftest import output, query, run_cli, write
from predsql.ml import cache

ROWS = 100_000


def ml_stats(root: Path, function: str = "score") -> dict:
    results = json.loads((root / "target/run_results.json").read_text())["results"]
    node = next(r for r in results if r["unique_id"] == "model.cached.scores")
    return node["predsql"]["ml_functions"][function]


@pytest.fixture
def cached(tmp_path: Path) -> Path:
    root = write(tmp_path / "cached", {
        "predsql_project.yml": "name: cached\n",
        "functions/f.yml": "functions:\n  - name: score\n    model: forest.onnx\n"
                           "    cache: true\n",
        "models/scores.sql": "select id, score(f0, f1, f2, f3) as s from feats",
    })
    ml_models.forest(root / "functions/forest.onnx")
    ml_models.load_features(root / "cached.duckdb", "feats", ml_models.features(n=ROWS, seed=3))
    return root


def scores(root: Path) -> list[tuple]:
    return query(root / "cached.duckdb", "select id, s from scores order by id")


def test_second_run_scores_only_changed_rows(cached: Path) -> None:
    run_cli(cached, "run")
    first = ml_stats(cached)
    assert first["rows_inferred"] == ROWS and first["rows_from_cache"] == 0
    with duckdb.connect(str(cached / "cached.duckdb")) as con:
        con.execute("update feats set f0 = f0 + 1 where id % 100 = 0")  # 1% of the rows
    result = run_cli(cached, "run")
    second = ml_stats(cached)
    assert second["rows_inferred"] == ROWS // 100
    assert second["rows_from_cache"] == ROWS - ROWS // 100
    assert f"{ROWS // 100:,} rows inferred, {ROWS - ROWS // 100:,} from cache" in result.stdout
    with_cache = scores(cached)
    run_cli(cached, "run", "--no-cache")
    assert ml_stats(cached)["rows_inferred"] == ROWS
    assert scores(cached) == with_cache


def test_replacing_the_model_rescores_everything(cached: Path) -> None:
    run_cli(cached, "run")
    before = scores(cached)
    ml_models.logistic(cached / "functions/forest.onnx")  # a retrained, different model
    write(cached, {"functions/f.yml": "functions:\n  - name: score\n    model: forest.onnx\n"
                                      "    cache: true\n    output: {name: probabilities, "
                                      "index: 1}\n"})
    run_cli(cached, "run")
    assert ml_stats(cached)["rows_inferred"] == ROWS
    assert scores(cached) != before
    stats = run_cli(cached, "cache", "stats").stdout
    assert f"{2 * ROWS:,} entries" in stats and f"{ROWS:,} stale" in stats
    assert "Pruned 100,000" in run_cli(cached, "cache", "prune").stdout
    assert "Cleared: score" in run_cli(cached, "cache", "clear", "score").stdout
    assert "empty" in run_cli(cached, "cache", "stats").stdout


def test_nulls_nans_and_duplicates_with_the_cache(cached: Path) -> None:
    write(cached, {"models/scores.sql": """
        select id, score(case when id % 7 = 0 then null when id % 11 = 0 then 'nan'::double
                         else round(f0, 1) end, 0.5, 0.5, 0.5) as s
        from feats where id < 2000
    """})
    run_cli(cached, "run")
    cold = scores(cached)
    first = ml_stats(cached)
    assert first["rows_inferred"] < 200  # few distinct tuples: each scored once
    run_cli(cached, "run")
    assert ml_stats(cached)["rows_inferred"] == 0
    assert scores(cached) == cold
    assert all((s is None) == (i % 7 == 0) for i, s in cold)
    run_cli(cached, "run", "--no-cache")
    assert scores(cached) == cold


def test_cache_max_rows_prunes_old_fingerprints(cached: Path) -> None:
    write(cached, {"predsql_project.yml": "name: cached\ncache-max-rows: 150000\n"})
    run_cli(cached, "run")
    write(cached, {"functions/f.yml": "functions:\n  - name: score\n    model: forest.onnx\n"
                                      "    cache: true\n    batch_size: 1000\n"})
    result = run_cli(cached, "run")
    assert "pruned 100,000 entries" in output(result)
    assert query(cached / "cached.duckdb",
                 'select count(*) from "__predsql_cache"."score"') == [(ROWS,)]


def test_hash_collisions_never_serve_a_wrong_result(cached: Path) -> None:
    run_cli(cached, "run")
    db = cached / "cached.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("update feats set f0 = f0 + 5 where id in (5, 6)")
        fingerprint = con.execute(
            'select any_value(fingerprint) from "__predsql_cache"."score"').fetchall()[0][0]
        # a different tuple stored under row 5's new hash: a simulated 64-bit collision
        con.execute(
            'insert into "__predsql_cache"."score" select ?, hash(f0::float, f1::float, '
            "f2::float, f3::float), 0, 0, 0, 0, 999.0, now() from feats where id = 5",
            [fingerprint])
    run_cli(cached, "run")
    stats = ml_stats(cached)
    assert stats["rows_inferred"] == 2 and stats["rows_from_cache"] == ROWS - 2
    with_cache = scores(cached)
    assert dict(with_cache)[5] != 999.0
    run_cli(cached, "run", "--no-cache")
    assert scores(cached) == with_cache
    run_cli(cached, "run")  # the collided tuple is scored again, never cached
    assert ml_stats(cached)["rows_inferred"] == 1
    assert scores(cached) == with_cache


def test_models_filling_one_cache_at_once_and_a_changed_result_type(cached: Path) -> None:
    """Two models running in parallel share the function's cache table (created before
    they start); a function whose result type changes gets a new cache table."""
    write(cached, {"profiles.yml": "cached:\n  target: dev\n  outputs:\n    dev:\n"
                                   "      type: duckdb\n      path: cached.duckdb\n      threads: 4\n",
                   "predsql_project.yml": "name: cached\nprofile: cached\n",
                   "models/scores_b.sql": "select id, score(f0, f1, f2, f3) as s from feats "
                                          "where id % 2 = 0",
                   "models/scores_c.sql": "select id, score(f1, f0, f2, f3) as s from feats "
                                          "where id % 3 = 0"})
    for _ in range(2):
        run_cli(cached, "run")
        counts = query(cached / "cached.duckdb", "select (select count(*) from scores), "
                       "(select count(*) from scores_b), (select count(*) from scores_c)")
        assert counts == [(ROWS, ROWS // 2, len(range(0, ROWS, 3)))]
    duplicates = query(cached / "cached.duckdb", 'select count(*) - count(distinct (h, a0, a1, '
                       'a2, a3)) from "__predsql_cache"."score"')
    assert duplicates == [(0,)]
    write(cached, {"functions/f.yml": "functions:\n  - name: score\n    model: forest.onnx\n"
                                      "    cache: true\n    outputs: [variable]\n",
                   "models/scores.sql": "select id, score(f0, f1, f2, f3).variable as s from feats",
                   "models/scores_b.sql": "select 1 as x", "models/scores_c.sql": "select 1 as x"})
    run_cli(cached, "run")
    assert ml_stats(cached)["rows_inferred"] == ROWS
    run_cli(cached, "run")
    assert ml_stats(cached)["rows_from_cache"] == ROWS


def cache_function(arity: int) -> SimpleNamespace:
    """What cache.store reads of a registered function."""
    return SimpleNamespace(name="f", arity=arity, fingerprint="fp", cache=True,
                           arg_types=lambda: ["FLOAT"] * arity, result_type="FLOAT")


def test_storing_many_new_tuples_within_a_small_memory_limit(tmp_path: Path) -> None:
    """500k new tuples of 16 arguments into a cache of 500k under memory_limit 24MB (as
    4M rows under 128MB while the node's uncommitted output holds most of it): one INSERT
    grouping and windowing every column of a reader of unknown size ran out of memory."""
    rows, k = 500_000, 16
    fn = cache_function(k)
    con = duckdb.connect(str(tmp_path / "c.duckdb"),
                         config={"memory_limit": "24MB", "threads": 2})
    cache.ensure_cache(con, fn)
    old = ", ".join("random()::float" for _ in range(k))
    con.execute(f"insert into __predsql_cache.f select 'fp', hash({old}), {old}, 1, now() "
                 f"from range({rows})")
    rng = np.random.default_rng(0)
    names = [f"a{i}" for i in range(k)] + ["result"]

    def batches() -> Iterator[pa.RecordBatch]:
        for _ in range(rows // 10_000):
            yield pa.RecordBatch.from_arrays(
                [pa.array(rng.random(10_000, dtype=np.float32)) for _ in names], names=names)

    spool = tmp_path / "new.arrows"
    with pa.OSFile(str(spool), "wb") as sink, pa.ipc.new_stream(
            sink, pa.schema([(n, pa.float32()) for n in names])) as writer:
        for batch in batches():
            writer.write_batch(batch)
    cache.store(con, SimpleNamespace(fn=fn), lambda: pa.ipc.open_stream(str(spool)),
                threading.Lock())
    assert con.execute("select count(*), count(distinct h) from __predsql_cache.f "
                       "where result <> 1").fetchall() == [(rows, rows)]


def test_new_tuples_sharing_a_hash_are_stored_once_or_not_at_all(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Among the new tuples, keyed here by their first argument alone to force
    collisions: one inferred twice (stored once), NaN twice (stored once: NaN equals
    NaN), two different tuples on one hash (neither stored), and one whose hash the
    cache already holds for other arguments (not stored)."""
    monkeypatch.setattr(cache, "_hash_of", lambda columns: f"hash({columns[0]})")
    fn = SimpleNamespace(name="f", arity=2, fingerprint="fp", cache=True,
                         arg_types=lambda: ["DOUBLE", "DOUBLE"], result_type="FLOAT")
    con = duckdb.connect()
    cache.ensure_cache(con, fn)
    con.execute("insert into __predsql_cache.f values ('fp', hash(4::double), 9, 9, 9, now())")
    nan = float("nan")
    new = pa.table({"a0": [1.0, 1.0, nan, nan, 3.0, 3.0, 4.0, 5.0],
                    "a1": [1.0, 1.0, 2.0, 2.0, 3.0, 4.0, 4.0, 5.0],
                    "result": pa.array([0.5, 0.5, 0.25, 0.25, 0.125, 0.75, 0.375, 0.625],
                                       pa.float32())})
    cache.store(con, SimpleNamespace(fn=fn), lambda: pa.RecordBatchReader.from_batches(
        new.schema, new.to_batches(max_chunksize=3)), threading.Lock())
    stored = con.execute("select a0, a1, result from __predsql_cache.f order by a0").fetchall()
    assert stored[:3] == [(1, 1, 0.5), (5, 5, 0.625), (9, 9, 9)]  # (4, 4) was not stored
    assert len(stored) == 4 and stored[3][0] != stored[3][0]  # NaN sorts last
    assert stored[3][1:] == (2, 0.25)
    assert con.execute("select count(*) from duckdb_tables() where temporary").fetchall() \
        == [(0,)]
