"""Model cards: what an ONNX file and the ML function built on it are.

Read through the registry's public dataclasses (`MlFunction`, `InputSpec`,
`OutputSpec`) and the ONNX file's own header (producer, opset, graph inputs and
outputs); weights stored in external files are not loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx

from predsql.executors.config import ExecutorConfig
from predsql.ml.registry import MlFunction, Registry


@dataclass(frozen=True)
class OnnxFacts:
    path: str  # relative to the project
    size_bytes: int
    producer: str
    producer_version: str
    ir_version: int
    opsets: tuple[tuple[str, int], ...]  # (domain, version); "" is the default domain
    inputs: tuple[dict[str, Any], ...]
    outputs: tuple[dict[str, Any], ...]
    doc: str
    metadata: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path, "size_bytes": self.size_bytes, "producer": self.producer,
            "producer_version": self.producer_version, "ir_version": self.ir_version,
            "opsets": [{"domain": d or "ai.onnx", "version": v} for d, v in self.opsets],
            "inputs": list(self.inputs), "outputs": list(self.outputs), "doc": self.doc,
            "metadata": self.metadata,
        }


def _tensor_type(value: onnx.ValueInfoProto) -> dict[str, Any]:
    kind = value.type.WhichOneof("value")
    if kind == "tensor_type":
        tensor = value.type.tensor_type
        elem = onnx.helper.tensor_dtype_to_string(tensor.elem_type).replace("TensorProto.", "")
        dims = [d.dim_param or (d.dim_value if d.HasField("dim_value") else "?")
                for d in tensor.shape.dim] if tensor.HasField("shape") else []
        return {"name": value.name, "type": f"tensor({elem.lower()})", "shape": dims}
    return {"name": value.name, "type": kind.replace("_type", "") if kind else "unknown",
            "shape": []}


def onnx_facts(path: Path, shown_as: str) -> OnnxFacts:
    model = onnx.load(str(path), load_external_data=False)
    graph = model.graph
    initializers = {t.name for t in graph.initializer}
    return OnnxFacts(
        path=shown_as,
        size_bytes=path.stat().st_size,
        producer=model.producer_name,
        producer_version=model.producer_version,
        ir_version=int(model.ir_version),
        opsets=tuple((o.domain, int(o.version)) for o in model.opset_import),
        inputs=tuple(_tensor_type(v) for v in graph.input if v.name not in initializers),
        outputs=tuple(_tensor_type(v) for v in graph.output),
        doc=model.doc_string,
        metadata={p.key: p.value for p in model.metadata_props},
    )


def definition_line(yml: Path, name: str) -> int | None:
    """The line of `- name: <name>` in a registry file."""
    try:
        lines = yml.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for number, line in enumerate(lines, start=1):
        key, _, value = line.strip().lstrip("-").strip().partition(":")
        if key.strip() == "name" and value.strip().strip("'\"").lower() == name:
            return number
    return None


def model_file(fn: MlFunction, root: Path) -> str:
    """The ONNX file relative to the project, or as registered when it lives elsewhere
    (e.g. package://name/model.onnx)."""
    try:
        return str(fn.model_path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(fn.config.get("model") or fn.model_path)


def _shown_path(path: str, root: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(root.resolve()))
    except (ValueError, OSError):
        return path


def _text_settings(fn: MlFunction, root: Path) -> dict[str, Any] | None:
    text = fn.text
    if text is None:
        return None
    return {"tokenizer": _shown_path(text.tokenizer_file, root), "max_length": text.max_length,
            "pooling": text.pooling, "normalize": text.normalize, "pair": text.pair}


def _executor(fn: MlFunction, executors: ExecutorConfig) -> dict[str, Any]:
    """Where the function's batches run: this process, or Ray with its settings."""
    choice = executors.for_function(fn.config.get("executor"), fn.yml_path, fn.name)
    if choice.kind != "ray":
        return {"kind": choice.kind}
    ray = choice.ray
    return {"kind": "ray", "actors": [ray.actors_min, ray.actors_max],
            "num_cpus_per_actor": ray.num_cpus_per_actor,
            "num_gpus_per_actor": ray.num_gpus_per_actor, "batch_size": ray.batch_size}


def _outputs(fn: MlFunction) -> list[dict[str, Any]]:
    """Each value a call returns; `labels`: the classes of a ZipMap's probabilities (the
    one picked by `index`, or all of them in the array's order)."""
    classes = {z.tensor: z.labels for z in fn.zipmaps}
    return [{"name": o.name, "tensor": o.tensor, "elem": o.elem, "sql_type": o.sql_type,
             "width": o.width, "index": o.index, "field": o.field,
             "labels": list(o.labels or classes.get(o.tensor, ()))} for o in fn.outputs]


def function_card(fn: MlFunction, root: Path,
                  executors: ExecutorConfig | None = None) -> dict[str, Any]:
    """The registry's view of one function: signature, inputs, outputs, settings."""
    return {
        "name": fn.name,
        "description": fn.description,
        "defined_in": fn.yml_path,
        "defined_line": definition_line(root / fn.yml_path, fn.name),
        "model_file": model_file(fn, root),
        "text": _text_settings(fn, root),
        "fingerprint": fn.fingerprint,
        "signature": fn.signature(),
        "result_type": fn.result_type,
        "struct": fn.struct,  # `outputs:`: the call returns a STRUCT of the outputs
        "inputs": [
            {"name": i.name, "elem": i.elem, "sql_type": i.sql_type, "width": i.width,
             "shape": ["N", i.width] if i.rank == 2 else ["N"], "columns": list(i.columns)}
            for i in fn.inputs
        ],
        "outputs": _outputs(fn),
        "settings": {
            "batch_size": fn.batch_size, "device": fn.device, "cache": fn.cache,
            "on_null": fn.on_null, "threads": fn.threads,
            "executor": _executor(fn, executors or ExecutorConfig()),
        },
    }


def registry_cards(registry: Registry, root: Path, executors: ExecutorConfig | None = None,
                   ) -> tuple[dict[str, dict[str, Any]], dict[str, OnnxFacts]]:
    """Cards of every function, and the facts of every ONNX file they use (read once)."""
    cards: dict[str, dict[str, Any]] = {}
    files: dict[str, OnnxFacts] = {}
    for fn in registry.functions.values():
        card = function_card(fn, root, executors)
        if card["model_file"] not in files:
            files[card["model_file"]] = onnx_facts(fn.model_path, card["model_file"])
        cards[fn.name] = card
    return cards, files


def broken_functions(registry: Registry) -> dict[str, dict[str, str]]:
    """Functions the registry could not load (when it keeps them), with their error."""
    return {name: {"defined_in": str(b.yml_path), "error": b.message()}
            for name, b in registry.broken.items()}
