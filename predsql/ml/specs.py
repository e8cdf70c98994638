"""What a registered ML function is: its inputs, outputs and settings (frozen, picklable).

An `MlFunction` is everything an executor needs to run the function anywhere:
ship it (with `load_model_bytes()` or the file) to a worker, build a runtime
there (`ml/runtime.py: create_runtime`) and map Arrow batches.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from predsql.errors import ExecutionError, RegistryError
from predsql.text.config import TextSpec

FLOAT_ELEMS = ("float", "double", "float16")


@dataclass(frozen=True)
class InputSpec:
    """One ONNX input tensor and the SQL arguments that feed it, in column order."""

    name: str  # ONNX input name
    elem: str  # ONNX element type, e.g. "float"
    sql_type: str  # the DuckDB type each of its arguments is cast to
    width: int  # arguments feeding it (k for an [N, k] input fed by k columns)
    rank: int = 2  # 1 for an [N] input, 2 for [N, k]
    columns: tuple[str, ...] = ()  # argument names (from `columns:` or the input name)

    def argument_names(self) -> list[str | None]:
        return list(self.columns) if self.columns else [None] * self.width


@dataclass(frozen=True)
class OutputSpec:
    """One value the call returns: a whole tensor, one column of it, or a ZipMap's classes."""

    name: str  # the declared output (ONNX name); a STRUCT field is called `field`
    tensor: str  # the tensor fetched from onnxruntime
    elem: str
    sql_type: str  # the DuckDB type of this value
    width: int | None  # k for an array value (FLOAT[k])
    index: int | None  # column picked from an [N, k] output
    field: str = ""  # the STRUCT field name when the function has `outputs:`
    labels: tuple[str, ...] = ()  # class labels of a ZipMap (the array's order)


@dataclass(frozen=True)
class ZipMapInfo:
    """A scikit-learn style ZipMap output replaced by the tensor feeding it."""

    output: str  # the ZipMap's (sequence of maps) output name
    tensor: str  # its input: the [N, classes] probability tensor
    labels: tuple[str, ...]


@dataclass(frozen=True)
class MlFunction:
    name: str
    description: str
    yml_path: str
    model_path: Path
    inputs: tuple[InputSpec, ...]
    outputs: tuple[OutputSpec, ...]
    struct: bool  # `outputs:` given: the call returns STRUCT(field ...)
    batch_size: int | None
    device: str
    on_null: str  # null | error | nan
    cache: bool
    threads: int | None
    fingerprint: str
    config: dict[str, Any]
    file_sha256: str = ""
    fixed_batch: int | None = None  # the model's fixed batch dimension, fed exactly
    zipmaps: tuple[ZipMapInfo, ...] = ()
    locale: str | None = None  # replaces the locale of StringNormalizer nodes
    custom_ops: tuple[str, ...] = ()  # Python packages whose custom-op library it needs
    external_data: bool = False  # weights in files beside the model (loaded from its folder)
    text: TextSpec | None = None  # a text function: tokenizer, pooling (predsql/text)
    flush_subnormals: bool = False  # subnormal weights set to zero (subnormal_weights: flush)
    session_file: Path | None = None  # those rewritten bytes, kept in target/ (model_info.py)

    @property
    def output(self) -> OutputSpec:
        """The single output of a function without `outputs:`."""
        return self.outputs[0]

    @property
    def arity(self) -> int:
        return sum(i.width for i in self.inputs)

    @property
    def stacked(self) -> bool:
        """One [N, k] input fed by k arguments stacked as columns."""
        return len(self.inputs) == 1

    @property
    def fetches(self) -> tuple[str, ...]:
        """The tensors one onnxruntime call fetches (each once)."""
        return tuple(dict.fromkeys(o.tensor for o in self.outputs))

    def arg_types(self) -> list[str]:
        return [i.sql_type for i in self.inputs for _ in range(i.width)]

    def argument_names(self) -> list[str | None]:
        return [n for i in self.inputs for n in i.argument_names()]

    def named_arguments(self) -> bool:
        """Every argument has a name, so calls may pass them as `name := value`."""
        return all(self.argument_names())

    def nan_for_null(self, sql_type: str) -> bool:
        return self.on_null == "nan" and sql_type in ("FLOAT", "DOUBLE")

    @property
    def result_type(self) -> str:
        if not self.struct:
            return self.outputs[0].sql_type
        return "STRUCT(" + ", ".join(f'"{o.field}" {o.sql_type}' for o in self.outputs) + ")"

    def signature(self) -> str:
        parts = []
        for spec in self.inputs:
            if spec.columns:
                parts += [f"{c} {spec.sql_type}" for c in spec.columns]
            elif spec.width > 1:
                parts.append(f"{spec.sql_type} x {spec.width}")
            else:
                parts.append(f"{spec.name} {spec.sql_type}")
        result = self.result_type.replace('"', "")
        return f"{self.name}({', '.join(parts)}) -> {result}"

    def describe_inputs(self) -> list[str]:
        lines = []
        for spec in self.inputs:
            shape = f"[N, {spec.width}]" if spec.rank == 2 else "[N]"
            fed = ", ".join(spec.columns) if spec.columns else f"{spec.width} argument(s)"
            lines.append(f"input {spec.name} {spec.elem}{shape} <- {fed}")
        return lines

    def describe_outputs(self) -> list[str]:
        lines = []
        for out in self.outputs:
            what = out.tensor if out.index is None else f"{out.tensor}[:, {out.index}]"
            label = f"{out.field}: " if self.struct else ""
            classes = f" (classes {', '.join(out.labels)})" if out.labels and out.width else ""
            lines.append(f"output {label}{out.sql_type} <- {what}{classes}")
        return lines

    def load_model_bytes(self) -> bytes:
        """The model as onnxruntime loads it (ZipMaps exposed, locale replaced,
        subnormal weights flushed)."""
        data = self.model_path.read_bytes()
        if self.file_sha256 and hashlib.sha256(data).hexdigest() != self.file_sha256:
            raise ExecutionError(
                f"function {self.name!r}: {self.model_path.name} changed since the registry "
                "was read", path=self.yml_path, hint="run the command again")
        if self.session_file is not None:
            try:
                return self.session_file.read_bytes()  # written for this file version
            except OSError:
                pass  # removed meanwhile: rewrite it here
        from predsql.ml.onnx_files import session_bytes

        return session_bytes(data, self.zipmaps, self.locale, self.flush_subnormals)


@dataclass(frozen=True)
class BrokenFunction:
    """A registered function that cannot be used; only the models calling it fail."""

    name: str
    yml_path: str
    error: RegistryError

    def message(self) -> str:
        return self.error.format()
