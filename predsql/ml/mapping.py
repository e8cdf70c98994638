"""The map of a stage: DuckDB batches in, ML output columns appended, Arrow out.

A producer thread reads the stage's input query as Arrow record batches while
the consumer (DuckDB, pulling from the returned RecordBatchReader) gets mapped
batches; onnxruntime and DuckDB both release the GIL, so reading overlaps
inference. No per-row Python: columns go Arrow -> numpy -> onnxruntime -> Arrow.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from predsql.compiler import CompiledNode
from predsql.errors import ExecutionError, InferenceError
from predsql.ml.plan import Stage, StageCall
from predsql.ml.registry import MlFunction, OutputSpec
from predsql.ml.runtime import RuntimePool, StackedColumns

READ_BATCH = 131072
DEDUPE_RATIO = 0.5  # deduplicate when distinct tuples are at most this share of the rows
NUMPY_TYPES = {"float": np.float32, "double": np.float64, "float16": np.float16,
               "int64": np.int64, "int32": np.int32, "int16": np.int16, "int8": np.int8,
               "uint8": np.uint8, "string": object, "bool": np.bool_}
ARROW_TYPES = {"float": pa.float32(), "double": pa.float64(), "float16": pa.float32(),
               "int64": pa.int64(), "int32": pa.int32(), "int16": pa.int16(), "int8": pa.int8(),
               "uint8": pa.uint8(), "string": pa.string(), "bool": pa.bool_()}
_END = object()
T = TypeVar("T")


@dataclass
class FunctionStats:
    function: str
    fingerprint: str
    provider: str = ""
    rows_inferred: int = 0
    rows_null: int = 0
    rows_from_cache: int = 0
    batches: int = 0
    seconds: float = 0.0
    nan_outputs: int = 0
    distinct_tuples: int = 0
    truncated_rows: int = 0  # text functions: texts cut to max_length
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "fingerprint": self.fingerprint,
            "provider": self.provider,
            "rows_inferred": self.rows_inferred,
            "rows_null": self.rows_null,
            "rows_from_cache": self.rows_from_cache,
            "batches": self.batches,
            "inference_seconds": round(self.seconds, 4),
            "rows_per_second": self.rows_inferred / self.seconds if self.seconds else 0.0,
            "nan_outputs": self.nan_outputs,
            "distinct_tuples": self.distinct_tuples,
            "truncated_rows": self.truncated_rows,
        }


def output_arrow_type(out: OutputSpec) -> pa.DataType:
    scalar = ARROW_TYPES[out.elem]
    return pa.list_(scalar, out.width) if out.width else scalar


def build_feeds(fn: MlFunction, arrays: list[pa.Array]) -> list[Any]:
    """Inputs for onnxruntime: k columns to stack, or one numpy array per input."""
    rows = len(arrays[0])
    if fn.stacked:
        spec = fn.inputs[0]
        return [StackedColumns([_to_numpy(a) for a in arrays], NUMPY_TYPES[spec.elem], spec.rank)]
    feeds = []
    for spec, array in zip(fn.inputs, arrays):
        column = _to_numpy(array).astype(NUMPY_TYPES[spec.elem], copy=False)
        feeds.append(column.reshape(rows, 1) if spec.rank == 2 else column)
    return feeds


def _to_numpy(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return array.to_numpy(zero_copy_only=False)


def to_arrow(result: np.ndarray, valid: np.ndarray | None, rows: int, out: OutputSpec) -> pa.Array:
    dtype = NUMPY_TYPES[out.elem] if out.elem != "float16" else np.float32
    result = np.asarray(result).astype(dtype, copy=False)
    if valid is None:
        full = result
    else:
        shape = (rows, out.width) if out.width else (rows,)
        full = np.full(shape, None, dtype=object) if dtype is object else np.zeros(shape, dtype)
        full[valid] = result
    mask = None if valid is None else pa.array(~valid)
    if out.width:
        flat = pa.array(full.reshape(-1), type=ARROW_TYPES[out.elem])
        return pa.FixedSizeListArray.from_arrays(flat, out.width, mask=mask)
    return pa.array(full, type=ARROW_TYPES[out.elem], mask=None if valid is None else ~valid)


def distinct_rows(arrays: list[pa.Array]) -> tuple[np.ndarray, np.ndarray] | None:
    """(index of the first row of each distinct tuple, inverse), from dictionary codes
    combined into one int64 key; None when the codes do not fit in one key."""
    key = np.zeros(len(arrays[0]), dtype=np.int64)
    radix = 1
    for array in arrays:
        encoded = pc.dictionary_encode(array)
        if isinstance(encoded, pa.ChunkedArray):
            encoded = encoded.combine_chunks()
        size = len(encoded.dictionary)
        radix *= max(size, 1)
        if radix >= 2**62:
            return None
        key = key * max(size, 1) + encoded.indices.to_numpy(zero_copy_only=False)
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return first, inverse.reshape(-1)


class StageStream:
    """Streams one stage: DuckDB input -> ML map -> Arrow reader for DuckDB."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection, stage: Stage, runtimes: RuntimePool,
                 stats: dict[str, FunctionStats], console: Any, node: CompiledNode) -> None:
        self.stage = stage
        self.runtimes = runtimes
        self.stats = stats
        self.console = console
        self.node = node
        self.error: BaseException | None = None
        self.stopped = threading.Event()
        self.read_cursor = cursor.cursor()
        self.bar: Any = None
        self._dedupe: dict[str, bool] = {}
        self.total: int | None = None
        if console is not None and console.shows_progress:
            row = self.read_cursor.execute(f"SELECT count(*) FROM ({stage.input_sql})").fetchall()[0]
            self.total = int(row[0]) if row else None
        for call in stage.calls:
            runtime = runtimes.get(call.fn.name)
            stats.setdefault(call.fn.name, FunctionStats(call.fn.name, call.fn.fingerprint,
                                                         runtime.provider))
        try:
            self.relation = self.read_cursor.sql(stage.input_sql)
        except duckdb.Error as exc:
            raise ExecutionError(f"{node.name!r}: cannot read the inputs of "
                                 f"{self._names()}: {exc}", path=node.node.rel_path) from exc

    def _names(self) -> str:
        return ", ".join(f"{c.fn.name}()" for c in self.stage.calls)

    def reader(self) -> pa.RecordBatchReader:
        try:
            source = self.relation.to_arrow_reader(READ_BATCH)
        except duckdb.Error as exc:
            raise self._read_error(exc) from exc
        fields = [source.schema.field(name) for name in self.stage.passthrough]
        fields += [pa.field(c.result_column, output_arrow_type(c.fn.output)) for c in self.stage.calls]
        return pa.RecordBatchReader.from_batches(pa.schema(fields), self._batches(source))

    def run(self, action: Callable[[], T]) -> T:
        """Run the DuckDB statement that consumes this stream; surface our own errors."""
        try:
            functions = [c.fn.name for c in self.stage.calls]
            with self.console.progress(self.node, functions, self.total) as bar:
                self.bar = bar
                return action()
        except duckdb.Error as exc:
            if self.error is not None:
                raise self.error from exc
            raise
        finally:
            self.stopped.set()
            self.read_cursor.close()

    def _batches(self, source: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
        """Three overlapping steps: a reader thread pulls DuckDB batches, a mapper
        thread runs the models, and DuckDB consumes mapped batches from here."""
        read: queue.Queue[Any] = queue.Queue(maxsize=2)
        mapped: queue.Queue[Any] = queue.Queue(maxsize=2)

        def reader() -> None:
            try:
                for batch in source:
                    if not self._put(read, batch):
                        return
                self._put(read, _END)
            except BaseException as exc:  # handed on to the consumer
                self._put(read, self._read_error(exc))

        def mapper() -> None:
            while True:
                item = read.get()
                if item is _END or isinstance(item, BaseException):
                    self._put(mapped, item)
                    return
                try:
                    result = (self._map_batch(item), item.num_rows)
                except BaseException as exc:
                    self._put(mapped, exc)
                    return
                if not self._put(mapped, result):
                    return

        threading.Thread(target=reader, daemon=True, name="predsql-reader").start()
        threading.Thread(target=mapper, daemon=True, name="predsql-mapper").start()
        try:
            while True:
                item = mapped.get()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    self.error = item
                    raise item
                batch, rows = item
                if self.bar is not None:
                    self.bar.advance(rows)
                yield batch
        finally:
            self.stopped.set()

    def _put(self, target: queue.Queue[Any], item: Any) -> bool:
        """Put unless the consumer has stopped; False when it has."""
        while not self.stopped.is_set():
            try:
                target.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _map_batch(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        columns = [batch.column(name) for name in self.stage.passthrough]
        columns += [self._call(call, batch) for call in self.stage.calls]
        names = list(self.stage.passthrough) + [c.result_column for c in self.stage.calls]
        return pa.RecordBatch.from_arrays(columns, names=names)

    def _call(self, call: StageCall, batch: pa.RecordBatch) -> pa.Array:
        fn = call.fn
        arrays = [batch.column(name) for name in call.arg_columns]
        rows = batch.num_rows
        valid = None
        if any(a.null_count for a in arrays):
            valid = np.logical_and.reduce([_to_numpy(a.is_valid()) for a in arrays])
        stats = self.stats[fn.name]
        nulls = 0 if valid is None else int(rows - valid.sum())
        if nulls and fn.on_null == "error":
            bad = [i + 1 for i, a in enumerate(arrays) if a.null_count]
            raise InferenceError(
                f"{self.node.name!r}: {fn.name}() got NULL in argument {bad[0]} "
                f"({nulls} rows in this batch) and has on_null: error",
                path=self.node.node.rel_path,
                hint=f"filter the NULLs out, coalesce them, or set on_null: null in {fn.yml_path}",
            )
        scored = rows - nulls
        if scored == 0:
            with stats.lock:
                stats.rows_null += nulls
            empty = np.zeros((0, fn.output.width) if fn.output.width else (0,))
            return to_arrow(empty, np.zeros(rows, dtype=bool), rows, fn.output)
        runtime = self.runtimes.get(fn.name)
        if valid is not None:
            arrays = [a.filter(pa.array(valid)) for a in arrays]
        unique = self._distinct(call, arrays, scored)
        if unique is not None:
            first, inverse = unique
            arrays = [a.take(pa.array(first)) for a in arrays]
        feeds = build_feeds(fn, arrays)
        started = time.perf_counter()
        info: dict[str, int] = {}
        if hasattr(runtime, "predict_with_info"):  # text functions also count truncations
            result, info = runtime.predict_with_info(feeds)
        else:
            result = runtime.predict(feeds)
        elapsed = time.perf_counter() - started
        sent = len(result)
        if unique is not None:
            result = result[inverse]
        nan = int(np.isnan(result).sum()) if result.dtype.kind == "f" else 0
        with stats.lock:
            stats.rows_inferred += sent
            stats.distinct_tuples += sent if unique is not None else scored
            stats.rows_null += nulls
            stats.batches += math.ceil(sent / runtime.batch_size)
            stats.seconds += elapsed
            stats.nan_outputs += nan
            stats.truncated_rows += info.get("truncated_rows", 0)
        return to_arrow(result, valid, rows, fn.output)

    def _distinct(self, call: StageCall, arrays: list[pa.Array],
                  rows: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Deduplicate argument tuples when the first batch shows they repeat a lot
        (e.g. categorical inputs); with mostly distinct tuples it is pure overhead."""
        decision = self._dedupe.get(call.result_column)
        if decision is False:
            return None
        unique = distinct_rows(arrays)
        if decision is None:
            decision = unique is not None and len(unique[0]) <= DEDUPE_RATIO * rows
            self._dedupe[call.result_column] = decision
        return unique if decision else None

    def _read_error(self, exc: BaseException) -> BaseException:
        if not isinstance(exc, duckdb.ConversionException):
            return exc
        detail = self._find_bad_argument()
        return InferenceError(
            f"{self.node.name!r}: a value passed to {self._names()} cannot be cast to the "
            f"model's input type{detail}: {str(exc).splitlines()[0]}",
            path=self.node.node.rel_path,
            hint="clean or filter the column, or cast it yourself (TRY_CAST gives NULL)",
        )

    def _find_bad_argument(self) -> str:
        cursor = self.read_cursor.cursor()
        try:
            for call in self.stage.calls:
                for position, (column, target) in enumerate(
                        zip(call.arg_columns, call.fn.arg_types())):
                    row = cursor.execute(
                        f'SELECT count(*), any_value("{column}"::VARCHAR) FROM ({self.stage.probe_sql}) '
                        f'WHERE "{column}" IS NOT NULL AND TRY_CAST("{column}" AS {target}) IS NULL'
                    ).fetchall()[0]
                    if row and row[0]:
                        return (f" (argument {position + 1} of {call.fn.name}(): {row[0]} rows, "
                                f"e.g. {row[1]!r}, are not {target})")
        except duckdb.Error:
            return ""
        finally:
            cursor.close()
        return ""

