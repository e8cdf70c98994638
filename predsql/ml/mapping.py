"""The map of a stage: DuckDB batches in, ML output columns appended, Arrow out.

A producer thread reads the stage's input query as Arrow record batches while
the consumer (DuckDB, pulling from the returned RecordBatchReader) gets mapped
batches; onnxruntime and DuckDB both release the GIL, so reading overlaps
inference. No per-row Python: columns go Arrow -> numpy -> onnxruntime -> Arrow.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import duckdb
import numpy as np
import pyarrow as pa

from predsql.compiler import CompiledNode
from predsql.errors import ExecutionError, InferenceError
from predsql.ml.arrays import from_numpy, result_arrow_type, valid_mask, valid_rows
from predsql.ml.plan import Stage, StageCall
from predsql.ml.spool import TupleSpool

READ_BATCH = 131072
THREAD_JOIN = 30.0  # seconds a finished stage waits for a batch in flight in its threads
_END = object()
NewTuples = Callable[[], pa.RecordBatchReader]  # opens the spooled new tuples
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
    handle: Any = field(default=None, repr=False)  # the executor's handle: its stats() at the end
    per_actor: dict[str, list[Any]] = field(default_factory=dict)  # label: [rows, s, pids]
    retried_batches: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, mapped: Any, pending: Any) -> None:
        with self.lock:
            self.rows_inferred += mapped.rows_inferred
            self.distinct_tuples += mapped.distinct_tuples
            self.rows_null += mapped.rows_null
            self.batches += mapped.batches
            self.seconds += mapped.seconds
            self.nan_outputs += mapped.nan_outputs
            self.truncated_rows += mapped.truncated_rows
            actor = getattr(pending, "actor", "")
            if actor:
                entry = self.per_actor.setdefault(actor, [0, 0.0, set()])
                entry[0] += mapped.rows_inferred
                entry[1] += mapped.seconds
                entry[2].add(pending.pid)
                self.retried_batches += pending.attempts

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
            **(self.handle.stats() if self.handle is not None else {"executor": "local"}),
            **self._actors(),
        }

    def _actors(self) -> dict[str, Any]:
        if not self.per_actor:
            return {}
        return {
            "per_actor": {label: {"rows": rows, "inference_seconds": round(seconds, 4),
                                  "rows_per_second": rows / seconds if seconds else 0.0}
                          for label, (rows, seconds, _) in sorted(self.per_actor.items())},
            "actor_restarts": sum(len(pids) - 1 for _, _, pids in self.per_actor.values()),
            "retried_batches": self.retried_batches,
        }


class StageStream:
    """Streams one stage: DuckDB input -> ML map -> Arrow reader for DuckDB."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection, stage: Stage, runtimes: Any,
                 stats: dict[str, FunctionStats], console: Any, node: CompiledNode,
                 store: Callable[[duckdb.DuckDBPyConnection, StageCall, NewTuples],
                                 None] | None = None) -> None:
        """`store` fills a cached call's prediction cache with the tuples the stage
        inferred, once the statement consuming the stage is done (ml/cache.py); it is
        given a function that opens a reader of them (once per statement reading them)."""
        self.stage = stage
        self.runtimes = runtimes
        self.stats = stats
        self.console = console
        self.node = node
        self.error: BaseException | None = None
        self.stopped = threading.Event()
        self.read_cursor = cursor.cursor()
        self.bar: Any = None
        self.threads: list[threading.Thread] = []
        self._dedupe: dict[str, bool | None] = {}
        self.total: int | None = None
        if console is not None and console.shows_progress:
            self.total = self._count_rows()
        self.store = store
        self.spools = {c.result_column: TupleSpool() for c in stage.calls if c.cached}
        # a cached call's local session is created only when some tuple misses the cache
        handles = [self._handle(call) for call in stage.calls if not self._lazy(call)]
        # batches a stage keeps submitted (0: mapped at submission), rows per batch
        self.window = max((h.window for h in handles), default=0)
        self.read_batch = min((h.read_batch for h in handles if h.read_batch), default=READ_BATCH)
        try:
            self.relation = self.read_cursor.sql(stage.input_sql)
        except duckdb.Error as exc:
            raise ExecutionError(f"{node.name!r}: cannot read the inputs of "
                                 f"{self._names()}: {exc}", path=node.node.rel_path) from exc

    def _count_rows(self) -> int | None:
        """The rows the stage will read, for progress; None if DuckDB cannot count them
        without doing the work (a bad value is reported by the stream itself). Counted
        on the probe query (the same rows, uncast): input_sql may hold the prediction
        cache's lookup join (ml/cache.py), which adds no rows but costs a join."""
        try:
            row = self.read_cursor.execute(
                f"SELECT count(*) FROM ({self.stage.probe_sql})").fetchall()[0]
        except duckdb.Error:
            return None
        return int(row[0]) if row else None

    def _names(self) -> str:
        return ", ".join(f"{c.fn.name}()" for c in self.stage.calls)

    def _lazy(self, call: StageCall) -> bool:
        choice = getattr(self.runtimes, "choice", None)
        return call.cached is not None and (choice is None or
                                            choice(call.fn.name).kind == "local")

    def _handle(self, call: StageCall) -> Any:
        handle = self.runtimes.get(call.fn.name)
        record = self.stats.setdefault(call.fn.name, function_stats(call.fn, handle))
        if record.handle is None:  # made while only the cache served (no session until now)
            with record.lock:
                record.handle, record.provider = handle, handle.provider
        return handle

    def reader(self) -> pa.RecordBatchReader:
        try:
            source = self.relation.to_arrow_reader(self.read_batch)
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
                result = action()
            self._store_new_tuples()
            return result
        except duckdb.Error as exc:
            if self.error is not None:
                raise self.error from exc
            raise
        finally:
            self.close()

    def close(self) -> None:
        """Stop the reader and mapper threads, then close the read cursor. Closing it
        while the reader thread still fetched from it raced (DuckDB: "connection is busy
        with another call", about 1 in 60 interrupted runs), so the reader's query is
        interrupted and both threads are joined first; none may hold DuckDB objects
        once the stage ends."""
        self.stopped.set()
        if any(t.is_alive() for t in self.threads):
            try:
                self.read_cursor.interrupt()
            except duckdb.Error:
                pass
        for thread in self.threads:
            thread.join(timeout=THREAD_JOIN)
        self.relation = None  # a failed stage lives on in its error's traceback
        for spool in self.spools.values():
            spool.close()
        if any(t.is_alive() for t in self.threads):
            return  # still inside onnxruntime or DuckDB: the cursor goes with the threads
        self.read_cursor.close()

    def _store_new_tuples(self) -> None:
        for call in self.stage.calls:
            spool = self.spools.get(call.result_column)
            if spool is not None and spool.rows and self.store is not None:
                self.store(self.read_cursor, call, spool.reader)

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
            """Submit each batch to the executors; take results back in order, keeping
            at most `window` batches submitted (the first one is taken at once: it
            decides per-batch deduplication)."""
            pending: deque[tuple[pa.RecordBatch, list[Any]]] = deque()
            try:
                while True:
                    item = self._get(read)
                    if item is None:  # the consumer stopped
                        return
                    if isinstance(item, BaseException):
                        raise item
                    if item is not _END:
                        pending.append((item, self._submit(item)))
                    while pending and (item is _END or len(pending) > self.window
                                       or len(self._dedupe) < len(self.stage.calls)):
                        if not self._put(mapped, self._collect(*pending.popleft())):
                            return
                    if item is _END:
                        self._put(mapped, _END)
                        return
            except BaseException as exc:  # handed on to the consumer
                self._put(mapped, exc)

        self.threads = [threading.Thread(target=reader, daemon=True, name="predsql-reader"),
                        threading.Thread(target=mapper, daemon=True, name="predsql-mapper")]
        for thread in self.threads:
            thread.start()
        try:
            while True:
                item = self._get(mapped)
                if item is None:  # stopped under a consumer still reading: never truncate
                    raise ExecutionError(f"{self.node.name!r}: the stream of {self._names()} "
                                         "stopped early", path=self.node.node.rel_path)
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
            source = None  # noqa: F841  (frames in a traceback would keep DuckDB open)

    def _get(self, source: queue.Queue[Any]) -> Any:
        """The next item, or None once the stream has stopped."""
        while not self.stopped.is_set():
            try:
                return source.get(timeout=0.1)
            except queue.Empty:
                continue
        return None

    def _put(self, target: queue.Queue[Any], item: Any) -> bool:
        """Put unless the consumer has stopped; False when it has."""
        while not self.stopped.is_set():
            try:
                target.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _submit(self, batch: pa.RecordBatch) -> list[Any]:
        return [self._submit_call(call, batch) for call in self.stage.calls]

    def _collect(self, batch: pa.RecordBatch, pending: list[Any]) -> tuple[pa.RecordBatch, int]:
        columns = [batch.column(name) for name in self.stage.passthrough]
        for call, submitted in zip(self.stage.calls, pending):
            if call.cached:
                columns.append(self._merge_cached(call, batch, submitted))
                continue
            mapped = submitted.result()
            self._dedupe[call.result_column] = mapped.deduplicated
            self.stats[call.fn.name].add(mapped, submitted)
            columns.append(mapped.column)
        names = list(self.stage.passthrough) + [c.result_column for c in self.stage.calls]
        return pa.RecordBatch.from_arrays(columns, names=names), batch.num_rows

    def _submit_call(self, call: StageCall, batch: pa.RecordBatch) -> Any:
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
        if call.cached:
            return self._submit_cached(call, batch, arrays)
        handle = self.runtimes.get(fn.name)
        return handle.submit(arrays, self._dedupe.get(call.result_column))

    def _submit_cached(self, call: StageCall, batch: pa.RecordBatch, arrays: list[pa.Array]
                       ) -> tuple[Any, Any, list[pa.Array]]:
        """Send only the rows whose result is not in the cache: (pending, miss mask or
        None when every row misses, the arrays sent); no pending when none misses."""
        cached = batch.column(call.cached)
        if cached.null_count == 0:
            return None, None, []
        miss = None
        if cached.null_count < len(cached):
            miss = ~valid_mask(cached)
            keep = from_numpy(miss, pa.bool_())
            arrays = [a.filter(keep) for a in arrays]
        handle = self._handle(call)
        return handle.submit(arrays, self._dedupe.get(call.result_column)), miss, arrays

    def _merge_cached(self, call: StageCall, batch: pa.RecordBatch,
                      submitted: tuple[Any, Any, list[pa.Array]]) -> pa.Array:
        """The call's column: cached results, and the inferred ones where the cache missed;
        the inferred tuples (those without a NULL argument) go to the spool."""
        pending, miss, arrays = submitted
        target = result_arrow_type(call.fn)
        cached = batch.column(call.cached).cast(target)
        record = self.stats[call.fn.name]
        if pending is None:
            with record.lock:
                record.rows_from_cache += len(cached)
            return cached
        mapped = pending.result()
        self._dedupe[call.result_column] = mapped.deduplicated
        record.add(mapped, pending)
        inferred = mapped.column
        with record.lock:
            record.rows_from_cache += len(cached) - len(inferred)
        known = [valid_mask(a) for a in arrays if a.null_count]
        if known:
            store = from_numpy(np.logical_and.reduce(known), pa.bool_())
            self.spools[call.result_column].write([a.filter(store) for a in arrays],
                                                  inferred.filter(store))
        else:
            self.spools[call.result_column].write(arrays, inferred)
        if miss is None:
            return inferred
        # row i: its cached result, or the next inferred one (cached first, then inferred)
        order = np.arange(len(cached), dtype=np.int64)
        order[miss] = len(cached) + np.arange(len(inferred), dtype=np.int64)
        return pa.concat_arrays([cached, inferred]).take(from_numpy(order, pa.int64()))

    def _read_error(self, exc: BaseException) -> BaseException:
        if not is_conversion_error(exc):
            return exc
        return cast_error(self.read_cursor, self.node, self.stage, exc)


def is_conversion_error(exc: BaseException) -> bool:
    """A value DuckDB could not cast: raised as such by a query, or wrapped by
    Arrow (OSError) when found mid-stream by the batch reader."""
    if isinstance(exc, duckdb.ConversionException):
        return True
    return isinstance(exc, (OSError, pa.ArrowException)) and "Conversion Error" in str(exc)


def cast_error(cursor: duckdb.DuckDBPyConnection, node: CompiledNode, stage: Stage,
               exc: BaseException) -> InferenceError:
    """One message for a value that cannot be cast to a model's input type, whether
    the first batch or the millionth meets it: the argument, the function, how
    many rows, an example value, and what to do."""
    found = bad_argument(cursor, stage)
    names = ", ".join(f"{c.fn.name}()" for c in stage.calls)
    if found is None:
        reason = str(exc).splitlines()[0].removeprefix("Conversion Error: ")
        message = (f"{node.name!r}: a value passed to {names} cannot be cast to the model's "
                   f"input type: {reason}")
    else:
        position, call, target, count, example = found
        message = (f"{node.name!r}: argument {position} of {call.fn.name}() cannot be cast to "
                   f"{target}: {count:,} row{'s' if count != 1 else ''}, e.g. {example!r}")
    return InferenceError(message, path=node.node.rel_path, line=_call_line(node, stage),
                          hint="clean or filter the column, or cast it yourself "
                          "(TRY_CAST gives NULL, which is not scored)")


def _call_line(node: CompiledNode, stage: Stage) -> int | None:
    names = {c.fn.name for c in stage.calls}
    return next((c["line"] for c in node.extra.get("ml_calls", []) if c["function"] in names),
                None)


def bad_argument(cursor: duckdb.DuckDBPyConnection,
                 stage: Stage) -> tuple[int, StageCall, str, int, str] | None:
    """(argument number, call, target type, rows, an example) of the first argument
    holding values that do not cast, found with DuckDB's TRY_CAST."""
    probe = cursor.cursor()
    try:
        for call in stage.calls:
            for position, (column, target) in enumerate(
                    zip(call.arg_columns, call.fn.arg_types()), start=1):
                count, example = probe.execute(
                    f'SELECT count(*), any_value("{column}"::VARCHAR) FROM ({stage.probe_sql}) '
                    f'WHERE "{column}" IS NOT NULL AND TRY_CAST("{column}" AS {target}) IS NULL'
                ).fetchall()[0]
                if count:
                    return position, call, target, int(count), example
    except duckdb.Error:
        return None
    finally:
        probe.close()
    return None


ALL_FROM_CACHE = "none (all from cache)"


def function_stats(fn: Any, handle: Any) -> FunctionStats:
    return FunctionStats(fn.name, fn.fingerprint, handle.provider, handle=handle)
