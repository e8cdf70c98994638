"""Approximate top-k with HNSW (faiss-cpu), recall measured against exact search.

The index is built over the item rows of each searched slice (the whole item
relation, or one partition) on first use. Every search also runs the exact engine
on a sample of the query rows (`recall_sample`, default 1,000) and reports
recall@k = shared neighbours / exact neighbours, in run_results.json.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from predsql.errors import ExecutionError
from predsql.vectors.exact import ExactSearch, Exclusions, merge_topk

DEFAULTS = {"m": 32, "ef_construction": 200, "ef_search": 128, "recall_sample": 1000}


def _faiss() -> Any:
    try:
        import faiss
    except ImportError as exc:
        raise ExecutionError("predsql.nearest(method='hnsw') needs faiss-cpu",
                             hint="pip install 'predsql[vectors]'") from exc
    return faiss


class HnswSearch:
    """Same surface as ExactSearch; scores are similarities (for l2: minus the distance)."""

    provider = "faiss-hnsw (CPU)"

    def __init__(self, items: np.ndarray, metric: str, options: dict[str, Any],
                 workers: int = 1) -> None:
        self.faiss = _faiss()
        self.metric = metric
        self.options = {**DEFAULTS, **options}
        self.exact = ExactSearch(items, metric, "cpu", workers=workers)
        self.items = self.exact.items  # unit rows for cosine
        self._indexes: dict[tuple[int, int], Any] = {}
        self._lock = threading.Lock()
        self.sampled = 0
        self.hits = 0
        self.expected = 0

    def close(self) -> None:
        self.exact.close()

    def prepare(self, queries: np.ndarray) -> np.ndarray:
        return self.exact.prepare(queries)

    def distances(self, queries: np.ndarray, index: np.ndarray) -> np.ndarray:
        return self.exact.distances(queries, index)

    def _index(self, lo: int, hi: int) -> Any:
        with self._lock:
            if (lo, hi) not in self._indexes:
                faiss = self.faiss
                kind = faiss.METRIC_L2 if self.metric == "l2" else faiss.METRIC_INNER_PRODUCT
                index = faiss.IndexHNSWFlat(self.items.shape[1], int(self.options["m"]), kind)
                index.hnsw.efConstruction = int(self.options["ef_construction"])
                index.add(np.ascontiguousarray(self.items[lo:hi]))
                self._indexes[(lo, hi)] = index
            index = self._indexes[(lo, hi)]
        index.hnsw.efSearch = max(int(self.options["ef_search"]), 1)
        return index

    def search(self, queries: np.ndarray, k: int, lo: int, hi: int,
               exclusions: Exclusions | None = None) -> tuple[np.ndarray, np.ndarray]:
        wanted = min(k + (exclusions.most if exclusions is not None else 0), hi - lo)
        found, index = self._index(lo, hi).search(np.ascontiguousarray(queries), wanted)
        valid = index >= 0
        scores = np.where(valid, -found if self.metric == "l2" else found, -np.inf)
        index = np.where(valid, index + lo, -1).astype(np.int64)
        scores = scores.astype(np.float32)
        if exclusions is not None:
            exclusions.apply(scores, index)
        scores, index = merge_topk(scores, index, k)
        self._measure_recall(queries, k, lo, hi, exclusions, index)
        return scores, index

    def _measure_recall(self, queries: np.ndarray, k: int, lo: int, hi: int,
                        exclusions: Exclusions | None, index: np.ndarray) -> None:
        room = int(self.options["recall_sample"]) - self.sampled
        if room <= 0:
            return
        rows = min(room, len(queries))
        sample = exclusions.rows(0, rows) if exclusions is not None else None
        _, truth = self.exact.search(queries[:rows], k, lo, hi, sample)
        for found, expected in zip(index[:rows], truth):
            real = set(expected[expected >= 0].tolist())
            self.hits += len(real & set(found[found >= 0].tolist()))
            self.expected += len(real)
        self.sampled += rows

    def report(self) -> dict[str, Any]:
        recall = self.hits / self.expected if self.expected else None
        return {"recall_at_k": None if recall is None else round(recall, 4),
                "recall_sample": self.sampled,
                "hnsw": {k: v for k, v in self.options.items() if k != "recall_sample"}}

