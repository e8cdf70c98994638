"""The executor interface and the per-run set of executors.

A map stage asks `Executors.get(function)` for a handle, submits each batch's
argument arrays with `handle.submit(arrays, dedupe)` and later calls
`result()` on what it got back, in submission order. `window` says how many
batches a stage may keep submitted before it takes the oldest result: 0 for
the local executor (it maps while submitting), `max_in_flight` for Ray.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from predsql.executors.config import ExecutorChoice, ExecutorConfig
from predsql.ml.runtime import MappedBatch


class Pending(Protocol):
    def result(self) -> MappedBatch: ...


class FunctionHandle(Protocol):
    executor: str
    provider: str
    window: int  # batches a stage may have submitted and not yet taken
    read_batch: int | None  # rows per batch this handle wants (None: the stage's default)

    def submit(self, arrays: list[Any], dedupe: bool | None) -> Pending: ...

    def stats(self) -> dict[str, Any]: ...


class Done:
    """A result computed at submission (the local executor)."""

    def __init__(self, value: MappedBatch) -> None:
        self.value = value

    def result(self) -> MappedBatch:
        return self.value


class Executors:
    """Every executor of one run: the local one always, the Ray pool when a function
    runs there (started on first use, shut down by `close`)."""

    def __init__(self, registry: Any, config: ExecutorConfig, device: str | None = None,
                 console: Any = None) -> None:
        from predsql.executors.local import LocalExecutor

        self.registry = registry
        self.config = config
        self.device = device
        self.console = console
        self.local = LocalExecutor(registry, device, console)
        self._ray: Any = None
        self._handles: dict[str, FunctionHandle] = {}
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._ray_lock = threading.Lock()
        self._terminated = False
        self._ray_error: Exception | None = None
        kinds = {self.choice(name).kind for name in registry.functions}  # bad entries fail now
        if "ray" in kinds:
            from predsql.executors.raycluster import import_ray

            import_ray()  # a missing `ray` package fails before any data moves

    def choice(self, name: str) -> ExecutorChoice:
        fn = self.registry.functions[name]
        return self.config.for_function(fn.config.get("executor"), fn.yml_path, fn.name)

    def get(self, name: str) -> FunctionHandle:
        with self._lock:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:  # one creation per function; others are not held up meanwhile
            if name not in self._handles:
                self._handles[name] = self._create(name)
            return self._handles[name]

    def prepare(self, names: set[str]) -> None:
        """Start the Ray actors of these functions in the background, so they start and
        load their models while the run does other work. Errors are left for `get`."""
        remote = sorted(n for n in names if n in self.registry.functions
                        and self.choice(n).kind == "ray")
        if not remote:
            return

        def start() -> None:
            for name in remote:
                try:
                    self.get(name)
                except Exception:  # noqa: S110  (the stage that needs it reports it)
                    pass

        threading.Thread(target=start, daemon=True, name="predsql-ray-start").start()

    def _create(self, name: str) -> FunctionHandle:
        choice = self.choice(name)
        if choice.kind == "local":
            return self.local.handle(name)
        with self._ray_lock:
            if self._ray_error is not None:  # e.g. an unreachable cluster: said once per run
                raise self._ray_error
            if self._ray is None:
                from predsql.executors.raycluster import import_ray

                import_ray()
                from predsql.executors.raypool import RayExecutor

                try:
                    self._ray = RayExecutor(choice.ray.address, self.device, self.console)
                except Exception as exc:
                    self._ray_error = exc
                    raise
                if self._terminated:
                    self._ray.terminate()
            return self._ray.handle(self.registry.functions[name], choice.ray)

    def cache_lock(self, name: str) -> threading.Lock:
        """Held while a model fills the function's prediction cache (ml/cache.py)."""
        return self.local.runtimes.cache_lock(name)

    def terminate(self) -> None:
        """SIGINT/SIGTERM: stop running inference at once (the stages then fail)."""
        self._terminated = True
        self.local.terminate()
        if self._ray is not None:
            self._ray.terminate()

    def close(self) -> None:
        self.local.close()
        if self._ray is not None:
            self._ray.close()
