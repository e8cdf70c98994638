"""The local executor: onnxruntime in this process (one session per function per run)."""

from __future__ import annotations

from typing import Any

from predsql.executors.base import Done
from predsql.ml.runtime import FunctionRuntime, RuntimePool, map_batch


class LocalHandle:
    executor = "local"
    window = 0
    read_batch = None

    def __init__(self, runtime: FunctionRuntime) -> None:
        self.runtime = runtime
        self.provider = runtime.provider

    def submit(self, arrays: list[Any], dedupe: bool | None) -> Done:
        return Done(map_batch(self.runtime, arrays, dedupe))  # any runtime, text ones too

    def stats(self) -> dict[str, Any]:
        return {"executor": "local"}


class LocalExecutor:
    def __init__(self, registry: Any, device: str | None, console: Any = None) -> None:
        self.runtimes = RuntimePool(registry, device, console)

    def handle(self, name: str) -> LocalHandle:
        return LocalHandle(self.runtimes.get(name))

    def terminate(self) -> None:
        self.runtimes.terminate()

    def close(self) -> None:
        self.runtimes.close()
