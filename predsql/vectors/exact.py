"""Exact top-k: a blocked matrix product with a streaming top-k merge.

One small ONNX graph, `Gemm(queries, item_block^T) -> TopK(k)`, runs per
(query block, item block) pair; each item block's k best are merged into the
running k best per query. Memory is bounded by the blocks (query block x item
block scores per worker), never the N x M matrix. The same graph runs on
onnxruntime's CPU provider (MLAS kernels, one intra-op thread per worker
thread) and on CUDA, where the item blocks stay on the GPU.

Ties are broken by the item's position (items are loaded sorted by key), so
results are deterministic: ONNX TopK keeps the lower index first, and the
merge sorts by (score, position).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper

from predsql.errors import ExecutionError
from predsql.ml.devices import probe_cuda

QUERY_BLOCK = 1024
ITEM_BLOCK = 16384
NO_ITEM = -1


def topk_graph(dim: int, biased: bool) -> bytes:
    """scores = alpha * q @ items^T (+ bias); values, indices = TopK(scores, k)."""
    inputs = [helper.make_tensor_value_info("q", TensorProto.FLOAT, [None, dim]),
              helper.make_tensor_value_info("items", TensorProto.FLOAT, [None, dim])]
    gemm_inputs = ["q", "items"]
    if biased:
        inputs.append(helper.make_tensor_value_info("bias", TensorProto.FLOAT, [None]))
        gemm_inputs.append("bias")
    inputs.append(helper.make_tensor_value_info("k", TensorProto.INT64, [1]))
    nodes = [
        helper.make_node("Gemm", gemm_inputs, ["scores"], transB=1, alpha=2.0 if biased else 1.0),
        helper.make_node("TopK", ["scores", "k"], ["values", "indices"], axis=1, largest=1,
                         sorted=1),
    ]
    graph = helper.make_graph(
        nodes, "predsql_topk", inputs,
        [helper.make_tensor_value_info("values", TensorProto.FLOAT, [None, None]),
         helper.make_tensor_value_info("indices", TensorProto.INT64, [None, None])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def normalize(x: np.ndarray) -> np.ndarray:
    """Unit rows (float32); zero rows stay zero (callers filter them out first)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def merge_topk(scores: np.ndarray, index: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the k best by (score descending, index ascending); -inf/-1 pad."""
    index = np.where(np.isneginf(scores), np.iinfo(np.int64).max, index)
    order = np.lexsort((index, -scores), axis=-1)[:, :k]
    best_scores = np.take_along_axis(scores, order, axis=1)
    best_index = np.take_along_axis(index, order, axis=1)
    best_index[np.isneginf(best_scores)] = NO_ITEM
    if best_scores.shape[1] < k:  # fewer candidates than k
        pad = k - best_scores.shape[1]
        best_scores = np.pad(best_scores, ((0, 0), (0, pad)), constant_values=-np.inf)
        best_index = np.pad(best_index, ((0, 0), (0, pad)), constant_values=NO_ITEM)
    return best_scores, best_index


@dataclass(frozen=True)
class Exclusions:
    """Item positions never returned for given query rows (row i: positions[offsets[i]:offsets[i+1]])."""

    offsets: np.ndarray
    positions: np.ndarray

    @property
    def most(self) -> int:
        return int(np.diff(self.offsets).max()) if len(self.offsets) > 1 else 0

    def rows(self, start: int, stop: int) -> Exclusions:
        offsets = self.offsets[start:stop + 1]
        return Exclusions(offsets - offsets[0], self.positions[offsets[0]:offsets[-1]])

    def apply(self, scores: np.ndarray, index: np.ndarray) -> None:
        """Set excluded (row, position) candidates to -inf, in place."""
        if not len(self.positions):
            return
        rows = np.repeat(np.arange(len(self.offsets) - 1), np.diff(self.offsets))
        width = np.int64(2**32)
        banned = np.sort(rows.astype(np.int64) * width + self.positions)
        codes = np.arange(len(index), dtype=np.int64)[:, None] * width + index
        hit = np.isin(codes, banned) & (index >= 0)
        scores[hit] = -np.inf


class ExactSearch:
    """Exact k-nearest items for blocks of queries, on one onnxruntime session."""

    def __init__(self, items: np.ndarray, metric: str, device: str = "cpu", workers: int = 1,
                 query_block: int = QUERY_BLOCK, item_block: int = ITEM_BLOCK) -> None:
        self.metric = metric
        self.workers = max(1, workers)
        self.query_block = query_block
        self.item_block = item_block
        items = np.ascontiguousarray(items, dtype=np.float32)
        self.items = normalize(items) if metric == "cosine" else items
        self.bias = -np.einsum("ij,ij->i", items, items) if metric == "l2" else None
        self.session, self.provider = _session(topk_graph(items.shape[1], self.bias is not None),
                                               device)
        self.device = "cuda" if self.provider == "CUDAExecutionProvider" else "cpu"
        self._blocks: dict[tuple[int, int], list[tuple[int, ort.OrtValue, ort.OrtValue | None]]] = {}
        self._lock = threading.Lock()
        self.pool = ThreadPoolExecutor(self.workers, thread_name_prefix="predsql-topk") \
            if self.workers > 1 else None

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True)

    def _item_blocks(self, lo: int, hi: int) -> list[tuple[int, ort.OrtValue, ort.OrtValue | None]]:
        """Item rows [lo, hi) cut in blocks, as OrtValues (zero-copy on CPU, on the GPU for CUDA)."""
        with self._lock:
            if (lo, hi) not in self._blocks:
                if len(self._blocks) > 64:
                    self._blocks.clear()
                blocks = []
                for start in range(lo, hi, self.item_block):
                    stop = min(start + self.item_block, hi)
                    rows = ort.OrtValue.ortvalue_from_numpy(self.items[start:stop], self.device, 0)
                    bias = None if self.bias is None else ort.OrtValue.ortvalue_from_numpy(
                        self.bias[start:stop], self.device, 0)
                    blocks.append((start, rows, bias))
                self._blocks[(lo, hi)] = blocks
            return self._blocks[(lo, hi)]

    def prepare(self, queries: np.ndarray) -> np.ndarray:
        """Queries as the graph wants them (unit rows for cosine)."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        return normalize(queries) if self.metric == "cosine" else queries

    def search(self, queries: np.ndarray, k: int, lo: int, hi: int,
               exclusions: Exclusions | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The k best item positions in [lo, hi) for each (prepared) query row, and
        their scores (similarity; for l2, 2 q.i - |i|^2). Padded with -inf / -1."""
        starts = list(range(0, len(queries), self.query_block))
        if self.pool is None or len(starts) == 1:
            parts = [self._search_block(queries, s, k, lo, hi, exclusions) for s in starts]
        else:
            parts = list(self.pool.map(
                lambda s: self._search_block(queries, s, k, lo, hi, exclusions), starts))
        return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))

    def _search_block(self, queries: np.ndarray, start: int, k: int, lo: int, hi: int,
                      exclusions: Exclusions | None) -> tuple[np.ndarray, np.ndarray]:
        stop = min(start + self.query_block, len(queries))
        block = queries[start:stop]
        excluded = exclusions.rows(start, stop) if exclusions is not None else None
        wanted = k + (excluded.most if excluded is not None else 0)
        scores, index = [], []
        q = ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(block), self.device, 0)
        for item_start, rows, bias in self._item_blocks(lo, hi):
            binding = self.session.io_binding()
            binding.bind_ortvalue_input("q", q)
            binding.bind_ortvalue_input("items", rows)
            if bias is not None:
                binding.bind_ortvalue_input("bias", bias)
            binding.bind_cpu_input("k", np.array([min(wanted, rows.shape()[0])], np.int64))
            binding.bind_output("values", "cpu")
            binding.bind_output("indices", "cpu")
            self.session.run_with_iobinding(binding)
            values, positions = binding.copy_outputs_to_cpu()
            scores.append(values)
            index.append(positions + item_start)
        all_scores = np.concatenate(scores, axis=1)
        all_index = np.concatenate(index, axis=1)
        if excluded is not None:
            excluded.apply(all_scores, all_index)
        return merge_topk(all_scores, all_index, k)

    def distances(self, queries: np.ndarray, index: np.ndarray) -> np.ndarray:
        """Exact L2 distances of each query to its found items (recomputed directly)."""
        safe = np.where(index >= 0, index, 0)
        diff = self.items[safe] - queries[:, None, :]
        out = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
        out[index < 0] = np.inf
        return out.astype(np.float32)


def _cuda(model: bytes, options: ort.SessionOptions) -> ort.InferenceSession | None:
    """A CUDA session for the top-k graph, or None where onnxruntime cannot make one
    (probe_cuda loads the `cuda` extra's libraries first and keeps the reason)."""
    if not probe_cuda().usable:
        return None
    try:
        session = ort.InferenceSession(model, options, providers=["CUDAExecutionProvider"])
    except Exception:  # the probe ran, this graph does not: the CPU runs it
        return None
    return session if session.get_providers()[0] == "CUDAExecutionProvider" else None


def _session(model: bytes, device: str) -> tuple[ort.InferenceSession, str]:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    if device in ("auto", "cuda"):
        session = _cuda(model, options)
        if session is not None:
            return session, "CUDAExecutionProvider"
    if device == "cuda":
        raise ExecutionError("predsql.nearest(): device cuda asked for, but onnxruntime cannot "
                             f"create a CUDA session here: {probe_cuda().reason}",
                             hint="use --device auto or cpu, or install the `cuda` extra")
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"]), \
        "CPUExecutionProvider"
