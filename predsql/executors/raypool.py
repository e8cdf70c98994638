"""The Ray executor: pools of actors driven directly from the map stages.

Functions that need the same actor shape (CPUs, GPUs, device) share one pool,
so a model with several ML functions does not ask the cluster for a pool each.
Each batch's argument arrays go to the least busy actor as one actor task; a
stage keeps at most `max_in_flight` batches submitted and takes the results in
submission order, so the output streams into DuckDB as with the local executor
and the driver holds only the batches in flight.

Faults: an actor that dies is restarted by Ray (`max_restarts`); the driver
submits the batches it lost again, to a live actor, up to `max_retries` times
per batch (a lost node, a lost result object, a killed worker). Each batch's
result is taken once, in order, so a retry neither loses nor duplicates rows.
A model error (bad input, a model that cannot load) is not retried.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from predsql.errors import ExecutionError
from predsql.executors.config import RaySettings
from predsql.executors.rayactor import CONTROL, MapActor, ModelLoadError, actor_device
from predsql.executors.raycluster import Connection, check_resources, connect

START_TIMEOUT = 300.0  # seconds for the first actors to start
GROW_EVERY = 1.0  # seconds between two looks at the cluster's free resources


@dataclass(frozen=True)
class Shape:
    cpus: float
    gpus: float
    device: str
    retries: int


@dataclass
class Slot:
    """One actor of a pool."""

    index: int
    actor: Any
    ready_ref: Any
    info: dict[str, Any] = field(default_factory=dict)
    in_flight: int = 0
    probe_ref: Any = None  # after a failure: ready() again, routed to once it answers

    @property
    def routable(self) -> bool:
        return self.ready_ref is None and self.probe_ref is None

    @property
    def label(self) -> str:
        return f"actor{self.index}@{self.info.get('host', '?')}"


@dataclass(frozen=True)
class Model:
    """What an actor needs to load one function: object references, read once per actor."""

    key: str
    refs: list[Any]  # [the function without its bytes, the model bytes]
    digest: str


class RayPending:
    """A batch submitted to a pool; `result()` waits for it, retrying lost work."""

    def __init__(self, handle: RayFunction, arrays: list[Any], dedupe: bool | None) -> None:
        self.handle = handle
        self.arrays = arrays
        self.dedupe = dedupe
        self.attempts = 0
        self.actor = ""
        self.pid = 0
        self.slot, self.ref = handle.pool.send(handle, arrays, dedupe)

    def result(self) -> Any:
        return self.handle.pool.take(self)


class ActorPool:
    def __init__(self, ray: Any, shape: Shape, capacity: int) -> None:
        self.ray = ray
        self.shape = shape
        self.capacity = capacity
        self.actors_max = 0
        self.lock = threading.Lock()
        self.terminated = False
        self.token = uuid.uuid4().hex[:8]
        self.remote = ray.remote(concurrency_groups={CONTROL: 1})(MapActor)
        self.slots: list[Slot] = []
        self.dead: list[Slot] = []
        self._last_grow = 0.0

    # -- actors -----------------------------------------------------------------

    def want(self, handle: RayFunction, low: int, high: int | None) -> None:
        """Hold at least `low` actors (started now), grow up to `high` when busy."""
        if low > self.capacity:
            raise handle.error(
                f"asks for at least {low} actors, but the Ray cluster holds at most "
                f"{self.capacity} of this size", "lower `actors:` or add nodes")
        self.actors_max = max(self.actors_max, min(high or self.capacity, self.capacity))
        with self.lock:
            new = [self._start() for _ in range(low - len(self.slots))]
        if new:
            self._wait_ready(handle, new)

    def _start(self) -> Slot:
        index = len(self.slots) + len(self.dead)
        name = f"predsql-{self.token}-{index}"
        shape = self.shape
        actor = self.remote.options(
            name=name, num_cpus=shape.cpus, num_gpus=shape.gpus, max_restarts=shape.retries,
            max_task_retries=0, scheduling_strategy="SPREAD",
        ).remote(shape.device, max(1, int(shape.cpus)))
        slot = Slot(index, actor, actor.ready.remote())
        self.slots.append(slot)
        return slot

    def _wait_ready(self, handle: RayFunction, slots: list[Slot]) -> None:
        refs = [s.ready_ref for s in slots]
        _, waiting = self.ray.wait(refs, num_returns=len(refs), timeout=START_TIMEOUT)
        if waiting:
            raise handle.error(
                f"{len(waiting)} of {len(refs)} Ray actors did not start within "
                f"{START_TIMEOUT:.0f}s", "check `ray status`: the cluster may lack free CPUs/GPUs")
        for slot in slots:
            self._accept(handle, slot)

    def _accept(self, handle: RayFunction, slot: Slot) -> None:
        try:
            slot.info = self.ray.get(slot.ready_ref)
        except Exception as exc:  # the actor died while starting
            raise handle.error(f"could not start a Ray actor: {_cause(exc)}") from exc
        slot.ready_ref = None

    def load(self, handle: RayFunction) -> str:
        """Load the function's model on every started actor now: errors surface before data
        moves. Actors started later load it with their first batch."""
        ready = [s for s in self.slots if s.ready_ref is None]
        refs = [s.actor.load.remote(handle.model.key, *handle.model.refs, handle.model.digest)
                for s in ready]
        try:
            providers = self.ray.get(refs)
        except Exception as exc:
            raise handle.failure(exc) from exc
        return providers[0]

    def _grow(self, handle: RayFunction) -> None:
        """Add an actor when every actor is busy and the cluster has room for one more."""
        self._check_probes()
        starting = [s for s in self.slots if s.ready_ref is not None]
        for slot in starting:
            done, _ = self.ray.wait([slot.ready_ref], timeout=0)
            if not done:
                continue
            try:
                self._accept(handle, slot)
            except ExecutionError:  # an added actor that died starting: the pool goes on
                self.slots.remove(slot)
                self.dead.append(slot)
        if starting or len(self.slots) >= self.actors_max or \
                any(s.in_flight == 0 for s in self.slots):
            return
        now = time.monotonic()
        if now - self._last_grow < GROW_EVERY:
            return
        self._last_grow = now
        free = self.ray.available_resources()
        if free.get("CPU", 0) >= self.shape.cpus and free.get("GPU", 0) >= self.shape.gpus:
            self._start()

    def _check_probes(self) -> None:
        """Slots that failed: back in service once their actor answers (Ray restarted it);
        replaced by a fresh actor when it is dead for good."""
        for slot in [s for s in self.slots if s.probe_ref is not None]:
            done, _ = self.ray.wait([slot.probe_ref], timeout=0)
            if not done:
                continue
            try:
                slot.info = self.ray.get(slot.probe_ref)
                slot.probe_ref = None
            except Exception:  # out of restarts
                self.slots.remove(slot)
                self.dead.append(slot)
                self._kill(slot)
                self._start()

    def _routable(self, handle: RayFunction, avoid: Slot | None) -> list[Slot]:
        """Slots to send to; waits (lock released) while every actor is starting or failed."""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            self._grow(handle)
            ready = [s for s in self.slots if s.routable]
            if avoid is not None and len(ready) > 1:
                ready = [s for s in ready if s is not avoid]
            if ready:
                return ready
            waiting = [r for s in self.slots for r in (s.ready_ref, s.probe_ref) if r is not None]
            if not waiting or time.monotonic() > deadline:
                raise handle.error("has no live Ray actor left",
                                   "check the cluster (`ray status`)")
            self.lock.release()
            try:
                self.ray.wait(waiting, num_returns=1, timeout=1.0)
            finally:
                self.lock.acquire()
            if self.terminated:
                raise handle.error("was interrupted")

    # -- batches ----------------------------------------------------------------

    def send(self, handle: RayFunction, arrays: list[Any], dedupe: bool | None,
             avoid: Slot | None = None) -> tuple[Slot, Any]:
        with self.lock:
            if self.terminated:
                raise handle.error("was interrupted")
            slot = min(self._routable(handle, avoid), key=lambda s: s.in_flight)
            slot.in_flight += 1
            model = handle.model
            return slot, slot.actor.map.remote(model.key, model.refs, model.digest, arrays, dedupe)

    def take(self, pending: RayPending) -> Any:
        while True:
            try:
                mapped, pid = self.ray.get(pending.ref)
            except Exception as exc:
                self._done(pending.slot)
                self._retry_or_fail(pending, exc)
                continue
            self._done(pending.slot)
            pending.actor, pending.pid = pending.slot.label, pid
            return mapped

    def _done(self, slot: Slot) -> None:
        with self.lock:
            slot.in_flight -= 1

    def _retry_or_fail(self, pending: RayPending, exc: Exception) -> None:
        handle = pending.handle
        if self.terminated:
            raise handle.error("was interrupted") from exc
        if isinstance(exc, self.ray.exceptions.RayTaskError):  # the model failed: not retried
            raise handle.failure(exc) from exc
        if pending.attempts >= handle.settings.max_retries:
            raise handle.error(
                f"lost a batch {pending.attempts + 1} times on the Ray cluster "
                f"(last: {_cause(exc)})",
                "check the cluster (`ray status`); raise max_retries for flaky nodes") from exc
        pending.attempts += 1
        with self.lock:
            if pending.slot.probe_ref is None and pending.slot in self.slots:
                pending.slot.probe_ref = pending.slot.actor.ready.remote()
        pending.slot, pending.ref = self.send(handle, pending.arrays, pending.dedupe,
                                              avoid=pending.slot)

    # -- lifetime ---------------------------------------------------------------

    def terminate(self) -> None:
        """Cancel outstanding tasks by killing the actors (a running onnxruntime call
        cannot be interrupted otherwise)."""
        with self.lock:
            self.terminated = True
            slots = list(self.slots) + list(self.dead)
        for slot in slots:
            self._kill(slot)

    def _kill(self, slot: Slot) -> None:
        try:
            self.ray.kill(slot.actor, no_restart=True)
        except Exception:  # already gone
            pass


class RayFunction:
    """The handle a stage uses for one function on Ray."""

    executor = "ray"

    def __init__(self, pool: ActorPool, fn: Any, settings: RaySettings, model: Model) -> None:
        self.pool = pool
        self.fn = fn
        self.settings = settings
        self.model = model
        self.read_batch = settings.batch_size
        self.window = settings.in_flight(max(settings.actors_min, pool.actors_max))
        self.provider = ""
        self.startup_seconds = 0.0  # connecting aside: actors started and the model loaded

    def submit(self, arrays: list[Any], dedupe: bool | None) -> RayPending:
        return RayPending(self, arrays, dedupe)

    def stats(self) -> dict[str, Any]:
        return {"executor": "ray", "actors": len(self.pool.slots),
                "startup_seconds": round(self.startup_seconds, 3),
                "batch_size": self.read_batch, "max_in_flight": self.window}

    def error(self, message: str, hint: str | None = None) -> ExecutionError:
        return ExecutionError(f"function {self.fn.name!r} {message}", path=self.fn.yml_path,
                              hint=hint)

    def failure(self, exc: BaseException) -> ExecutionError:
        """The error of a task that failed in the actor (not retried)."""
        cause = getattr(exc, "cause", None) or exc
        if isinstance(cause, ModelLoadError):
            return self.error(
                f"cannot load {self.fn.model_path.name} on a Ray actor {cause}",
                "check that every node has onnxruntime (onnxruntime-gpu and the CUDA "
                "libraries for GPU actors) and the same predsql version as this machine")
        return self.error(f"failed on a Ray actor: {_cause(cause)}")


def _cause(exc: BaseException) -> str:
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    last = lines[-1].strip() if lines else ""
    name = type(exc).__name__
    return last if name in last else f"{name}: {last}" if last else name


class RayExecutor:
    """The run's connection to Ray and its actor pools (one per actor shape)."""

    def __init__(self, address: str, device: str | None, console: Any = None) -> None:
        self.connection: Connection = connect(address)
        self.ray = self.connection.ray
        self.device = device
        self.console = console
        self.pools: dict[Shape, ActorPool] = {}
        self.terminated = False

    def handle(self, fn: Any, settings: RaySettings) -> RayFunction:
        if self.terminated:
            raise ExecutionError(f"function {fn.name!r} was interrupted")
        began = time.perf_counter()
        wanted = self.device or fn.device
        if wanted == "cuda" and not settings.num_gpus_per_actor:
            raise ExecutionError(
                f"function {fn.name!r} runs with device: cuda on Ray, but its actors get no GPU",
                path=fn.yml_path, hint="set num_gpus_per_actor (e.g. 1) in the executor settings")
        shape = Shape(settings.num_cpus_per_actor, settings.num_gpus_per_actor,
                      actor_device(wanted, settings.num_gpus_per_actor), settings.max_retries)
        pool = self.pools.get(shape)
        if pool is None:
            capacity = check_resources(self.ray, fn.name, shape.cpus, shape.gpus, fn.yml_path)
            pool = self.pools[shape] = ActorPool(self.ray, shape, capacity)
            if self.terminated:
                pool.terminate()
        handle = RayFunction(pool, fn, settings, self._model(fn))
        pool.want(handle, settings.actors_min, settings.actors_max)
        handle.window = settings.in_flight(pool.actors_max)
        handle.provider = pool.load(handle)
        handle.startup_seconds = time.perf_counter() - began
        if self.console is not None:
            self.console.debug(f"{fn.name}: {len(pool.slots)} Ray actors ({handle.provider}), "
                               f"up to {pool.actors_max}")
        return handle

    def _model(self, fn: Any) -> Model:
        model_bytes = fn.load_model_bytes()  # checked against the registry's sha256
        refs = [self.ray.put(fn), self.ray.put(model_bytes)]
        return Model(f"{fn.name}:{fn.fingerprint}", refs,
                     hashlib.sha256(model_bytes).hexdigest())

    def terminate(self) -> None:
        self.terminated = True
        for pool in self.pools.values():
            pool.terminate()

    def close(self) -> None:
        self.terminate()
        self.pools = {}
        if self.connection.owned:
            self.ray.shutdown()
