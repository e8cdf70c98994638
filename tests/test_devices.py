"""Which device ML functions really use: `predsql debug` probes a CUDA session, warns
when both onnxruntime packages are installed; the `cuda` extra's libraries are preloaded
before any CUDA session; `device: auto` says why it falls back to the CPU.

No GPU here: onnxruntime's metadata, providers, preload_dlls and sessions are
monkeypatched, the rest (CLI, probe, runtime, fallback) runs for real."""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import onnxruntime as ort
import pytest

import ml_models
from conftest import output, run_cli, write
from predsql.ml import devices

LR = ("functions:\n  - name: score\n    model: lr.onnx\n"
      "    output: {name: probabilities, index: 1}\n    device: auto\n")
PROVIDER_ERROR = ("[ONNXRuntimeError] : 1 : FAIL : Failed to create CUDAExecutionProvider. "
                  "Require cuDNN 9.* and CUDA 13.*.")
REAL_SESSION = ort.InferenceSession


@pytest.fixture(autouse=True)
def fresh_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devices, "_status", None)


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    root = write(tmp_path / "dev", {"predsql_project.yml": "name: dev\n",
                                    "functions/f.yml": LR,
                                    "models/m.sql": "select range as id, score(range, 1, 2, 3) "
                                                    "as p from range(5)"})
    ml_models.logistic(root / "functions/lr.onnx")
    return root


def installed(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    def fake_version(name: str) -> str:
        if name in names:
            return "1.31.1"
        raise PackageNotFoundError(name)

    monkeypatch.setattr(devices, "version", fake_version)


def with_cuda_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ort, "get_available_providers",
                        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])


class GpuSession:
    """What onnxruntime returns where CUDA works."""

    def __init__(self, model: Any, options: Any = None, providers: Any = None) -> None:
        self.providers = list(providers or [])

    def get_providers(self) -> list[str]:
        return self.providers

    def run(self, names: Any, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return [np.maximum(next(iter(feeds.values())), 0)]


def failing_cuda_session(calls: list[str]) -> Any:
    """InferenceSession that fails as onnxruntime does without the CUDA libraries."""

    def create(model: Any, options: Any = None, providers: Any = None, **kw: Any) -> Any:
        if providers and "CUDAExecutionProvider" in providers:
            calls.append("cuda session")
            raise RuntimeError(PROVIDER_ERROR)
        return REAL_SESSION(model, options, providers=providers, **kw)

    return create


def test_debug_warns_when_both_onnxruntime_packages_are_installed(
        tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    installed(monkeypatch, "onnxruntime", "onnxruntime-gpu")
    result = run_cli(tiny, "debug")
    assert "warning: both onnxruntime and onnxruntime-gpu are installed" in result.stdout
    assert "pip uninstall -y onnxruntime onnxruntime-gpu && pip install onnxruntime-gpu" \
        in result.stdout
    installed(monkeypatch, "onnxruntime-gpu")
    assert "both onnxruntime" not in run_cli(tiny, "debug").stdout
    events = [json.loads(line) for line in
              run_cli(tiny, "debug", "--log-format", "json").stdout.splitlines()]
    assert not any(e["level"] == "warn" for e in events)


def test_debug_reports_the_gpu_when_a_cuda_session_really_runs(
        tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with_cuda_provider(monkeypatch)
    monkeypatch.setattr(ort, "InferenceSession", GpuSession)
    result = run_cli(tiny, "debug")
    assert "device: cuda (a probe session ran on CUDAExecutionProvider)" in result.stdout
    assert "CUDA is not usable" not in result.stdout


def test_debug_says_why_cuda_is_unusable_in_the_providers_words(
        tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with_cuda_provider(monkeypatch)
    monkeypatch.setattr(ort, "InferenceSession", failing_cuda_session([]))
    monkeypatch.setattr(devices, "has_cuda_wheels", lambda: False)
    result = run_cli(tiny, "debug")
    assert ("device: cpu; CUDA is not usable here: Failed to create CUDAExecutionProvider. "
            "Require cuDNN 9.* and CUDA 13.*.") in result.stdout
    assert "[ONNXRuntimeError]" not in result.stdout
    assert "`device: auto` functions run on the CPU" in result.stdout
    assert "pip install 'predsql[cuda]'" in result.stdout


def test_debug_without_the_cuda_provider(tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    installed(monkeypatch, "onnxruntime")
    result = run_cli(tiny, "debug")
    assert ("device: cpu; CUDA is not usable here: this onnxruntime (onnxruntime 1.31.1) has "
            "no CUDAExecutionProvider (providers: CPUExecutionProvider)") in result.stdout


def test_the_cuda_libraries_are_preloaded_before_the_cuda_session_and_auto_says_why_cpu(
        tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def preload_dlls(**kw: Any) -> None:
        calls.append("preload")
        print("Failed to load libcudnn.so.9: libcudnn.so.9: cannot open shared object file")

    with_cuda_provider(monkeypatch)
    monkeypatch.setattr(devices, "has_cuda_wheels", lambda: True)
    monkeypatch.setattr(ort, "preload_dlls", preload_dlls, raising=False)
    monkeypatch.setattr(ort, "InferenceSession", failing_cuda_session(calls))
    result = run_cli(tiny, "run")
    assert calls == ["preload", "cuda session"]  # once per process, libraries first
    note = ("device auto runs ML functions on CPU: CUDA is not usable here (Failed to create "
            "CUDAExecutionProvider. Require cuDNN 9.* and CUDA 13.*.; Failed to load "
            "libcudnn.so.9: libcudnn.so.9: cannot open shared object file)")
    assert output(result).count(note) == 1
    with duckdb.connect(str(tiny / "dev.duckdb"), read_only=True) as con:
        assert con.execute("select count(p) from m").fetchone() == (5,)
    results = json.loads((tiny / "target/run_results.json").read_text())["results"]
    assert results[0]["predsql"]["ml_functions"]["score"]["provider"] == "CPUExecutionProvider"


def test_no_preload_without_the_cuda_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(ort, "preload_dlls", lambda **kw: calls.append("preload"), raising=False)
    monkeypatch.setattr(devices, "has_cuda_wheels", lambda: False)
    assert devices.preload_cuda_libraries() == [] and calls == []
    monkeypatch.setattr(devices, "has_cuda_wheels", lambda: True)
    monkeypatch.delattr(ort, "preload_dlls")  # an onnxruntime older than 1.21
    assert devices.preload_cuda_libraries() == []
