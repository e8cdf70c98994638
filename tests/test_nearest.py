"""predsql.nearest() end to end: projects built with the CLI, read back, compared with
the SQL the macro renders (run by DuckDB itself) and with numpy brute force."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from conftest import output, query, run_cli, write
from vector_data import (
    assert_same_neighbors,
    brute_force,
    clustered_vectors,
    load_vectors,
    random_vectors,
)


def by_query(rows: list[tuple]) -> dict:
    grouped: dict = defaultdict(list)
    for query_key, item_key, _rank, score in sorted(rows, key=lambda r: (r[0], r[2])):
        grouped[query_key].append((item_key, score))
    return grouped


def compare_with_reference(root: Path, model: str, db: Path) -> dict:
    """The built table against the compiled SQL of the same model run by DuckDB."""
    compiled = next((root / "target" / "compiled").rglob(f"{model}.sql")).read_text()
    with duckdb.connect(str(db), read_only=True) as con:
        expected = by_query(con.execute(compiled).fetchall())
        got = by_query(con.execute(f"SELECT * FROM {model}").fetchall())
    assert set(got) == set(expected)
    keys = sorted(expected)
    assert_same_neighbors([got[k] for k in keys], [expected[k] for k in keys])
    return got


@pytest.fixture
def vecs(tmp_path: Path) -> Path:
    root = write(tmp_path / "vp", {"predsql_project.yml": "name: vp\n"})
    db = root / "vp.duckdb"
    rng = np.random.default_rng(11)
    load_vectors(db, "items", clustered_vectors(400, 12, 1),
                 {"cat": pa.array(rng.choice(["a", "b", "c"], 400))})
    load_vectors(db, "queries", random_vectors(120, 12, 2),
                 {"cat": pa.array(rng.choice(["a", "b", "d"], 120))})
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE bought AS SELECT q.id AS query_id, (q.id * 7 + j) % 400 AS item_id "
                    "FROM queries q, range(4) t(j)")
    return root


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
def test_random_data_equals_the_sql_definition_and_numpy(vecs: Path, metric: str) -> None:
    write(vecs, {"models/nn.sql": f"""
        select * from {{{{ predsql.nearest(source('raw', 'queries'), 'emb', source('raw', 'items'),
                                          'emb', k=7, key='id', metric='{metric}') }}}}
        """, "models/sources.yml": """
        version: 2
        sources:
          - name: raw
            schema: main
            tables: [{name: queries}, {name: items}]
        """})
    run_cli(vecs, "run")
    got = compare_with_reference(vecs, "nn", vecs / "vp.duckdb")
    items = clustered_vectors(400, 12, 1)
    queries = random_vectors(120, 12, 2)
    expected = brute_force(queries, items, 7, metric)
    assert_same_neighbors([got[i] for i in range(120)], expected)


def test_partition_and_exclude_self_item_to_item(vecs: Path) -> None:
    write(vecs, {"models/similar_items.sql": """
        {{ config(materialized='table') }}
        select n.query_key as id, n.item_key as similar_id, n.rank, n.score
        from {{ predsql.nearest('items', 'emb', 'items', 'emb', k=5, key='id',
                                partition_by='cat', exclude_self=true) }} as n
        """})
    run_cli(vecs, "run")
    db = vecs / "vp.duckdb"
    rows = query(db, "SELECT s.id, s.similar_id, a.cat, b.cat FROM similar_items s "
                     "JOIN items a ON a.id = s.id JOIN items b ON b.id = s.similar_id")
    assert rows and all(r[0] != r[1] and r[2] == r[3] for r in rows)
    assert query(db, "SELECT count(*) FROM similar_items")[0][0] == 400 * 5
    compiled = (next((vecs / "target" / "compiled").rglob("similar_items.sql"))).read_text()
    with duckdb.connect(str(db), read_only=True) as con:
        expected = by_query([(r[0], r[1], r[2], r[3]) for r in con.execute(compiled).fetchall()])
        got = by_query(con.execute("SELECT * FROM similar_items").fetchall())
    assert_same_neighbors([got[k] for k in sorted(expected)], [expected[k] for k in sorted(expected)])


def test_exclude_relation_and_partition_with_no_items(vecs: Path) -> None:
    write(vecs, {"models/recs.sql": """
        select * from {{ predsql.nearest('queries', 'emb', 'items', 'emb', k=4,
                                         query_key='id', item_key='id', partition_by='cat',
                                         exclude='bought', exclude_keys=['query_id', 'item_id']) }}
        """})
    run_cli(vecs, "run")
    db = vecs / "vp.duckdb"
    got = compare_with_reference(vecs, "recs", db)
    bought = set(query(db, "SELECT query_id, item_id FROM bought"))
    assert not any((q, i) in bought for q, rows in got.items() for i, _ in rows)
    in_d = {r[0] for r in query(db, "SELECT id FROM queries WHERE cat = 'd'")}
    assert in_d and not (in_d & set(got))  # category d has no items: no neighbours


def test_null_and_zero_vectors(tmp_path: Path) -> None:
    root = write(tmp_path / "nz", {"predsql_project.yml": "name: nz\n", "models/nn.sql": """
        select * from {{ predsql.nearest('v', 'emb', 'v', 'emb', k=3, key='id') }}
        """})
    with duckdb.connect(str(root / "nz.duckdb")) as con:
        con.execute("CREATE TABLE v AS SELECT * FROM (VALUES (1, [1, 0]::FLOAT[2]), "
                    "(2, NULL), (3, [0, 0]::FLOAT[2]), (4, [1, 1]::FLOAT[2]), "
                    "(5, [0, 2]::FLOAT[2])) t(id, emb)")
    run_cli(root, "run")
    rows = query(root / "nz.duckdb", "SELECT query_key, item_key, rank FROM nn ORDER BY 1, 3")
    assert {r[0] for r in rows} == {1, 4, 5}  # NULL and zero vectors neither ask nor answer
    assert [r[1] for r in rows if r[0] == 1] == [1, 4, 5]
    compare_with_reference(root, "nn", root / "nz.duckdb")


def test_empty_items_give_an_empty_typed_table(tmp_path: Path) -> None:
    root = write(tmp_path / "em", {"predsql_project.yml": "name: em\n", "models/nn.sql": """
        select * from {{ predsql.nearest('q', 'emb', 'i', 'emb', k=3, key='id') }}
        """})
    with duckdb.connect(str(root / "em.duckdb")) as con:
        con.execute("CREATE TABLE q AS SELECT 1 AS id, [1, 0]::FLOAT[2] AS emb")
        con.execute("CREATE TABLE i AS SELECT 'x' AS id, [1, 0]::FLOAT[2] AS emb WHERE false")
    run_cli(root, "run")
    assert query(root / "em.duckdb", "SELECT count(*) FROM nn") == [(0,)]
    types = query(root / "em.duckdb", "SELECT data_type FROM information_schema.columns "
                                      "WHERE table_name = 'nn' ORDER BY ordinal_position")
    assert [t[0] for t in types] == ["INTEGER", "VARCHAR", "BIGINT", "FLOAT"]


def test_errors_name_the_model_and_the_fix(vecs: Path) -> None:
    write(vecs, {"models/dup.sql": """
        select * from {{ predsql.nearest('queries', 'emb', 'items', 'emb', k=3, key='cat') }}
        """, "models/as_view.sql": """
        {{ config(materialized='view') }}
        select * from {{ predsql.nearest('queries', 'emb', 'items', 'emb', k=3, key='id') }}
        """})
    result = run_cli(vecs, "run", code=1)
    text = output(result)
    assert "models/dup.sql" in text and "unique keys" in text
    assert "models/as_view.sql" in text and "materialized='table'" in text
    write(vecs, {"models/dup.sql": "select {{ predsql.nearest('q', 'e', 'i', 'e', k=0, key='id') }}",
                 "models/as_view.sql": "select 1 as x"})
    text = output(run_cli(vecs, "compile", code=2))
    assert "models/dup.sql" in text and "k must be a positive integer" in text
    write(vecs, {"models/dup.sql": "select {{ predsql.nearest('q', 'e', 'i', 'e', key='id', "
                                   "ef_search=10) }}"})
    text = output(run_cli(vecs, "compile", code=2))
    assert "models/dup.sql" in text and "applies to method='hnsw'" in text


def test_data_test_ephemeral_and_run_results(vecs: Path) -> None:
    write(vecs, {
        "models/pairs.sql": """
            {{ config(materialized='ephemeral') }}
            select * from {{ predsql.nearest('items', 'emb', 'items', 'emb', k=1, key='id',
                                             exclude_self=true) }}
            """,
        "models/closest.sql": "select query_key as id, score from {{ ref('pairs') }}",
        "tests/no_near_duplicates.sql": """
            select * from {{ predsql.nearest('items', 'emb', 'items', 'emb', k=1, key='id',
                                             exclude_self=true) }}
            where score > 0.99999
            """,
    })
    with duckdb.connect(str(vecs / "vp.duckdb")) as con:  # two exact duplicates
        con.execute("INSERT INTO items SELECT 1000 + id, cat, emb FROM items WHERE id < 2")
    result = run_cli(vecs, "build", code=1)
    assert "FAIL 4" in output(result)  # 0<->1000 and 1<->1001, both ways
    assert query(vecs / "vp.duckdb", "SELECT count(*) FROM closest") == [(402,)]
    results = json.loads((vecs / "target" / "run_results.json").read_text())["results"]
    closest = next(r for r in results if r["unique_id"].endswith(".closest"))
    stats = closest["predsql"]["nearest"][0]
    assert stats["query_rows"] == 402 and stats["item_rows"] == 402 and stats["k"] == 1
    assert stats["method"] == "exact" and stats["provider"] == "CPUExecutionProvider"


@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_hnsw_reports_recall_against_exact(vecs: Path, metric: str) -> None:
    pytest.importorskip("faiss", reason="the `vectors` extra (faiss-cpu) is not installed")
    write(vecs, {"models/approx.sql": f"""
        select * from {{{{ predsql.nearest('queries', 'emb', 'items', 'emb', k=5, key='id',
                                          metric='{metric}', method='hnsw', ef_search=64,
                                          recall_sample=50) }}}}
        """, "models/approx_excl.sql": """
        select * from {{ predsql.nearest('queries', 'emb', 'items', 'emb', k=4, key='id',
                                         method='hnsw', partition_by='cat',
                                         exclude='bought', exclude_keys=['query_id', 'item_id']) }}
        """})
    run_cli(vecs, "run")
    db = vecs / "vp.duckdb"
    results = json.loads((vecs / "target" / "run_results.json").read_text())["results"]
    stats = {r["unique_id"].split(".")[-1]: r["predsql"]["nearest"][0] for r in results}
    assert stats["approx"]["method"] == "hnsw" and stats["approx"]["recall_sample"] == 50
    assert stats["approx"]["recall_at_k"] >= 0.95
    assert stats["approx_excl"]["recall_at_k"] >= 0.95
    approx = by_query(query(db, "SELECT * FROM approx"))
    exact = brute_force(random_vectors(120, 12, 2), clustered_vectors(400, 12, 1), 5, metric)
    shared = sum(len({i for i, _ in approx[q]} & {i for i, _ in exact[q]}) for q in range(120))
    assert shared / (120 * 5) >= 0.95
    bought = set(query(db, "SELECT query_id, item_id FROM bought"))
    rows = query(db, "SELECT query_key, item_key FROM approx_excl")
    assert rows and not any(r in bought for r in rows)
