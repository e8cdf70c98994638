"""onnxruntime sessions: device choice, one session per function per run, sub-batching.

On CPU the fastest setting measured here is one session with one intra-op
thread shared by one Python worker per core, each running sub-batches of a few
thousand rows (onnxruntime releases the GIL). On CUDA one worker runs large
batches.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnxruntime as ort

from predsql.errors import ExecutionError
from predsql.ml.registry import MlFunction, Registry

CPU_BATCH = 2048
CUDA_BATCH = 65536


def available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _session_options(threads: int) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return options


_CUDA_LOCK = threading.Lock()
_cuda_usable: bool | None = None


def _cuda_session(fn: MlFunction) -> ort.InferenceSession | None:
    """A CUDA session, or None when onnxruntime cannot create one here."""
    global _cuda_usable
    if "CUDAExecutionProvider" not in ort.get_available_providers() or _cuda_usable is False:
        return None
    with _CUDA_LOCK:
        ort.set_default_logger_severity(4)  # a failed CUDA probe would print library errors
        try:
            session = ort.InferenceSession(
                fn.model_bytes, _session_options(1),
                providers=["CUDAExecutionProvider", "CPUExecutionProvider"],
            )
        except Exception:  # the CUDA libraries are missing or no GPU is present
            session = None
        finally:
            ort.set_default_logger_severity(3)
    if session is None or session.get_providers()[0] != "CUDAExecutionProvider":
        _cuda_usable = False
        return None
    _cuda_usable = True
    return session


@dataclass(frozen=True)
class StackedColumns:
    """k columns fed to one [N, k] input; stacked per sub-batch, so the strided
    writes stay in the CPU cache and run on the worker threads."""

    columns: list[np.ndarray]
    dtype: Any
    rank: int

    def __len__(self) -> int:
        return len(self.columns[0])

    def rows(self, start: int, stop: int) -> np.ndarray:
        matrix = np.empty((stop - start, len(self.columns)), dtype=self.dtype)
        for j, column in enumerate(self.columns):
            matrix[:, j] = column[start:stop]
        return matrix if self.rank == 2 else matrix.reshape(-1)


Feed = np.ndarray | StackedColumns


@dataclass
class FunctionRuntime:
    fn: MlFunction
    session: ort.InferenceSession
    provider: str
    batch_size: int
    workers: int
    pool: ThreadPoolExecutor | None
    run_options: ort.RunOptions = field(default_factory=ort.RunOptions)

    def predict(self, feeds: list[Feed]) -> np.ndarray:
        """Run the model on `feeds` (one per ONNX input, same row count)."""
        n = len(feeds[0])
        if n == 0:
            raise ValueError("predict() needs at least one row")
        starts = list(range(0, n, self.batch_size))
        if self.pool is None or len(starts) == 1:
            parts = [self._run(feeds, s, min(s + self.batch_size, n)) for s in starts]
        else:
            parts = list(self.pool.map(
                lambda s: self._run(feeds, s, min(s + self.batch_size, n)), starts))
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)

    def _run(self, feeds: list[Feed], start: int, stop: int) -> np.ndarray:
        inputs = {
            spec.name: feed.rows(start, stop) if isinstance(feed, StackedColumns)
            else feed[start:stop]
            for spec, feed in zip(self.fn.inputs, feeds)
        }
        (raw,) = self.session.run([self.fn.output.tensor], inputs, self.run_options)
        return self._select(np.asarray(raw))

    def _select(self, raw: np.ndarray) -> np.ndarray:
        out = self.fn.output
        if out.index is not None:
            return raw.reshape(len(raw), -1)[:, out.index]
        if out.width is None:
            return raw.reshape(len(raw))
        return raw.reshape(len(raw), out.width)

    def terminate(self) -> None:
        """Make running and later onnxruntime calls of this function fail at once."""
        self.run_options.terminate = True

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False)


def create_runtime(fn: MlFunction, device_override: str | None = None) -> FunctionRuntime:
    device = device_override or fn.device
    if device in ("cuda", "auto"):
        session = _cuda_session(fn)
        if session is not None:
            if fn.text is not None:
                return _text(fn, session, "CUDAExecutionProvider", 1)
            return FunctionRuntime(fn, session, "CUDAExecutionProvider",
                                   fn.batch_size or CUDA_BATCH, 1, None)
        if device == "cuda":
            raise ExecutionError(
                f"function {fn.name!r} asks for device: cuda, but onnxruntime cannot create a "
                f"CUDA session here (available providers: {', '.join(ort.get_available_providers())})",
                path=fn.yml_path,
                hint="install onnxruntime-gpu with the `cuda` extra on a machine with an NVIDIA "
                "GPU, or use device: auto / cpu",
            )
    workers = int(fn.threads or available_cores())
    session = ort.InferenceSession(
        fn.model_bytes, _session_options(1), providers=["CPUExecutionProvider"]
    )
    if fn.text is not None:
        return _text(fn, session, "CPUExecutionProvider", workers)
    pool = ThreadPoolExecutor(workers, thread_name_prefix=f"ort-{fn.name}") if workers > 1 else None
    return FunctionRuntime(fn, session, "CPUExecutionProvider", fn.batch_size or CPU_BATCH,
                           workers, pool)


def _text(fn: MlFunction, session: ort.InferenceSession, provider: str, workers: int) -> Any:
    """A text function's runtime (predsql/text): same surface, tokenizes and pools."""
    from predsql.text.runtime import text_runtime

    return text_runtime(fn, session, provider, workers)


class RuntimePool:
    """One runtime per function per run, created on first use, shared by threads."""

    def __init__(self, registry: Registry, device: str | None = None, console: Any = None) -> None:
        self.registry = registry
        self.device = device
        self.console = console
        self._runtimes: dict[str, FunctionRuntime] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> FunctionRuntime:
        with self._lock:
            if name not in self._runtimes:
                fn = self.registry.functions[name]
                self._runtimes[name] = create_runtime(fn, self.device)
            return self._runtimes[name]

    def terminate(self) -> None:
        with self._lock:
            runtimes = list(self._runtimes.values())
        for runtime in runtimes:
            runtime.terminate()

    def close(self) -> None:
        for runtime in self._runtimes.values():
            runtime.close()
