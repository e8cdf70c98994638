"""The Ray actor that scores batches: one onnxruntime session per function, loaded once.

An actor serves every function of its resource shape (CPUs, GPUs, device) in a
run. It receives each model as the bytes the driver read, validated and
fingerprinted (never a path, so a node with another file cannot score with
another model), checks their digest, and keeps the session. The model comes
with every task as an object reference that the actor reads only when it does
not hold the session yet, so an actor restarted after a crash reloads it by
itself.
"""

from __future__ import annotations

import hashlib
import os
import socket
from dataclasses import replace
from typing import Any

import ray

from predsql.errors import PredsqlError
from predsql.ml.runtime import create_runtime, map_batch

CONTROL = "control"  # ready() runs in its own thread, beside a running map()


class ModelLoadError(RuntimeError):
    """The actor could not create its onnxruntime session."""


def actor_device(device: str, gpus: float) -> str:
    """The device an actor uses: CUDA when it was given a GPU, never a silent CPU fallback."""
    if gpus > 0:
        return "cpu" if device == "cpu" else "cuda"
    return "cpu"


class MapActor:
    def __init__(self, device: str, threads: int) -> None:
        self.device = device
        self.threads = threads
        self.pid = os.getpid()
        self.host = socket.gethostname()
        self.node = _node_id()
        self.runtimes: dict[str, Any] = {}
        self.served = 0

    @ray.method(concurrency_group=CONTROL)
    def ready(self) -> dict[str, Any]:
        return {"pid": self.pid, "host": self.host, "node": self.node, "served": self.served,
                "loaded": sorted(self.runtimes)}

    def load(self, key: str, fn: Any, model_bytes: bytes, digest: str) -> str:
        """Create the session of `fn` (once); its provider."""
        if key not in self.runtimes:
            self.runtimes[key] = self._create(fn, model_bytes, digest)
        return self.runtimes[key].provider

    def map(self, key: str, refs: list[Any], digest: str, arrays: list[Any],
            dedupe: bool | None) -> tuple[Any, int]:
        """Score one batch; `refs` = [function, model bytes], read only to load."""
        runtime = self.runtimes.get(key)
        if runtime is None:
            fn, model_bytes = ray.get(refs)
            self.load(key, fn, model_bytes, digest)
            runtime = self.runtimes[key]
        mapped = map_batch(runtime, arrays, dedupe)
        self.served += 1
        return mapped, self.pid

    def _create(self, fn: Any, model_bytes: bytes, digest: str) -> Any:
        try:
            if hashlib.sha256(model_bytes).hexdigest() != digest:
                raise ModelLoadError("the model bytes arrived damaged (digest mismatch)")
            return create_runtime(replace(fn, threads=self.threads), self.device, model_bytes)
        except PredsqlError as exc:
            error = exc.message + (f" ({exc.hint})" if exc.hint else "")
        except ModelLoadError as exc:
            error = str(exc)
        except Exception as exc:  # onnxruntime and CUDA raise their own types
            first = str(exc).splitlines()[0] if str(exc) else ""
            error = f"{type(exc).__name__}: {first}"
        if self.device == "cuda":
            error += f" [CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '(unset)')}]"
        raise ModelLoadError(f"on {self.host} (node {self.node[:12]}): {error}")


def _node_id() -> str:
    try:
        return ray.get_runtime_context().get_node_id()
    except Exception:  # outside a Ray worker (unit tests)
        return ""
