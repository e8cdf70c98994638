"""Executor settings (profile target, functions/*.yml, --executor) and their errors; Ray stays
out of local runs. No Ray cluster needed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import ml_models
from conftest import output, query, run_cli, write
from predsql.errors import ProjectError, RegistryError
from predsql.executors.config import RaySettings, executor_config


def test_defaults_are_local() -> None:
    config = executor_config(None, None, None)
    assert config.for_function(None, "f.yml", "f").kind == "local"
    assert executor_config(None, None, "ray").for_function(None, "f.yml", "f").kind == "ray"


def test_profile_settings_and_function_overrides() -> None:
    config = executor_config({"type": "local", "address": "ray://head:10001",
                              "actors": {"min": 1, "max": 4}, "num_cpus_per_actor": 2,
                              "batch_size": 8192, "max_in_flight": 6}, "profiles.yml", None)
    assert config.default == "local"
    assert config.ray == RaySettings(address="ray://head:10001", actors_min=1, actors_max=4,
                                     num_cpus_per_actor=2.0, batch_size=8192, max_in_flight=6)
    plain = config.for_function(None, "f.yml", "light")
    assert plain.kind == "local"
    heavy = config.for_function({"actors": 2, "num_gpus_per_actor": 1}, "f.yml", "heavy")
    assert heavy.kind == "ray"  # a mapping without `type` means ray
    assert (heavy.ray.actors_min, heavy.ray.actors_max, heavy.ray.num_gpus_per_actor) == (2, 2, 1)
    assert heavy.ray.address == "ray://head:10001" and heavy.ray.batch_size == 8192
    assert config.for_function("ray", "f.yml", "x").kind == "ray"
    forced = executor_config({"type": "ray"}, "profiles.yml", "local")
    assert forced.for_function("ray", "f.yml", "heavy").kind == "local"  # --executor wins
    assert RaySettings(actors_max=3).in_flight(3) == 6


@pytest.mark.parametrize("raw, message", [
    ("spark", "executor type 'spark' is not one of local, ray"),
    ({"type": "ray", "actor": 2}, "unknown executor key `actor`"),
    ({"actors": 0}, "`actors` must be a positive integer"),
    ({"actors": {"min": 3, "max": 2}}, "max (2) is below min (3)"),
    ({"actors": {"low": 1}}, "takes `min` and `max`"),
    ({"batch_size": "big"}, "`batch_size` must be a positive integer"),
    ({"num_cpus_per_actor": 0}, "needs num_cpus_per_actor or num_gpus_per_actor above zero"),
    ({"max_retries": -1}, "`max_retries` must be a zero or more integer"),
    (["ray"], "must be `local`, `ray`, or a mapping"),
])
def test_bad_profile_settings(raw: object, message: str) -> None:
    with pytest.raises(ProjectError) as caught:
        executor_config(raw, "profiles.yml", None)
    assert message in caught.value.message and caught.value.path == "profiles.yml"


def test_a_function_cannot_pick_the_address() -> None:
    with pytest.raises(RegistryError, match="unknown executor key `address`"):
        executor_config(None, None, None).for_function({"address": "auto"}, "f.yml", "f")


def project(root: Path, executor: str = "", function_executor: str = "") -> Path:
    write(root, {
        "predsql_project.yml": "name: proj\n",
        "profiles.yml": "proj:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
                        f"      path: proj.duckdb\n{executor}",
        "functions/f.yml": f"functions:\n  - name: score\n    model: forest.onnx\n{function_executor}",
        "models/scores.sql": "select id, score(f0, f1, f2, f3) as s from feats",
    })
    ml_models.forest(root / "functions/forest.onnx")
    ml_models.load_features(root / "proj.duckdb", "feats", ml_models.features(n=500))
    return root


def test_a_bad_function_entry_breaks_that_function_only(tmp_path: Path) -> None:
    root = project(tmp_path / "p", function_executor="    executor: {type: ray, actorz: 2}\n")
    write(root, {"models/plain.sql": "select 1 as x"})
    text = output(run_cli(root, "run", code=1))
    assert "functions/f.yml:2: function 'score': unknown executor key `actorz`" in text
    assert "did you mean `actors`?" in text
    assert query(root / "proj.duckdb", "select x from plain") == [(1,)]


def test_the_executor_does_not_change_the_fingerprint(tmp_path: Path) -> None:
    root = project(tmp_path / "p")
    def fingerprint() -> str:
        run_cli(root, "compile")
        manifest = json.loads((root / "target/manifest.json").read_text())
        return manifest["predsql"]["functions"]["score"]["fingerprint"]

    before = fingerprint()
    (root / "functions/f.yml").write_text(
        "functions:\n  - name: score\n    model: forest.onnx\n    executor: ray\n")
    assert fingerprint() == before  # where a function runs never changes its results


LOCAL_RUN = """
import sys
from predsql.cli import main
try:
    main(["run", "--project-dir", sys.argv[1], "--quiet"])
except SystemExit as exc:
    assert exc.code == 0, exc.code
assert "ray" not in sys.modules, "a local run imported ray"
print("no ray")
"""


def test_a_local_run_never_imports_ray(tmp_path: Path) -> None:
    root = project(tmp_path / "p")
    done = subprocess.run([sys.executable, "-c", LOCAL_RUN, str(root)], capture_output=True,
                          text=True, timeout=120, cwd=root)
    assert done.returncode == 0 and "no ray" in done.stdout, done.stderr
    assert len(query(root / "proj.duckdb", "select * from scores")) == 500


MISSING_RAY = """
import sys
sys.modules["ray"] = None  # as if the `ray` extra were not installed
from predsql.cli import main
main(["run", "--project-dir", sys.argv[1], "--executor", "ray"])
"""


def test_a_clear_error_when_ray_is_not_installed(tmp_path: Path) -> None:
    root = project(tmp_path / "p")
    done = subprocess.run([sys.executable, "-c", MISSING_RAY, str(root)], capture_output=True,
                          text=True, timeout=120, cwd=root)
    text = done.stdout + done.stderr
    assert done.returncode == 1, text
    assert "the Ray executor needs the `ray` package, which is not installed" in text
    assert "pip install 'predsql[ray]'" in text and "Traceback" not in text


UNREACHABLE = """
import sys
from predsql.cli import main
main(["run", "--project-dir", sys.argv[1]])
"""


def test_a_clear_error_when_the_cluster_is_unreachable(tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="the `ray` extra is not installed")
    root = project(tmp_path / "p", "      executor: {type: ray, address: 'ray://127.0.0.1:9'}\n")
    done = subprocess.run([sys.executable, "-c", UNREACHABLE, str(root)], capture_output=True,
                          text=True, timeout=120, cwd=root)
    text = done.stdout + done.stderr
    assert done.returncode == 1, text
    assert "cannot reach the Ray cluster at ray://127.0.0.1:9" in text
    assert "ray start --head" in text and "Traceback" not in text
