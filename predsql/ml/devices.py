"""Which device onnxruntime can really use here, and why not CUDA when it cannot.

`probe_cuda()` creates a tiny CUDA session once per process (after loading the
CUDA/cuDNN libraries of the `cuda` extra's nvidia wheels with onnxruntime's
`preload_dlls()`, so no LD_LIBRARY_PATH is needed) and keeps onnxruntime's own
reason when it fails: a missing library, no GPU, a driver too old.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

import numpy as np
import onnxruntime as ort

from predsql.ml.ort_errors import ort_detail

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
ORT_PACKAGES = ("onnxruntime", "onnxruntime-gpu")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_LOG_PREFIX = re.compile(r"^\S+ \S+ \[([EW]):onnxruntime:[^\]]*\] ")


@dataclass(frozen=True)
class CudaStatus:
    usable: bool
    reason: str  # why CUDA cannot be used; empty when it can


_lock = threading.Lock()
_status: CudaStatus | None = None


def installed_ort_packages() -> dict[str, str]:
    """The onnxruntime distributions installed ({name: version})."""
    found = {}
    for name in ORT_PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def both_packages_warning() -> str | None:
    packages = installed_ort_packages()
    if len(packages) < 2:
        return None
    return ("both onnxruntime and onnxruntime-gpu are installed; they write the same files, so "
            "whichever was installed last wins. Keep one: `pip uninstall -y onnxruntime "
            "onnxruntime-gpu && pip install onnxruntime-gpu` (or plain onnxruntime on a "
            "machine without an NVIDIA GPU)")


def probe_cuda() -> CudaStatus:
    """Whether onnxruntime can run a model on CUDA here (cached for the process)."""
    global _status
    with _lock:
        if _status is None:
            _status = _probe()
        return _status


def _probe() -> CudaStatus:
    providers = ort.get_available_providers()
    if CUDA not in providers:
        packages = ", ".join(f"{n} {v}" for n, v in installed_ort_packages().items())
        return CudaStatus(False, f"this onnxruntime ({packages or ort.__version__}) has no "
                                 f"CUDAExecutionProvider (providers: {', '.join(providers)})")
    preload_notes = preload_cuda_libraries()
    options = ort.SessionOptions()
    options.log_severity_level = 2  # keep the provider's warnings and errors: they say why
    ort.set_default_logger_severity(2)
    with captured_stderr() as logged:
        try:
            session = ort.InferenceSession(PROBE_MODEL, options, providers=[CUDA, CPU])
            if session.get_providers()[0] == CUDA:
                session.run(None, {"x": np.ones((1, 1), dtype=np.float32)})
        except Exception as exc:  # no device, a driver too old, ...
            return CudaStatus(False, "; ".join([ort_detail(exc), *preload_notes]))
        finally:
            ort.set_default_logger_severity(3)
    if session.get_providers()[0] == CUDA:
        return CudaStatus(True, "")
    reasons = [*_ort_log_reasons(logged), *preload_notes]
    return CudaStatus(False, "; ".join(reasons) or "onnxruntime fell back to the CPU")


def preload_cuda_libraries() -> list[str]:
    """Load CUDA/cuDNN from the nvidia pip wheels (the `cuda` extra), if installed;
    what failed to load, as onnxruntime says it."""
    if not hasattr(ort, "preload_dlls") or not has_cuda_wheels():
        return []
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        try:
            ort.preload_dlls()
        except Exception as exc:
            return [str(exc)]
    return [line.strip() for line in printed.getvalue().splitlines()
            if line.strip().startswith("Failed")]


def has_cuda_wheels() -> bool:
    """Whether the nvidia runtime wheels of the `cuda` extra are installed."""
    return importlib.util.find_spec("nvidia") is not None


def _ort_log_reasons(lines: list[str]) -> list[str]:
    """onnxruntime's own log lines about the CUDA provider, errors first."""
    found: dict[str, list[str]] = {"E": [], "W": []}
    for raw in lines:
        line = _ANSI.sub("", raw).strip()
        match = _LOG_PREFIX.match(line)
        if match and line[match.end():]:
            found[match.group(1)].append(ort_detail(line[match.end():]))
    return found["E"][:2] + found["W"][:1]


@contextlib.contextmanager
def captured_stderr() -> Iterator[list[str]]:
    """What C++ libraries write to file descriptor 2 meanwhile (onnxruntime logs there)."""
    lines: list[str] = []
    with tempfile.TemporaryFile() as tmp:
        saved = os.dup(2)
        os.dup2(tmp.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            lines.extend(tmp.read().decode("utf-8", "replace").splitlines())


# y = Relu(x), x and y float [N, 1], opset 13, IR version 8: the bytes onnx.helper makes
# (test_throughput.py rebuilds them), kept here so probing needs no onnx import (~0.1 s)
PROBE_MODEL = (b'\x08\x08:;\n\x0c\n\x01x\x12\x01y"\x04Relu\x12\x05probeZ\x11\n\x01x\x12\x0c'
               b'\n\n\x08\x01\x12\x06\n\x00\n\x02\x08\x01b\x11\n\x01y\x12\x0c\n\n\x08\x01'
               b'\x12\x06\n\x00\n\x02\x08\x01B\x04\n\x00\x10\r')


def auto_fallback_note(status: CudaStatus) -> str:
    return f"device auto runs ML functions on CPU: CUDA is not usable here ({status.reason})"
