"""Vectors for the top-k tests: random, clustered, and with exact ties."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa


def random_vectors(n: int, dim: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)


def clustered_vectors(n: int, dim: int, seed: int, clusters: int = 8) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(clusters, dim)) * 3
    return (centers[rng.integers(0, clusters, n)] + rng.normal(size=(n, dim)) * 0.3).astype(
        np.float32)


def load_vectors(db: Path, table: str, x: np.ndarray, extra: dict | None = None) -> None:
    """`table(id BIGINT, <extra columns>, emb FLOAT[d])`."""
    flat = pa.array(x.reshape(-1), type=pa.float32())
    columns = {"id": pa.array(np.arange(len(x), dtype=np.int64)), **(extra or {}),
               "emb": pa.FixedSizeListArray.from_arrays(flat, x.shape[1])}
    frame = pa.table(columns)
    with duckdb.connect(str(db)) as con:
        con.register("frame", frame)
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM frame")


def brute_force(queries: np.ndarray, items: np.ndarray, k: int, metric: str,
                exclude: set[tuple[int, int]] = frozenset()) -> list[list[tuple[int, float]]]:
    """(item position, score) per query, by numpy over the whole matrix, float64."""
    qd, it = queries.astype(np.float64), items.astype(np.float64)
    if metric == "cosine":
        qd = qd / np.linalg.norm(qd, axis=1, keepdims=True)
        it = it / np.linalg.norm(it, axis=1, keepdims=True)
    if metric == "l2":
        scores = -np.sqrt(((qd[:, None, :] - it[None, :, :]) ** 2).sum(-1))
    else:
        scores = qd @ it.T
    result = []
    for row in range(len(queries)):
        order = np.lexsort((np.arange(len(items)), -scores[row]))
        chosen = [int(j) for j in order if (row, int(j)) not in exclude][:k]
        sign = -1 if metric == "l2" else 1
        result.append([(j, sign * float(scores[row, j])) for j in chosen])
    return result


def assert_same_neighbors(got: list[list[tuple]], expected: list[list[tuple]], tol: float = 1e-4
                          ) -> None:
    """Equal lists of (item, score) per query; an item may differ from the reference
    only where the reference has a near-tie (scores within `tol`) at that place."""
    assert len(got) == len(expected)
    for row, (g, e) in enumerate(zip(got, expected)):
        assert len(g) == len(e), f"query {row}: {len(g)} neighbours, expected {len(e)}"
        np.testing.assert_allclose([s for _, s in g], [s for _, s in e], rtol=tol, atol=tol)
        ref = dict(e)
        last = e[-1][1] if e else 0.0
        for item, score in g:
            if item not in ref:
                assert abs(score - last) <= tol * max(1.0, abs(last)), (
                    f"query {row}: item {item} ({score}) is not among {e}")
