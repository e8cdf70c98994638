"""The map of a stage: DuckDB batches in, ML output columns appended, Arrow out.

A producer thread reads the stage's input query as Arrow record batches while
the consumer (DuckDB, pulling from the returned RecordBatchReader) gets mapped
batches; onnxruntime and DuckDB both release the GIL, so reading overlaps
inference. No per-row Python: columns go Arrow -> numpy -> onnxruntime -> Arrow.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import duckdb
import pyarrow as pa

from predsql.compiler import CompiledNode
from predsql.errors import ExecutionError, InferenceError
from predsql.ml.arrays import result_arrow_type, valid_rows
from predsql.ml.plan import Stage, StageCall
from predsql.ml.runtime import RuntimePool, map_batch

READ_BATCH = 131072
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
        self._dedupe: dict[str, bool | None] = {}
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
        fields += [pa.field(c.result_column, result_arrow_type(c.fn)) for c in self.stage.calls]
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
        if fn.on_null == "error":
            valid, bad = valid_rows(fn, arrays)
            if valid is not None:
                raise InferenceError(
                    f"{self.node.name!r}: {fn.name}() got NULL in argument {bad[0]} "
                    f"({int(len(valid) - valid.sum())} rows in this batch) and has on_null: error",
                    path=self.node.node.rel_path,
                    hint=f"filter the NULLs out, coalesce them, or set on_null: null in "
                    f"{fn.yml_path}",
                )
        mapped = map_batch(self.runtimes.get(fn.name), arrays, self._dedupe.get(call.result_column))
        self._dedupe[call.result_column] = mapped.deduplicated
        stats = self.stats[fn.name]
        with stats.lock:
            stats.rows_inferred += mapped.rows_inferred
            stats.distinct_tuples += mapped.distinct_tuples
            stats.rows_null += mapped.rows_null
            stats.batches += mapped.batches
            stats.seconds += mapped.seconds
            stats.nan_outputs += mapped.nan_outputs
            stats.truncated_rows += mapped.truncated_rows
        return mapped.column

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

