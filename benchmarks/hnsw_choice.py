"""Choosing the HNSW library: faiss-cpu, hnswlib and usearch on real MiniLM embeddings.

    PREDSQL_SAVE_EMBEDDINGS=/tmp/emb.npy python benchmarks/text_vectors.py child text-hand 20000
    python benchmarks/hnsw_choice.py /tmp/emb.npy [--queries 2000]

Same parameters for all (M=32, efConstruction=200, ef=128, inner product on unit
vectors); recall@10 against predsql's exact search; build and query seconds.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from predsql.vectors.exact import ExactSearch

M, EF_CONSTRUCTION, EF, K = 32, 200, 128, 10


def faiss_hnsw(items: np.ndarray, queries: np.ndarray) -> tuple[float, float, np.ndarray]:
    import faiss

    started = time.perf_counter()
    index = faiss.IndexHNSWFlat(items.shape[1], M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = EF_CONSTRUCTION
    index.add(items)
    built = time.perf_counter()
    index.hnsw.efSearch = EF
    _, found = index.search(queries, K)
    return built - started, time.perf_counter() - built, found


def hnswlib_hnsw(items: np.ndarray, queries: np.ndarray) -> tuple[float, float, np.ndarray]:
    import hnswlib

    started = time.perf_counter()
    index = hnswlib.Index(space="ip", dim=items.shape[1])
    index.init_index(max_elements=len(items), M=M, ef_construction=EF_CONSTRUCTION)
    index.add_items(items, np.arange(len(items)))
    built = time.perf_counter()
    index.set_ef(EF)
    found, _ = index.knn_query(queries, k=K)
    return built - started, time.perf_counter() - built, found


def usearch_hnsw(items: np.ndarray, queries: np.ndarray) -> tuple[float, float, np.ndarray]:
    from usearch.index import Index

    started = time.perf_counter()
    index = Index(ndim=items.shape[1], metric="ip", connectivity=M,
                  expansion_add=EF_CONSTRUCTION, expansion_search=EF)
    index.add(np.arange(len(items)), items)
    built = time.perf_counter()
    found = index.search(queries, K).keys
    return built - started, time.perf_counter() - built, found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("embeddings")
    parser.add_argument("--queries", type=int, default=2000)
    args = parser.parse_args()
    data = np.load(args.embeddings).astype(np.float32)
    queries, items = data[:args.queries], data[args.queries:]
    engine = ExactSearch(items, "ip", workers=2)
    _, truth = engine.search(queries, K, 0, len(items))
    engine.close()
    print(f"{len(items)} items, {len(queries)} queries, {items.shape[1]}-d")
    for name, run in (("faiss", faiss_hnsw), ("hnswlib", hnswlib_hnsw), ("usearch", usearch_hnsw)):
        build, search, found = run(items, queries)
        recall = np.mean([len(set(f) & set(t)) / K for f, t in zip(found.tolist(), truth.tolist())])
        print(f"{name:8s} build {build:6.2f} s  search {search:6.3f} s  recall@10 {recall:.4f}")


if __name__ == "__main__":
    main()
