"""Running a text function: tokenize the batch, bucket by length, pad, pool.

A whole read batch is tokenized at once (the Rust tokenizer runs in parallel),
rows are sorted by token count, cut into sub-batches of `batch_size` rows, each
padded only to its own longest row, run on the worker threads (one
onnxruntime session, one intra-op thread per call) and written back in the
original order. Measured on all-MiniLM-L6-v2: sorting with dynamic padding
doubles throughput over unsorted batches and is 20x faster than a fixed
128-token padding.
"""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnxruntime as ort

from predsql.ml.runtime import StackedColumns
from predsql.text.config import TextSpec, load_tokenizer

CPU_TEXT_BATCH = 64
CUDA_TEXT_BATCH = 512


@dataclass(frozen=True)
class Tokens:
    """Token ids of n texts, flattened: row i is flat[offsets[i]:offsets[i] + lengths[i]]."""

    ids: np.ndarray
    type_ids: np.ndarray | None
    lengths: np.ndarray
    offsets: np.ndarray
    truncated: int


def tokenize(tokenizer: Any, texts: list[str], pairs: list[str] | None, type_ids: bool) -> Tokens:
    batch = texts if pairs is None else list(zip(texts, pairs))
    encodings = tokenizer.encode_batch_fast(batch)
    lengths = np.fromiter(map(len, encodings), dtype=np.int64, count=len(encodings))
    total = int(lengths.sum())
    ids = np.fromiter(itertools.chain.from_iterable(e.ids for e in encodings), np.int64, total)
    types = None
    if type_ids and pairs is not None:
        types = np.fromiter(itertools.chain.from_iterable(e.type_ids for e in encodings),
                            np.int64, total)
    truncated = sum(1 for e in encodings if e.overflowing)
    offsets = np.cumsum(lengths) - lengths
    return Tokens(ids, types, lengths, offsets, truncated)


def padded(tokens: Tokens, rows: np.ndarray, pad_id: int) -> dict[str, np.ndarray]:
    """input_ids / attention_mask / token_type_ids for `rows`, padded to their longest."""
    lengths = tokens.lengths[rows]
    width = int(lengths.max())
    row = np.repeat(np.arange(len(rows)), lengths)
    col = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    source = np.repeat(tokens.offsets[rows], lengths) + col
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    ids[row, col] = tokens.ids[source]
    mask = np.zeros((len(rows), width), dtype=np.int64)
    mask[row, col] = 1
    types = np.zeros((len(rows), width), dtype=np.int64)
    if tokens.type_ids is not None:
        types[row, col] = tokens.type_ids[source]
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def pool(hidden: np.ndarray, mask: np.ndarray, spec: TextSpec) -> np.ndarray:
    hidden = hidden.astype(np.float32, copy=False)
    if spec.pooling == "mean":
        weights = mask[:, :, None].astype(np.float32)
        out = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
    elif spec.pooling == "cls":
        out = hidden[:, 0, :]
    else:
        out = hidden.reshape(len(hidden), -1)
    if spec.normalize:
        out = out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    return out if spec.width is not None else out.reshape(len(out))


def _strings(feed: Any) -> list[str]:
    column = feed.columns[0] if isinstance(feed, StackedColumns) else feed
    return np.asarray(column, dtype=object).reshape(-1).tolist()


@dataclass
class TextRuntime:
    """Same surface as ml.runtime.FunctionRuntime: predict(feeds) -> one row per text."""

    fn: Any
    session: ort.InferenceSession
    provider: str
    batch_size: int
    workers: int
    pool: ThreadPoolExecutor | None
    run_options: ort.RunOptions = field(default_factory=ort.RunOptions)
    _local: threading.local = field(default_factory=threading.local)

    def __post_init__(self) -> None:
        self.spec: TextSpec = self.fn.text

    def tokenizer(self) -> Any:
        """One tokenizer per calling thread (stages of different nodes may run at once)."""
        if not hasattr(self._local, "tokenizer"):
            self._local.tokenizer = load_tokenizer(self.spec.tokenizer_json, self.spec.max_length)
        return self._local.tokenizer

    def predict(self, feeds: list[Any]) -> np.ndarray:
        return self.predict_with_info(feeds)[0]

    def predict_with_info(self, feeds: list[Any]) -> tuple[np.ndarray, dict[str, int]]:
        texts = _strings(feeds[0])
        pairs = _strings(feeds[1]) if self.spec.pair else None
        wants_types = any(f.role == "token_type_ids" for f in self.spec.feeds)
        tokens = tokenize(self.tokenizer(), texts, pairs, wants_types)
        order = np.argsort(tokens.lengths, kind="stable")
        cuts = [order[s:s + self.batch_size] for s in range(0, len(order), self.batch_size)]
        shape = (len(texts), self.spec.width) if self.spec.width else (len(texts),)
        result = np.empty(shape, dtype=np.float32)

        def run(rows: np.ndarray) -> None:
            result[rows] = self._run(tokens, rows)

        if self.pool is None or len(cuts) == 1:
            for rows in cuts:
                run(rows)
        else:
            list(self.pool.map(run, cuts))
        return result, {"truncated_rows": tokens.truncated}

    def _run(self, tokens: Tokens, rows: np.ndarray) -> np.ndarray:
        tensors = padded(tokens, rows, self.spec.pad_id)
        inputs = {f.name: tensors[f.role].astype(f.dtype, copy=False) for f in self.spec.feeds}
        (hidden,) = self.session.run([self.spec.output_tensor], inputs, self.run_options)
        return pool(np.asarray(hidden), tensors["attention_mask"], self.spec)

    def terminate(self) -> None:
        self.run_options.terminate = True

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False)


def text_runtime(fn: Any, session: ort.InferenceSession, provider: str, workers: int
                 ) -> TextRuntime:
    cuda = provider == "CUDAExecutionProvider"
    batch = fn.batch_size or (CUDA_TEXT_BATCH if cuda else CPU_TEXT_BATCH)
    workers = 1 if cuda else workers
    pool = ThreadPoolExecutor(workers, thread_name_prefix=f"ort-{fn.name}") if workers > 1 else None
    return TextRuntime(fn, session, provider, batch, workers, pool)
