"""Faults on a simulated multi-node Ray cluster: a killed actor, a lost node, a failure past
the retry budget, SIGTERM. The final table always equals the local executor's, row for row,
or the model fails with the old table intact."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import ml_models
from conftest import output, query, run_cli, write
from ray_helpers import in_thread, predsql_actors, ray, wait_for_work

ROWS = 200_000
pytestmark = pytest.mark.usefixtures("ray_cluster")


def project(root: Path, executor: str, rows: int = ROWS) -> Path:
    write(root, {
        "predsql_project.yml": "name: proj\n",
        "profiles.yml": "proj:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
                        f"      path: proj.duckdb\n      executor: {executor}\n",
        "functions/f.yml": "functions:\n  - name: score\n    model: forest.onnx\n",
        "models/scores.sql": "select id, score(f0, f1, f2, f3) as s from feats",
    })
    ml_models.forest(root / "functions/forest.onnx")
    ml_models.load_features(root / "proj.duckdb", "feats", ml_models.features(n=rows, seed=9))
    return root


def table(root: Path) -> list[tuple]:
    return query(root / "proj.duckdb", "select * from scores")  # insertion order


def stats(root: Path) -> dict:
    results = json.loads((root / "target/run_results.json").read_text())["results"]
    return results[0]["predsql"]["ml_functions"]["score"]


def local_table(root: Path) -> list[tuple]:
    run_cli(root, "run", "--executor", "local")
    return table(root)


def kill_one_actor(batches: int = 2) -> dict:
    info = wait_for_work(batches)[0]
    os.kill(info["pid"], signal.SIGKILL)
    return info


def wait_until_gone(timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while predsql_actors() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not predsql_actors(), "the run's actors outlived it"


SETTINGS = "{type: ray, actors: 2, batch_size: 2048, max_in_flight: 4, max_retries: 3}"


def test_a_killed_actor_loses_and_duplicates_no_row(tmp_path: Path) -> None:
    root = project(tmp_path / "proj", SETTINGS)
    expected = local_table(root)
    join = in_thread(lambda: run_cli(root, "run"))
    kill_one_actor()
    join()
    assert table(root) == expected
    s = stats(root)
    assert s["actor_restarts"] + s["retried_batches"] >= 1
    assert s["rows_inferred"] == ROWS


def test_a_lost_worker_node_loses_and_duplicates_no_row(ray_cluster, tmp_path: Path) -> None:
    node = ray_cluster.add_node(num_cpus=2, object_store_memory=80 * 2**20)
    ray_cluster.wait_for_nodes()
    try:
        # one actor per node: each needs a whole node's CPUs
        executor = ("{type: ray, actors: 2, num_cpus_per_actor: 2, batch_size: 2048, "
                    "max_in_flight: 4}")
        root = project(tmp_path / "proj", executor)
        expected = local_table(root)
        join = in_thread(lambda: run_cli(root, "run"))
        infos = wait_for_work(4)
        assert node.node_id in {i["node"] for i in infos}
        ray_cluster.remove_node(node)
        node = None
        join()
        assert table(root) == expected
        assert stats(root)["retried_batches"] >= 1
    finally:
        if node is not None:
            ray_cluster.remove_node(node)


def test_a_failure_past_the_retry_budget_fails_the_model(tmp_path: Path) -> None:
    root = project(tmp_path / "proj", "{type: ray, actors: 1, batch_size: 2048, "
                                      "max_in_flight: 2, max_retries: 0}")
    before = local_table(root)
    join = in_thread(lambda: run_cli(root, "run", code=1))
    kill_one_actor()
    text = output(join())
    assert "function 'score' lost a batch 1 times on the Ray cluster" in text
    assert "ActorDiedError" in text or "RayActorError" in text
    assert "Traceback" not in text
    assert table(root) == before  # the old table is intact
    wait_until_gone()


@pytest.mark.parametrize("sig", [
    signal.SIGTERM, pytest.param(signal.SIGINT, marks=pytest.mark.slow)])
def test_a_signal_cancels_the_cluster_work_and_rolls_back(ray_cluster, tmp_path: Path,
                                                          sig: signal.Signals) -> None:
    address = ray_cluster.address  # the child is a second driver on the same cluster
    root = project(tmp_path / "proj", f"{{type: ray, address: '{address}', actors: 2, "
                                      "batch_size: 1024, max_in_flight: 2}")
    before = local_table(root)
    env = {**os.environ, "PYTHONPATH": str(Path.cwd())}
    child = subprocess.Popen([sys.executable, "-m", "predsql", "run", "--project-dir", str(root)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                             cwd=root)
    try:
        wait_for_work(2)
        child.send_signal(sig)
        out, _ = child.communicate(timeout=120)
    finally:
        child.kill()
    assert child.returncode == 2, out
    assert sig.name in out and "Traceback" not in out
    assert table(root) == before
    wait_until_gone()


@pytest.mark.slow
@pytest.mark.parametrize("after", [1, 5, 20, 40])
def test_kill_loop(tmp_path: Path, after: int) -> None:
    root = project(tmp_path / "proj", SETTINGS)
    expected = local_table(root)
    for _ in range(2):
        join = in_thread(lambda: run_cli(root, "run"))
        kill_one_actor(after)
        join()
        assert table(root) == expected


@pytest.mark.slow
def test_ray_handles_are_released(tmp_path: Path) -> None:
    root = project(tmp_path / "proj", SETTINGS, rows=5000)
    run_cli(root, "run")
    wait_until_gone()
    assert ray.is_initialized()  # the test session's connection is left as it was


def test_the_pool_grows_from_min_to_max_while_busy(tmp_path: Path) -> None:
    root = project(tmp_path / "proj", "{type: ray, actors: {min: 1, max: 2}, batch_size: 2048, "
                                      "max_in_flight: 4}", rows=100_000)
    expected = local_table(root)
    run_cli(root, "run")
    assert table(root) == expected
    assert stats(root)["actors"] == 2  # the second one joins once it has started
