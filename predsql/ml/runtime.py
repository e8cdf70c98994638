"""onnxruntime sessions and the batch boundary every executor uses.

The boundary: `FunctionRuntime.map_batch(arrays)` takes the Arrow argument
arrays of one batch (one per SQL argument, in call order, already cast to the
input types) and returns a `MappedBatch`: the call's result column as one
Arrow array (a STRUCT for functions with `outputs:`), plus counters. All of a
function's outputs come from one `session.run`. `BatchMapper` wraps it in a
picklable object (an `MlFunction` and a device), so an executor can run the
same code in another process or on another machine: the session is created
where the mapper runs, on first use.

On CPU the fastest setting measured here is one session with one intra-op
thread shared by one Python worker per core, each running sub-batches of a few
thousand rows (onnxruntime releases the GIL). On CUDA one worker runs large
batches.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnxruntime as ort
import pyarrow as pa

from predsql.errors import DeviceError, ExecutionError
from predsql.ml import load_errors
from predsql.ml.arrays import (
    Feed,
    StackedColumns,
    build_feeds,
    count_nan,
    distinct_rows,
    empty_results,
    from_numpy,
    result_array,
    valid_rows,
)
from predsql.ml.devices import auto_fallback_note, probe_cuda
from predsql.ml.model_info import session_options
from predsql.ml.ort_errors import inference_failure
from predsql.ml.specs import MlFunction

CPU_BATCH = 2048
CUDA_BATCH = 65536
DEDUPE_RATIO = 0.5  # deduplicate when distinct tuples are at most this share of the rows
TASKS_PER_WORKER = 4

__all__ = ["BatchMapper", "FunctionRuntime", "MappedBatch", "RuntimePool", "StackedColumns",
           "create_runtime", "map_batch"]


def available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _options(fn: MlFunction, threads: int) -> ort.SessionOptions:
    options = session_options(threads, fn.custom_ops,
                              fn.model_path.parent if fn.external_data else None)
    options.log_severity_level = 4  # predsql reports onnxruntime's errors itself
    return options


def _cuda_session(fn: MlFunction, model_bytes: bytes | None = None) -> ort.InferenceSession | None:
    """A CUDA session, or None when onnxruntime cannot create one here (devices.py
    probes once and keeps onnxruntime's reason)."""
    if not probe_cuda().usable:
        return None
    if model_bytes is None:
        model_bytes = fn.load_model_bytes()
    session = ort.InferenceSession(model_bytes, _options(fn, 1),
                                   providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
    return session if session.get_providers()[0] == "CUDAExecutionProvider" else None


def _cpu_session(fn: MlFunction, model_bytes: bytes) -> ort.InferenceSession:
    try:
        return ort.InferenceSession(model_bytes, _options(fn, 1),
                                    providers=["CPUExecutionProvider"])
    except Exception as exc:  # the machine that runs lacks what the model needs
        import onnx

        try:
            model = onnx.load_from_string(model_bytes)
        except Exception:
            model = None
        message, hint = load_errors.explain(exc, model, fn.model_path.name)
        raise ExecutionError(f"function {fn.name!r}: {message}", path=fn.yml_path,
                             hint=hint) from exc


@dataclass(frozen=True)
class MappedBatch:
    """What `map_batch` returns: the result column and what it cost."""

    column: pa.Array  # one value per input row; NULL where an argument was NULL
    rows_inferred: int  # rows sent to the model (after deduplication)
    rows_null: int
    distinct_tuples: int
    batches: int  # onnxruntime calls
    seconds: float  # time in onnxruntime
    nan_outputs: int
    deduplicated: bool | None  # the dedupe decision for the next batches (None: undecided)
    truncated_rows: int = 0  # text functions: texts cut to max_length


@dataclass
class FunctionRuntime:
    fn: MlFunction
    session: ort.InferenceSession
    provider: str
    batch_size: int
    workers: int
    pool: ThreadPoolExecutor | None
    run_options: ort.RunOptions = field(default_factory=ort.RunOptions)
    # I/O binding (CUDA): outputs stay on the device until one copy back per call
    io_binding: bool = False

    def predict(self, feeds: list[Feed]) -> list[np.ndarray]:
        """Run the model on `feeds` (one per ONNX input, same row count); one array per
        declared output, all from the same onnxruntime calls."""
        n = len(feeds[0])
        if n == 0:
            raise ValueError("predict() needs at least one row")
        starts = list(range(0, n, self.batch_size))

        def run_all(group: list[int]) -> list[list[np.ndarray]]:
            return [self._run(feeds, s, min(s + self.batch_size, n)) for s in group]

        if self.pool is None or len(starts) == 1:
            parts = run_all(starts)
        else:
            # a few tasks per worker (not one per sub-batch): balanced, and an
            # interrupt is not held up by thousands of queued tiny tasks
            size = -(-len(starts) // (self.workers * TASKS_PER_WORKER))
            groups = [starts[i:i + size] for i in range(0, len(starts), size)]
            parts = [part for done in self.pool.map(run_all, groups) for part in done]
        if len(parts) == 1:
            return parts[0]
        return [np.concatenate([p[i] for p in parts], axis=0) for i in range(len(parts[0]))]

    def _run(self, feeds: list[Feed], start: int, stop: int) -> list[np.ndarray]:
        if self.run_options.terminate:  # interrupted: skip the sub-batches still queued
            raise ExecutionError(f"{self.fn.name}: inference stopped (interrupted)",
                                 path=self.fn.yml_path)
        inputs = {
            spec.name: feed.rows(start, stop) if isinstance(feed, StackedColumns)
            else feed[start:stop]
            for spec, feed in zip(self.fn.inputs, feeds)
        }
        rows = stop - start
        fixed = self.fn.fixed_batch
        if fixed is not None and rows < fixed:  # pad the last call to the model's batch size
            inputs = {k: np.concatenate([v, np.repeat(v[-1:], fixed - rows, axis=0)])
                      for k, v in inputs.items()}
        fetches = self.fn.fetches
        try:
            if self.io_binding:
                raw = self._run_bound(inputs, fetches)
            else:
                raw = self.session.run(list(fetches), inputs, self.run_options)
        except Exception as exc:  # onnxruntime's own errors: explained, never raw
            if self.run_options.terminate:
                raise ExecutionError(f"{self.fn.name}: inference stopped (interrupted)",
                                     path=self.fn.yml_path) from exc
            raise inference_failure(self.fn, exc, len(next(iter(inputs.values()))),
                                    self.provider) from exc
        tensors = {name: np.asarray(value) for name, value in zip(fetches, raw)}
        return [self._select(tensors[out.tensor], out, rows) for out in self.fn.outputs]

    def _run_bound(self, inputs: dict[str, np.ndarray], fetches: Any) -> list[np.ndarray]:
        binding = self.session.io_binding()
        for name, value in inputs.items():
            binding.bind_cpu_input(name, np.ascontiguousarray(value))
        device = "cuda" if self.provider == "CUDAExecutionProvider" else "cpu"
        for name in fetches:
            binding.bind_output(name, device)
        self.session.run_with_iobinding(binding, self.run_options)
        return binding.copy_outputs_to_cpu()

    @staticmethod
    def _select(raw: np.ndarray, out: Any, rows: int) -> np.ndarray:
        if len(raw) != rows:
            raw = raw[:rows]
        if out.index is not None:
            return raw.reshape(rows, -1)[:, out.index]
        if out.width is None:
            return raw.reshape(rows)
        return raw.reshape(rows, out.width)

    def map_batch(self, arrays: list[pa.Array], dedupe: bool | None = False) -> MappedBatch:
        return map_batch(self, arrays, dedupe)

    def terminate(self) -> None:
        """Make running and later onnxruntime calls of this function fail at once."""
        self.run_options.terminate = True

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)


def _predict(runtime: Any, feeds: list[Feed]) -> tuple[list[np.ndarray], int]:
    """Every output of one inference pass, and the texts truncated (text functions)."""
    if hasattr(runtime, "predict_with_info"):  # a text runtime: one output, and truncations
        result, info = runtime.predict_with_info(feeds)
        return [result], int(info.get("truncated_rows", 0))
    return runtime.predict(feeds), 0


def map_batch(runtime: Any, arrays: list[pa.Array], dedupe: bool | None = False) -> MappedBatch:
    """The batch boundary: Arrow argument arrays in, the result column out, on any runtime
    (`FunctionRuntime`, or a text function's runtime).

    `dedupe`: True sends each distinct argument tuple once; None decides from this
    batch (the decision is returned in `deduplicated`); False never deduplicates."""
    fn = runtime.fn
    rows = len(arrays[0])
    if fn.on_null == "nan":
        import pyarrow.compute as pc

        arrays = [pc.fill_null(a, float("nan")) if a.null_count and fn.nan_for_null(t) else a
                  for a, t in zip(arrays, fn.arg_types())]
    valid, _ = valid_rows(fn, arrays)
    nulls = 0 if valid is None else int(rows - valid.sum())
    if rows - nulls == 0:
        column = result_array(fn, empty_results(fn), np.zeros(rows, dtype=bool), rows)
        return MappedBatch(column, 0, nulls, 0, 0, 0.0, 0, dedupe)
    if valid is not None:
        mask = from_numpy(valid, pa.bool_())
        arrays = [a.filter(mask) for a in arrays]
    unique = None
    if dedupe is not False:
        limit = DEDUPE_RATIO * (rows - nulls) if dedupe is None else None
        unique = distinct_rows(arrays, limit)
        if dedupe is None:
            dedupe = unique is not None and len(unique[0]) <= DEDUPE_RATIO * (rows - nulls)
        unique = unique if dedupe else None
    if unique is not None:
        taken = from_numpy(unique[0].astype(np.int64, copy=False), pa.int64())
        arrays = [a.take(taken) for a in arrays]
    started = time.perf_counter()
    results, truncated = _predict(runtime, build_feeds(fn, arrays))
    seconds = time.perf_counter() - started
    sent = len(results[0])
    if unique is not None:
        results = [r[unique[1]] for r in results]
    return MappedBatch(
        column=result_array(fn, results, valid, rows),
        rows_inferred=sent, rows_null=nulls,
        distinct_tuples=sent if unique is not None else rows - nulls,
        batches=-(-sent // runtime.batch_size), seconds=seconds,
        nan_outputs=count_nan(fn, results), deduplicated=bool(dedupe),
        truncated_rows=truncated)


def create_runtime(fn: MlFunction, device_override: str | None = None,
                   model_bytes: bytes | None = None) -> FunctionRuntime:
    """A runtime for `fn` in this process. `model_bytes` (from `fn.load_model_bytes()`)
    lets a remote worker run a model whose file it cannot read."""
    data = model_bytes if model_bytes is not None else fn.load_model_bytes()
    device = device_override or fn.device
    batch = fn.fixed_batch
    if device in ("cuda", "auto"):
        session = _cuda_session(fn, data)
        if session is not None:
            if fn.text is not None:
                return _text(fn, session, "CUDAExecutionProvider", 1)
            numeric = all(out.elem != "string" for out in fn.outputs)
            return FunctionRuntime(fn, session, "CUDAExecutionProvider",
                                   batch or fn.batch_size or CUDA_BATCH, 1, None,
                                   io_binding=numeric)
        if device == "cuda":
            raise cuda_unusable(fn, device_override == "cuda")
    workers = int(fn.threads or available_cores())
    session = _cpu_session(fn, data)
    if fn.text is not None:
        return _text(fn, session, "CPUExecutionProvider", workers)
    pool = ThreadPoolExecutor(workers, thread_name_prefix=f"ort-{fn.name}") if workers > 1 else None
    return FunctionRuntime(fn, session, "CPUExecutionProvider", batch or fn.batch_size or CPU_BATCH,
                           workers, pool)


def cuda_unusable(fn: MlFunction | None, from_flag: bool) -> DeviceError:
    """`device: cuda` (or `--device cuda`) where CUDA cannot be used: blame what asked,
    and give onnxruntime's own reason."""
    reason = probe_cuda().reason
    hint = ("install the GPU runtime (`pip install 'predsql[cuda]'`) on a machine with an "
            "NVIDIA GPU and check `predsql debug`")
    if from_flag or fn is None:
        return DeviceError(
            f"--device cuda was given, but onnxruntime cannot use CUDA here: {reason}",
            hint=f"{hint}, or leave out --device (device: auto uses CUDA when it can)")
    return DeviceError(
        f"function {fn.name!r} asks for device: cuda, but onnxruntime cannot use CUDA here: "
        f"{reason}", path=fn.yml_path, hint=f"{hint}, or set device: auto or cpu")


def _text(fn: MlFunction, session: ort.InferenceSession, provider: str, workers: int) -> Any:
    """A text function's runtime (predsql/text): same surface, tokenizes and pools."""
    from predsql.text.runtime import text_runtime

    return text_runtime(fn, session, provider, workers)


class BatchMapper:
    """A picklable `map_batch`: ship it to another process (e.g. a Ray actor) with the
    function; the onnxruntime session is created there on the first batch."""

    def __init__(self, fn: MlFunction, device: str | None = None,
                 model_bytes: bytes | None = None) -> None:
        self.fn = fn
        self.device = device
        self.model_bytes = model_bytes
        self._runtime: FunctionRuntime | None = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {"fn": self.fn, "device": self.device, "model_bytes": self.model_bytes}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["fn"], state["device"], state["model_bytes"])  # type: ignore[misc]

    @property
    def runtime(self) -> FunctionRuntime:
        with self._lock:
            if self._runtime is None:
                self._runtime = create_runtime(self.fn, self.device, self.model_bytes)
            return self._runtime

    def __call__(self, arrays: list[pa.Array], dedupe: bool | None = False) -> MappedBatch:
        return map_batch(self.runtime, arrays, dedupe)

    def close(self) -> None:
        if self._runtime is not None:
            self._runtime.close()


class RuntimePool:
    """One runtime per function per run, created on first use, shared by threads."""

    def __init__(self, registry: Any, device: str | None = None, console: Any = None) -> None:
        self.registry = registry
        self.device = device
        self.console = console
        self._runtimes: dict[str, FunctionRuntime] = {}
        self._lock = threading.Lock()
        self._fallback_noted = False
        self._cache_locks: dict[str, threading.Lock] = {}

    def cache_lock(self, name: str) -> threading.Lock:
        """Held while one model fills the function's prediction cache, so two models
        running at once never both insert the same tuples."""
        with self._lock:
            return self._cache_locks.setdefault(name, threading.Lock())

    def get(self, name: str) -> FunctionRuntime:
        with self._lock:
            if name not in self._runtimes:
                fn = self.registry.functions[name]
                runtime = create_runtime(fn, self.device)
                self._runtimes[name] = runtime
                if (self.device or fn.device) == "auto" and not runtime.provider.startswith(
                        "CUDA"):
                    self._note_fallback()
            return self._runtimes[name]

    def _note_fallback(self) -> None:
        """Say once per run why `device: auto` runs on the CPU."""
        if self._fallback_noted or self.console is None:
            return
        self._fallback_noted = True
        self.console.info(auto_fallback_note(probe_cuda()))

    def terminate(self) -> None:
        with self._lock:
            runtimes = list(self._runtimes.values())
        for runtime in runtimes:
            runtime.terminate()

    def close(self) -> None:
        for runtime in self._runtimes.values():
            runtime.close()
