"""The ML function registry: functions/*.yml + ONNX graphs -> typed signatures."""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnxruntime as ort

from predsql.errors import RegistryError
from predsql.ml.onnx_files import ZipMapInfo, confined_path, expose_zipmaps, read_model
from predsql.nodes import iter_files
from predsql.project import Project, yaml_renderer
from predsql.text.config import TEXT_KEYS, TextSpec, check_text_keys, text_signature, text_spec
from predsql.text.packages import is_package_path, package_file
from predsql.yamlio import expect_mapping, read_yaml

FUNCTION_KEYS = {"name", "description", "model", "inputs", "output", "batch_size", "device",
                 "on_null", "cache", "threads"} | TEXT_KEYS
ONNX_TO_SQL = {
    "float": "FLOAT", "double": "DOUBLE", "float16": "FLOAT", "int64": "BIGINT",
    "int32": "INTEGER", "int16": "SMALLINT", "int8": "TINYINT", "uint8": "UTINYINT",
    "string": "VARCHAR", "bool": "BOOLEAN",
}
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class InputSpec:
    name: str  # ONNX input name
    elem: str  # ONNX element type, e.g. "float"
    sql_type: str  # the DuckDB type each argument is cast to
    width: int  # columns this input takes (k for a stacked [N, k] input)
    rank: int = 2  # 1 for an [N] input, 2 for [N, k]


@dataclass(frozen=True)
class OutputSpec:
    name: str  # the declared output (what the user named)
    tensor: str  # the tensor fetched from onnxruntime
    elem: str
    sql_type: str
    width: int | None  # k for an array output
    index: int | None  # column picked from an [N, k] output


@dataclass(frozen=True)
class MlFunction:
    name: str
    description: str
    yml_path: str
    model_path: Path
    inputs: tuple[InputSpec, ...]
    output: OutputSpec
    batch_size: int | None
    device: str
    on_null: str
    cache: bool
    threads: int | None
    fingerprint: str
    config: dict[str, Any]
    model_bytes: bytes = field(repr=False, compare=False, default=b"")
    zipmap: ZipMapInfo | None = None
    text: TextSpec | None = None  # a text function: tokenizer, pooling (predsql/text)

    @property
    def arity(self) -> int:
        return sum(i.width for i in self.inputs)

    @property
    def stacked(self) -> bool:
        """One [N, k] input fed by k arguments stacked as columns."""
        return len(self.inputs) == 1

    def arg_types(self) -> list[str]:
        return [i.sql_type for i in self.inputs for _ in range(i.width)]

    def signature(self) -> str:
        if self.stacked and self.inputs[0].width > 1:
            args = f"{self.inputs[0].sql_type} x {self.inputs[0].width}"
        else:
            args = ", ".join(f"{i.name} {i.sql_type}" for i in self.inputs)
        return f"{self.name}({args}) -> {self.output.sql_type}"


@dataclass(frozen=True)
class Registry:
    functions: dict[str, MlFunction]

    def get(self, name: str) -> MlFunction | None:
        return self.functions.get(name.lower())

    def suggest(self, name: str) -> str | None:
        close = difflib.get_close_matches(name.lower(), list(self.functions), n=1, cutoff=0.7)
        return close[0] if close else None

    def manifest_entries(self) -> dict[str, Any]:
        return {
            f.name: {
                "signature": f.signature(),
                "model": str(f.model_path),
                "fingerprint": f.fingerprint,
                "output_type": f.output.sql_type,
                "device": f.device,
                "cache": f.cache,
                "defined_in": f.yml_path,
            }
            for f in self.functions.values()
        }


def load_registry(project: Project, builtin_names: set[str] | None = None) -> Registry:
    functions: dict[str, MlFunction] = {}
    render = yaml_renderer(project.vars, project.target.as_context())
    files = iter_files(project.root, project.function_paths, ".yml")
    files += iter_files(project.root, project.function_paths, ".yaml")
    for path in files:
        data = expect_mapping(read_yaml(path, render), path, "a function registry file")
        entries = data.get("functions") or []
        if not isinstance(entries, list):
            raise RegistryError("`functions:` must be a list", path=path)
        rel = path.relative_to(project.root)
        for entry in entries:
            fn = _load_function(project, path, rel, entry)
            if fn.name in functions:
                raise RegistryError(
                    f"function {fn.name!r} is defined twice (also in {functions[fn.name].yml_path})",
                    path=rel, hint="give each function a unique name",
                )
            functions[fn.name] = fn
    if functions:
        _check_builtin_clash(functions, builtin_names)
    return Registry(functions)


def _check_builtin_clash(functions: dict[str, MlFunction], builtins: set[str] | None) -> None:
    if builtins is None:
        import duckdb

        with duckdb.connect() as con:
            rows = con.execute("SELECT DISTINCT lower(function_name) FROM duckdb_functions()")
            builtins = {r[0] for r in rows.fetchall()}
    for fn in functions.values():
        if fn.name in builtins:
            raise RegistryError(
                f"function name {fn.name!r} is already a DuckDB function",
                path=fn.yml_path, hint="choose another `name:` for the ML function",
            )


def _line_for(path: Path, name: str) -> int | None:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if "name:" in line and name in line:
            return number
    return None


def _load_function(project: Project, path: Path, rel: Path, entry: Any) -> MlFunction:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise RegistryError("every function needs a `name:`", path=rel)
    name = entry["name"]
    line = _line_for(path, name)

    def fail(message: str, hint: str | None = None) -> RegistryError:
        return RegistryError(f"function {name!r}: {message}", path=rel, line=line, hint=hint)

    unknown = set(entry) - FUNCTION_KEYS
    if unknown:
        key = sorted(unknown)[0]
        close = difflib.get_close_matches(key, sorted(FUNCTION_KEYS), n=1)
        raise fail(f"unknown key `{key}`", f"did you mean `{close[0]}`?" if close else None)
    if not name.isidentifier():
        raise fail("the name must be a SQL identifier (letters, digits, _)")
    if not isinstance(entry.get("model"), str):
        raise fail("`model:` (path to the .onnx file) is required")
    device = str(entry.get("device", "auto"))
    if device not in DEVICES:
        raise fail(f"device {device!r} is not one of {', '.join(DEVICES)}")
    on_null = str(entry.get("on_null", "null"))
    if on_null not in ("null", "error"):
        raise fail(f"on_null {on_null!r} must be `null` or `error`")
    batch_size = entry.get("batch_size")
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise fail("batch_size must be a positive integer")

    model_path = _project_file(project.root, path.parent, entry["model"], "model file", rel)
    try:
        data, model = read_model(project.root, model_path, rel)
    except RegistryError as exc:
        exc.message = f"function {name!r}: {exc.message}"
        exc.line = line
        raise
    zipmaps = expose_zipmaps(model)
    model_bytes = model.SerializeToString() if zipmaps else data
    session = _metadata_session(model_bytes, model_path, fail)
    check_text_keys(entry, fail)
    text = None
    if "tokenizer" in entry:
        text, inputs, output, zipmap = _text_function(project, path, rel, entry, session, fail)
    else:
        inputs = _inputs(session, entry.get("inputs"), fail)
        output, zipmap = _output(session, entry.get("output"), zipmaps, fail)
    config = {k: v for k, v in entry.items() if k not in ("description",)}
    digest = hashlib.sha256(data)
    if text is not None:
        digest.update(text.digest.encode())
    digest.update(json.dumps(config, sort_keys=True, default=str).encode())
    return MlFunction(
        name=name.lower(),
        description=str(entry.get("description", "")),
        yml_path=str(rel),
        model_path=model_path,
        inputs=inputs,
        output=output,
        batch_size=batch_size,
        device=device,
        on_null=on_null,
        cache=bool(entry.get("cache", False)),
        threads=entry.get("threads"),
        fingerprint=digest.hexdigest(),
        config=config,
        model_bytes=model_bytes,
        zipmap=zipmap,
        text=text,
    )


def _project_file(root: Path, base: Path, value: str, what: str, yml: Path) -> Path:
    """A file inside the project, or inside an installed package (package://name/path)."""
    if is_package_path(value):
        return package_file(value, yml, what)
    return confined_path(root, base, value, what, yml)


def _text_function(project: Project, path: Path, rel: Path, entry: dict[str, Any],
                   session: ort.InferenceSession, fail: Any
                   ) -> tuple[TextSpec, tuple[InputSpec, ...], OutputSpec, None]:
    """A function over token tensors: VARCHAR argument(s) in, FLOAT[d] (or FLOAT) out."""
    if entry.get("inputs") is not None:
        raise fail("`inputs:` does not apply to text functions (the graph's token inputs are "
                   "fed by name)")
    if not isinstance(entry.get("tokenizer"), str):
        raise fail("`tokenizer:` must be the path of a tokenizer.json")
    tokenizer = _project_file(project.root, path.parent, entry["tokenizer"], "tokenizer file", rel)
    if not tokenizer.is_file():
        raise fail(f"tokenizer file {entry['tokenizer']!r} does not exist",
                   "fix `tokenizer:` (relative to this .yml file) or add the file")
    spec = text_spec(entry, tokenizer, session, fail)
    names, sql_type = text_signature(spec)
    inputs = tuple(InputSpec(n, "string", "VARCHAR", 1, 1) for n in names)
    output = OutputSpec(spec.output_tensor, spec.output_tensor, "float", sql_type, spec.width, None)
    return spec, inputs, output, None


def _metadata_session(model_bytes: bytes, model_path: Path, fail: Any) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        text = str(exc).split("\n")[0]
        hint = "re-export the model"
        if "opset" in text.lower() or "version" in text.lower():
            hint = (f"this onnxruntime ({ort.__version__}) cannot run this opset; re-export "
                    "with a lower target_opset or upgrade onnxruntime")
        raise fail(f"onnxruntime cannot load {model_path.name}: {text}", hint) from exc


def _elem(onnx_type: str) -> str:
    return onnx_type[len("tensor("):-1] if onnx_type.startswith("tensor(") else onnx_type


def _width(shape: list[Any]) -> int | None:
    """Columns of an [N] / [N, k] shape; None when k is not fixed."""
    if len(shape) <= 1:
        return 1
    if len(shape) == 2:
        return shape[1] if isinstance(shape[1], int) else None
    return None


def _inputs(session: ort.InferenceSession, declared: Any, fail: Any) -> tuple[InputSpec, ...]:
    graph = {i.name: i for i in session.get_inputs()}
    order = list(graph)
    overrides: dict[str, str] = {}
    if declared is not None:
        if not isinstance(declared, list):
            raise fail("`inputs:` must be a list of {name, type}")
        names = [d.get("name") if isinstance(d, dict) else d for d in declared]
        missing = [n for n in names if n not in graph]
        if missing:
            raise fail(f"input {missing[0]!r} is not in the model; its inputs are "
                       f"{', '.join(order)}")
        left_out = [n for n in order if n not in names]
        if left_out:
            raise fail(f"`inputs:` leaves out model input {left_out[0]!r}")
        order = names
        overrides = {d["name"]: str(d["type"]) for d in declared
                     if isinstance(d, dict) and d.get("type")}
    specs = []
    for name in order:
        info = graph[name]
        elem = _elem(info.type)
        if elem not in ONNX_TO_SQL:
            raise fail(f"input {name!r} has type {info.type}, which predsql cannot feed")
        width = _width(list(info.shape))
        if width is None or (len(graph) > 1 and width != 1):
            raise fail(
                f"input {name!r} has shape {info.shape}; expected [N, k] with a fixed k "
                "(one input) or [N] / [N, 1] (one input per column)"
            )
        specs.append(InputSpec(name, elem, overrides.get(name, ONNX_TO_SQL[elem]), width,
                               max(1, len(info.shape))))
    return tuple(specs)


def _output(
    session: ort.InferenceSession, declared: Any, zipmaps: dict[str, ZipMapInfo], fail: Any
) -> tuple[OutputSpec, ZipMapInfo | None]:
    outputs = {o.name: o for o in session.get_outputs()}
    public = [name for name in outputs if name not in {z.tensor for z in zipmaps.values()}]
    if declared is None:
        declared = {}
    if isinstance(declared, str):
        declared = {"name": declared}
    if not isinstance(declared, dict):
        raise fail("`output:` must be a mapping with `name` and optional `index`/`key`")
    name = declared.get("name", public[0])
    if name not in outputs:
        raise fail(f"the model has no output {name!r}", f"its outputs are: {', '.join(public)}")
    index = declared.get("index")
    key = declared.get("key")
    zipmap = zipmaps.get(name)
    if zipmap is not None:
        if key is not None:
            if str(key) not in zipmap.labels:
                raise fail(f"output {name!r} has no class {key!r}",
                           f"its classes are: {', '.join(zipmap.labels)}")
            index = zipmap.labels.index(str(key))
        if index is None:
            raise fail(f"output {name!r} is a ZipMap (one probability per class)",
                       f"pick a class with `index:` (0..{len(zipmap.labels) - 1}) or `key:`")
        tensor, elem, width = zipmap.tensor, "float", len(zipmap.labels)
    else:
        if key is not None:
            raise fail(f"`key:` applies to ZipMap outputs only; {name!r} is a tensor")
        info = outputs[name]
        elem = _elem(info.type)
        if elem not in ONNX_TO_SQL:
            raise fail(f"output {name!r} has type {info.type}, which predsql cannot read")
        tensor, width = name, _width(list(info.shape))
        if width is None and index is None:
            raise fail(f"output {name!r} has shape {info.shape}; pick a column with `index:`")
    if index is not None:
        if not isinstance(index, int) or index < 0 or (width is not None and index >= width):
            raise fail(f"output index {index!r} is out of range for {name!r} "
                       f"(0..{(width or 1) - 1})")
        sql_type, out_width = ONNX_TO_SQL[elem], None
    elif width == 1:
        sql_type, out_width = ONNX_TO_SQL[elem], None
    else:
        sql_type, out_width = f"{ONNX_TO_SQL[elem]}[{width}]", width
    return OutputSpec(name, tensor, elem, sql_type, out_width, index), zipmap
