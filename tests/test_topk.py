"""The exact top-k engine against numpy brute force: random, clustered, ties, blocks."""

from __future__ import annotations

import numpy as np
import pytest

from predsql.vectors.exact import ExactSearch, Exclusions, merge_topk
from vector_data import assert_same_neighbors, brute_force, clustered_vectors, random_vectors


def search_all(engine: ExactSearch, queries: np.ndarray, k: int, lo: int = 0, hi: int | None = None,
               exclusions: Exclusions | None = None) -> list[list[tuple[int, float]]]:
    hi = len(engine.items) if hi is None else hi
    prepared = engine.prepare(queries)
    scores, index = engine.search(prepared, k, lo, hi, exclusions)
    if engine.metric == "l2":
        scores = engine.distances(prepared, index)
        order = np.lexsort((np.where(index >= 0, index, 1 << 62), scores), axis=-1)
        index = np.take_along_axis(index, order, 1)
        scores = np.take_along_axis(scores, order, 1)
    return [[(int(i), float(s)) for i, s in zip(ri, rs) if i >= 0] for ri, rs in zip(index, scores)]


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
@pytest.mark.parametrize("data", [random_vectors, clustered_vectors])
def test_exact_equals_brute_force(metric: str, data) -> None:
    items = data(700, 24, seed=1)
    queries = data(150, 24, seed=2)
    # small blocks so that the merge across query and item blocks is exercised
    engine = ExactSearch(items, metric, workers=2, query_block=32, item_block=100)
    try:
        assert_same_neighbors(search_all(engine, queries, 10), brute_force(queries, items, 10, metric))
    finally:
        engine.close()


def test_block_sizes_do_not_change_results() -> None:
    items, queries = clustered_vectors(500, 16, 3), clustered_vectors(64, 16, 4)
    results = []
    for qb, ib in [(1, 1), (7, 13), (1024, 16384)]:
        engine = ExactSearch(items, "ip", workers=2, query_block=qb, item_block=ib)
        results.append(search_all(engine, queries, 5))
        engine.close()
    # the same items; scores equal up to the float32 rounding of different GEMM tiles
    assert_same_neighbors(results[1], results[0], tol=1e-5)
    assert_same_neighbors(results[2], results[0], tol=1e-5)


def test_ties_break_by_position_deterministically() -> None:
    # small integers: every dot product is exact, so equal scores are truly equal
    rng = np.random.default_rng(0)
    base = rng.integers(-2, 3, size=(40, 8)).astype(np.float32)
    items = np.concatenate([base, base, base])  # each vector three times
    queries = rng.integers(-2, 3, size=(20, 8)).astype(np.float32)
    for metric in ("ip", "l2"):
        engine = ExactSearch(items, metric, workers=2, query_block=3, item_block=17)
        got = search_all(engine, queries, 9)
        expected = brute_force(queries, items, 9, metric)
        assert [[i for i, _ in row] for row in got] == [[i for i, _ in row] for row in expected]
        engine.close()


def test_partition_slice_and_fewer_items_than_k() -> None:
    items, queries = random_vectors(60, 8, 5), random_vectors(10, 8, 6)
    engine = ExactSearch(items, "cosine", item_block=4)
    got = search_all(engine, queries, 10, lo=20, hi=26)  # only 6 items in the slice
    expected = brute_force(queries, items[20:26], 10, "cosine")
    assert_same_neighbors([[(i - 20, s) for i, s in row] for row in got], expected)


def test_exclusions() -> None:
    items, queries = random_vectors(200, 8, 7), random_vectors(30, 8, 8)
    banned = {(r, int(j)) for r in range(30) for j in np.random.default_rng(r).choice(200, 5)}
    rows = sorted(banned)
    offsets = np.searchsorted([r for r, _ in rows], np.arange(31))
    exclusions = Exclusions(offsets.astype(np.int64), np.array([j for _, j in rows], np.int64))
    engine = ExactSearch(items, "ip", query_block=7, item_block=50)
    got = search_all(engine, queries, 6, exclusions=exclusions)
    assert_same_neighbors(got, brute_force(queries, items, 6, "ip", banned))


def test_merge_topk_pads_and_orders() -> None:
    scores = np.array([[0.5, -np.inf, 0.5, 0.9]], np.float32)
    index = np.array([[8, 3, 2, 5]])
    best, where = merge_topk(scores, index, 6)
    assert where.tolist() == [[5, 2, 8, -1, -1, -1]]
    assert best[0, :3].tolist() == pytest.approx([0.9, 0.5, 0.5])
