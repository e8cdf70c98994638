"""One Ray cluster for the whole test session (Ray takes seconds to start).

A `ray.cluster_utils.Cluster` on this machine: a head node with no CPUs (the
driver's machine, as in a real deployment where DuckDB keeps its cores) and one
worker node with 2 CPUs and one declared GPU (there is no real GPU here: a
GPU actor is placed, gets CUDA_VISIBLE_DEVICES, and must fail to load rather
than fall back to the CPU). Fault tests add and remove their own nodes.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

ray = pytest.importorskip("ray", reason="the `ray` extra is not installed (pip install -e '.[dev]')")
from ray.cluster_utils import Cluster  # noqa: E402

STORE = 128 * 2**20  # object store per node: small, this machine is shared


def start_cluster() -> Iterator[Cluster]:
    """The session's cluster (the `ray_cluster` fixture in conftest.py), connected."""
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "include_dashboard": False, "object_store_memory": STORE})
    cluster.add_node(num_cpus=2, num_gpus=1, object_store_memory=STORE)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False, configure_logging=False)
    try:
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


def predsql_actors() -> list[Any]:
    """Handles of the live actors of predsql runs (any driver on the cluster)."""
    found = []
    for entry in ray.util.list_named_actors(all_namespaces=True):
        if entry["name"].startswith("predsql-"):
            try:
                found.append(ray.get_actor(entry["name"], namespace=entry["namespace"]))
            except ValueError:  # gone meanwhile
                continue
    return found


def wait_for_work(batches: int = 2, timeout: float = 120) -> list[dict]:
    """Wait until the actors of a run have mapped `batches` batches; their ready() info."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        actors = predsql_actors()
        if actors:
            try:
                infos = ray.get([a.ready.remote() for a in actors], timeout=10)
            except Exception:
                infos = []
            if infos and sum(i["served"] for i in infos) >= batches:
                return infos
        time.sleep(0.05)
    raise AssertionError(f"no predsql actor did any work within {timeout}s")


def in_thread(action: Callable[[], Any]) -> Callable[[], Any]:
    """Start `action` in a thread; the returned function joins it and returns its value."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = action()
        except BaseException as exc:  # re-raised in the test's thread
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()

    def join() -> Any:
        thread.join(timeout=600)
        if "error" in box:
            raise box["error"]
        return box.get("value")

    return join
