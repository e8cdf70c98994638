"""onnxruntime failures while a batch runs, explained: which function, which model
file, which batch, what kind of failure, and what to do."""

from __future__ import annotations

import re
from typing import Any

from predsql.errors import InferenceError

_PREFIX = re.compile(r"\[ONNXRuntimeError\] : \d+ : \w+ : ")
_SOURCE = re.compile(r"/onnxruntime_src/\S+:\d+ ")
_SIGNATURE = re.compile(r"(?:[\w<>]+(?:::[\w<>]+)*[&*]* )?onnxruntime::[\w:~<>]+\([^)]*\)"
                        r"(?: const)? ")
KINDS = (
    ("out of memory", ("failed to allocate", "out of memory", "bad_alloc", "cudaerrormemory",
                       "cuda_error_out_of_memory")),
    ("input shape", ("invalid dimensions for input", "invalid rank for input")),
    ("shape mismatch", ("reshape", "shape", "dimension", "broadcast", "incompatible")),
    ("invalid input", ("invalid_argument", "unexpected input data type", "invalid input")),
)


def ort_detail(exc: BaseException) -> str:
    """onnxruntime's message without its error-code prefix and C++ source locations."""
    text = _PREFIX.sub("", str(exc).strip())
    text = text.replace("Non-zero status code returned while running ", "")
    text = re.sub(r"\. Name:'[^']*' Status Message: ", ": ", text)
    text = _PREFIX.sub("", _SIGNATURE.sub("", _SOURCE.sub("", text)))
    text = text.split(" Please install all dependencies")[0]
    return " ".join(text.split())


def failure_kind(exc: BaseException) -> str:
    text = str(exc).lower()
    for kind, needles in KINDS:
        if any(needle in text for needle in needles):
            return kind
    return "error"


def _hint(kind: str, fn: Any, rows: int, provider: str) -> str:
    where = f"in {fn.yml_path}"
    if kind == "out of memory":
        device = "GPU" if provider.startswith("CUDA") else "machine"
        return (f"lower batch_size {where} (this batch had {rows:,} rows), or run where the "
                f"{device} has more free memory")
    if kind == "input shape":
        return (f"the model's input has a fixed size: set batch_size {where} to the model's "
                "batch dimension, or re-export the model with a dynamic batch dimension "
                "(`predsql functions` shows the signature)")
    if kind == "shape mismatch":
        return (f"a node of the model cannot take a batch of {rows:,} rows: re-export it with a "
                f"dynamic batch dimension, or set batch_size {where} to a size it accepts")
    if kind == "invalid input":
        return (f"check the call's arguments against the signature (`predsql functions`) and "
                f"the model's inputs {where}")
    return f"check that {fn.model_path.name} runs in onnxruntime on its own with such a batch"


def inference_failure(fn: Any, exc: BaseException, rows: int, provider: str) -> InferenceError:
    kind = failure_kind(exc)
    return InferenceError(
        f"{fn.name}() failed in onnxruntime ({kind}) on a batch of {rows:,} rows on "
        f"{provider}, model {fn.model_path.name}: {ort_detail(exc)}",
        path=fn.yml_path, hint=_hint(kind, fn, rows, provider),
    )
