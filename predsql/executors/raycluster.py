"""Connecting to a Ray cluster: import Ray only here, reach the address, check resources.

Ray is imported only when a function runs on the Ray executor, so a local run
never pays for it. An unreachable address is an error at once (a TCP probe
before `ray.init`, which would otherwise wait or retry for a long time).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any

from predsql.errors import ExecutionError

PROBE_SECONDS = 5.0
INSTALL_HINT = "install it with `pip install 'predsql[ray]'` (or `pip install 'ray[client]'`)"


def import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ExecutionError(
            "the Ray executor needs the `ray` package, which is not installed",
            hint=INSTALL_HINT + ", or run with --executor local") from exc
    return ray


def _host_port(address: str) -> tuple[str, int] | None:
    rest = address.removeprefix("ray://")
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def probe(address: str) -> None:
    """Fail fast, with the address in the message, when nothing listens there."""
    target = _host_port(address)
    if target is None:
        return
    try:
        with socket.create_connection(target, timeout=PROBE_SECONDS):
            return
    except OSError as exc:
        raise ExecutionError(
            f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}",
            hint="start it (`ray start --head` on the head node), check the address and port "
            "(ray:// uses the client port, 10001 by default; HOST:PORT the GCS port, 6379), "
            "or run with --executor local") from exc


@dataclass
class Connection:
    ray: Any
    address: str
    owned: bool  # this run started Ray (address: local) and shuts it down


def connect(address: str) -> Connection:
    """Connect to the cluster; reuse a connection the process already has."""
    ray = import_ray()
    if ray.is_initialized():
        return Connection(ray, address, owned=False)
    options: dict[str, Any] = {"log_to_driver": False, "configure_logging": False}
    if address == "local":
        options.update(address="local", include_dashboard=False)
    elif address == "auto":
        options["address"] = "auto"
    else:
        probe(address)
        options["address"] = address
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    try:
        ray.init(**options)
    except ConnectionError as exc:
        hint = ("start a cluster with `ray start --head` (then `ray start --address HEAD:6379` on "
                "each worker), set RAY_ADDRESS, or use address: local to start Ray on this machine")
        raise ExecutionError(f"cannot connect to a Ray cluster (address: {address}): {exc}",
                             hint=hint) from exc
    except Exception as exc:  # Ray raises its own types (e.g. a version mismatch)
        raise ExecutionError(f"Ray could not start or connect (address: {address}): {exc}",
                             hint="check the address and that the cluster runs the same Ray "
                             "and Python versions as this machine") from exc
    return Connection(ray, address, owned=address == "local")


def check_resources(ray: Any, function: str, cpus: float, gpus: float, yml_path: str) -> int:
    """How many actors of this size the cluster can hold at most; an error when none."""
    total = ray.cluster_resources()
    fits = []
    if cpus:
        fits.append(int(total.get("CPU", 0) // cpus))
    if gpus:
        fits.append(int(total.get("GPU", 0) // gpus))
    most = min(fits) if fits else 0
    if most < 1:
        have = f"{total.get('CPU', 0):g} CPUs and {total.get('GPU', 0):g} GPUs"
        raise ExecutionError(
            f"function {function!r}: the Ray cluster has {have}; one actor needs "
            f"{cpus:g} CPUs and {gpus:g} GPUs",
            path=yml_path,
            hint="add nodes with these resources (GPU nodes: `ray start --num-gpus N`) or "
            "lower num_cpus_per_actor / num_gpus_per_actor")
    return most
