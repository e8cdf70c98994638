"""The ML function registry: functions/*.yml + ONNX signatures -> MlFunction.

A function whose definition or model file is wrong does not stop the project:
it is recorded as a `BrokenFunction` with its error, `predsql functions` shows
it, and only the models calling it fail. Model signatures come from
`ml/model_info.py` (cached per file version under target/).
"""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from predsql.errors import RegistryError
from predsql.executors.config import check_function_executor
from predsql.ml.model_info import ModelInfo, SignatureCache, TensorInfo, model_info
from predsql.ml.onnx_files import confined_path
from predsql.ml.specs import BrokenFunction, InputSpec, MlFunction, OutputSpec, ZipMapInfo
from predsql.nodes import iter_files
from predsql.project import Project, yaml_renderer
from predsql.text.config import TEXT_KEYS, TextSpec, check_text_keys, text_signature, text_spec
from predsql.text.packages import is_package_path, package_file
from predsql.yamlio import expect_mapping, read_yaml

__all__ = ["BrokenFunction", "InputSpec", "MlFunction", "OutputSpec", "Registry", "load_registry"]

FUNCTION_KEYS = {"name", "description", "model", "inputs", "output", "outputs", "batch_size",
                 "device", "on_null", "cache", "threads", "locale", "executor",
                 "subnormal_weights"} | TEXT_KEYS
INPUT_KEYS = {"name", "type", "columns"}
OUTPUT_KEYS = {"name", "as", "index", "key"}
ONNX_TO_SQL = {
    "float": "FLOAT", "double": "DOUBLE", "float16": "FLOAT", "int64": "BIGINT",
    "int32": "INTEGER", "int16": "SMALLINT", "int8": "TINYINT", "uint8": "UTINYINT",
    "string": "VARCHAR", "bool": "BOOLEAN",
}
DEVICES = ("auto", "cpu", "cuda")
ON_NULL = ("null", "error", "nan")


@dataclass(frozen=True)
class Registry:
    functions: dict[str, MlFunction]
    broken: dict[str, BrokenFunction] = field(default_factory=dict)
    builtins: frozenset[str] = frozenset()  # DuckDB's function names, when they were read

    def get(self, name: str) -> MlFunction | None:
        return self.functions.get(name.lower())

    def broken_function(self, name: str) -> BrokenFunction | None:
        return self.broken.get(name.lower())

    def names(self) -> list[str]:
        return [*self.functions, *self.broken]

    def suggest(self, name: str) -> str | None:
        close = difflib.get_close_matches(name.lower(), self.names(), n=1, cutoff=0.7)
        return close[0] if close else None

    def manifest_entries(self) -> dict[str, Any]:
        entries: dict[str, Any] = {
            f.name: {
                "signature": f.signature(),
                "model": str(f.model_path),
                "fingerprint": f.fingerprint,
                "output_type": f.result_type,
                "arguments": f.argument_names(),
                "device": f.device,
                "cache": f.cache,
                "defined_in": f.yml_path,
            }
            for f in self.functions.values()
        }
        for b in self.broken.values():
            entries[b.name] = {"error": b.message(), "defined_in": b.yml_path}
        return entries


def load_registry(project: Project, builtin_names: set[str] | None = None) -> Registry:
    functions: dict[str, MlFunction] = {}
    broken: dict[str, BrokenFunction] = {}
    cache = SignatureCache(project.target_dir)
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
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                raise RegistryError("every function needs a `name:`", path=rel)
            name = entry["name"].lower()
            if name in functions or name in broken:
                first = functions[name].yml_path if name in functions else broken[name].yml_path
                functions.pop(name, None)
                broken[name] = BrokenFunction(name, str(rel), RegistryError(
                    f"function {name!r} is defined twice (also in {first})", path=rel,
                    line=_line_for(path, entry["name"]), hint="give each function a unique name"))
                continue
            try:
                functions[name] = _load_function(project, path, rel, entry, cache)
            except RegistryError as exc:
                broken[name] = BrokenFunction(name, str(rel), exc)
    builtins: frozenset[str] = frozenset()
    if functions or broken:
        builtins = frozenset(builtin_names) if builtin_names is not None else \
            cache.builtin_functions()
        _check_builtin_clash(functions, broken, builtins)
    cache.save()
    return Registry(functions, broken, builtins)


def _check_builtin_clash(functions: dict[str, MlFunction], broken: dict[str, BrokenFunction],
                         builtins: frozenset[str]) -> None:
    for fn in list(functions.values()):
        if fn.name in builtins:
            del functions[fn.name]
            broken[fn.name] = BrokenFunction(fn.name, fn.yml_path, RegistryError(
                f"function name {fn.name!r} is already a DuckDB function",
                path=fn.yml_path, hint="choose another `name:` for the ML function"))


def _line_for(path: Path, name: str) -> int | None:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if "name:" in line and name in line:
            return number
    return None


def _load_function(project: Project, path: Path, rel: Path, entry: dict[str, Any],
                   cache: SignatureCache) -> MlFunction:
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
    if on_null not in ON_NULL:
        raise fail(f"on_null {on_null!r} must be `null`, `error` or `nan`")
    if "executor" in entry:
        check_function_executor(entry["executor"], fail)
    batch_size = entry.get("batch_size")
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise fail("batch_size must be a positive integer")
    locale = entry.get("locale")
    if locale is not None and not isinstance(locale, str):
        raise fail("locale must be a locale name such as C or C.UTF-8")
    subnormals = str(entry.get("subnormal_weights", "flush"))
    if subnormals not in ("flush", "keep"):
        raise fail(f"subnormal_weights {subnormals!r} must be `flush` or `keep`")

    model_path = _project_file(project.root, path.parent, entry["model"], "model file", rel)
    try:
        info = model_info(cache, project.root, model_path, rel, locale)
    except RegistryError as exc:
        exc.message = f"function {name!r}: {exc.message}"
        exc.line = line
        raise
    check_text_keys(entry, fail)
    if "output" in entry and "outputs" in entry:
        raise fail("give `output:` (one value) or `outputs:` (a STRUCT), not both")
    struct = "outputs" in entry
    text = None
    if "tokenizer" in entry:
        text, inputs, output = _text_function(project, path, rel, entry, info, fail)
        outputs = (output,)
    else:
        inputs = _inputs(info, entry.get("inputs"), fail)
        outputs = _outputs(info, entry.get("outputs"), fail) if struct else (
            _output(info, entry.get("output"), fail),)
    fixed_batch = _fixed_batch(info, batch_size, fail)
    if on_null == "nan" and not any(i.sql_type in ("FLOAT", "DOUBLE") for i in inputs):
        raise fail("on_null: nan passes NULL as NaN to float inputs, and this model has none",
                   "use on_null: null or error")
    config = {k: v for k, v in entry.items() if k not in ("description",)}
    flush = subnormals == "flush" and info.subnormal_weights > 0
    digest = hashlib.sha256(f"{info.sha256}:{info.external_sha256}:".encode())
    if text is not None:
        digest.update(text.digest.encode())
    scored = {k: v for k, v in config.items() if k != "executor"}  # where it runs: same results
    digest.update(json.dumps(scored, sort_keys=True, default=str).encode())
    return MlFunction(
        name=name.lower(),
        description=str(entry.get("description", "")),
        yml_path=str(rel),
        model_path=model_path,
        inputs=inputs,
        outputs=outputs,
        struct=struct,
        batch_size=batch_size,
        device=device,
        on_null=on_null,
        cache=bool(entry.get("cache", False)),
        threads=entry.get("threads"),
        fingerprint=digest.hexdigest(),
        config=config,
        file_sha256=info.sha256,
        fixed_batch=fixed_batch,
        zipmaps=info.zipmaps,
        locale=locale,
        custom_ops=info.custom_ops,
        external_data=info.external_data,
        text=text,
        flush_subnormals=flush,
        session_file=cache.session_file(model_path, info, info.zipmaps, locale, flush),
    )


def _project_file(root: Path, base: Path, value: str, what: str, yml: Path) -> Path:
    """A file inside the project, or inside an installed package (package://name/path)."""
    if is_package_path(value):
        return package_file(value, yml, what)
    return confined_path(root, base, value, what, yml)


def _text_function(project: Project, path: Path, rel: Path, entry: dict[str, Any],
                   info: ModelInfo, fail: Any
                   ) -> tuple[TextSpec, tuple[InputSpec, ...], OutputSpec]:
    """A function over token tensors: VARCHAR argument(s) in, FLOAT[d] (or FLOAT) out."""
    if entry.get("inputs") is not None or entry.get("outputs") is not None:
        raise fail("`inputs:` and `outputs:` do not apply to text functions (the graph's token "
                   "inputs are fed by name)")
    if not isinstance(entry.get("tokenizer"), str):
        raise fail("`tokenizer:` must be the path of a tokenizer.json")
    tokenizer = _project_file(project.root, path.parent, entry["tokenizer"], "tokenizer file", rel)
    if not tokenizer.is_file():
        raise fail(f"tokenizer file {entry['tokenizer']!r} does not exist",
                   "fix `tokenizer:` (relative to this .yml file) or add the file")
    spec = text_spec(entry, tokenizer, info, fail)
    names, sql_type = text_signature(spec)
    inputs = tuple(InputSpec(n, "string", "VARCHAR", 1, 1, (n,)) for n in names)
    output = OutputSpec(spec.output_tensor, spec.output_tensor, "float", sql_type, spec.width, None)
    return spec, inputs, output


def _elem(onnx_type: str) -> str:
    return onnx_type[len("tensor("):-1] if onnx_type.startswith("tensor(") else onnx_type


def _width(shape: tuple[Any, ...]) -> int | None:
    """Columns of an [N] / [N, k] shape; None when k is not fixed."""
    if len(shape) <= 1:
        return 1
    if len(shape) == 2:
        return shape[1] if isinstance(shape[1], int) else None
    return None


def _declared_inputs(info: ModelInfo, declared: Any, fail: Any) -> list[dict[str, Any]]:
    graph = [t.name for t in info.inputs]
    if declared is None:
        return [{"name": n} for n in graph]
    if not isinstance(declared, list):
        raise fail("`inputs:` must be a list of {name, type, columns}")
    items = [d if isinstance(d, dict) else {"name": d} for d in declared]
    for item in items:
        unknown = set(item) - INPUT_KEYS
        if unknown:
            raise fail(f"unknown key `{sorted(unknown)[0]}` in `inputs:`",
                       "each input takes `name`, `type` and `columns`")
    names = [item.get("name") for item in items]
    missing = [n for n in names if n not in graph]
    if missing:
        raise fail(f"input {missing[0]!r} is not in the model; its inputs are {', '.join(graph)}")
    left_out = [n for n in graph if n not in names]
    if left_out:
        raise fail(f"`inputs:` leaves out model input {left_out[0]!r}")
    if len(set(names)) != len(names):
        raise fail("`inputs:` names an input twice")
    return items


def _inputs(info: ModelInfo, declared: Any, fail: Any) -> tuple[InputSpec, ...]:
    graph = {t.name: t for t in info.inputs}
    specs = []
    for item in _declared_inputs(info, declared, fail):
        specs.append(_input(graph[item["name"]], item, fail))
    names = [n for s in specs for n in s.argument_names() if n]
    seen = {n for n in names if names.count(n) > 1}
    if seen:
        raise fail(f"argument name {sorted(seen)[0]!r} appears twice in `columns:`")
    return tuple(specs)


def _input(info: TensorInfo, item: dict[str, Any], fail: Any) -> InputSpec:
    name, shape = info.name, info.shape
    elem = _elem(info.type)
    if elem not in ONNX_TO_SQL:
        raise fail(f"input {name!r} has type {info.type}, which predsql cannot feed")
    if len(shape) > 2:
        raise fail(f"input {name!r} has shape {list(shape)}; predsql feeds [N] and [N, k] inputs",
                   "re-export the model with inputs of rank 1 or 2 (batch first)")
    columns = item.get("columns")
    if columns is not None:
        if (not isinstance(columns, list) or not columns
                or not all(isinstance(c, str) and c.isidentifier() for c in columns)):
            raise fail(f"`columns:` of input {name!r} must be a list of argument names "
                       "(SQL identifiers)")
        width = _width(shape)
        if width is not None and width != len(columns):
            raise fail(f"input {name!r} has {width} column(s) (shape {list(shape)}) but "
                       f"`columns:` lists {len(columns)}")
    width = len(columns) if columns else _width(shape)
    if width is None:
        raise fail(f"input {name!r} has shape {list(shape)}: its number of columns is not "
                   "fixed", f"list the arguments that feed it: inputs: [{{name: {name}, "
                   "columns: [a, b, ...]}]")
    sql_type = str(item["type"]).upper() if item.get("type") else ONNX_TO_SQL[elem]
    names = tuple(columns) if columns else ((name,) if width == 1 and name.isidentifier() else ())
    return InputSpec(name, elem, sql_type, width, max(1, len(shape)), names)


def _fixed_batch(info: ModelInfo, batch_size: int | None, fail: Any) -> int | None:
    fixed = {t.shape[0] for t in info.inputs if t.shape and isinstance(t.shape[0], int)}
    if not fixed:
        return None
    size = max(fixed)
    tensor = next(t for t in info.inputs if t.shape and t.shape[0] == size)
    if len(fixed) > 1 or batch_size != size:
        names = [t.name for t in info.inputs]
        axes = ", ".join(f"'{n}': {{0: 'batch'}}" for n in names[:2])
        raise fail(
            f"input {tensor.name!r} has a fixed batch dimension (shape {list(tensor.shape)}): "
            f"onnxruntime accepts exactly {size} row(s) per call",
            f"re-export with a dynamic batch axis, e.g. torch.onnx.export(..., dynamo=False, "
            f"dynamic_axes={{{axes}, <outputs>: {{0: 'batch'}}}}) or, with dynamo=True, "
            f"dynamic_shapes=...; or set `batch_size: {size}` to feed exactly {size} row(s) per "
            "call (slow for small sizes)")
    return size


def _outputs(info: ModelInfo, declared: Any, fail: Any) -> tuple[OutputSpec, ...]:
    if not isinstance(declared, list) or not declared:
        raise fail("`outputs:` must be a list of outputs, e.g. [label, {name: probabilities, "
                   "index: 1, as: probability}]")
    specs = []
    for item in declared:
        item = {"name": item} if isinstance(item, str) else item
        if not isinstance(item, dict) or "name" not in item:
            raise fail("each entry of `outputs:` needs a `name:` (an ONNX output)")
        unknown = set(item) - OUTPUT_KEYS
        if unknown:
            raise fail(f"unknown key `{sorted(unknown)[0]}` in `outputs:`",
                       "each output takes `name`, `as`, `index` and `key`")
        field_name = str(item.get("as") or item["name"])
        if not field_name.isidentifier():
            raise fail(f"output {item['name']!r} needs `as:` with a SQL identifier to name its "
                       "STRUCT field")
        specs.append(_output(info, item, fail, field_name))
    fields = [s.field for s in specs]
    twice = [f for f in fields if fields.count(f) > 1]
    if twice:
        raise fail(f"two outputs are called {twice[0]!r}", "name them apart with `as:`")
    return tuple(specs)


def _output(info: ModelInfo, declared: Any, fail: Any, field_name: str = "") -> OutputSpec:
    outputs = {o.name: o for o in info.outputs}
    zipmaps = {z.output: z for z in info.zipmaps}
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
    index, key = declared.get("index"), declared.get("key")
    zipmap = zipmaps.get(name)
    labels: tuple[str, ...] = ()
    if zipmap is not None:
        index = _zipmap_index(zipmap, key, index, name, fail)
        tensor, elem, width, labels = zipmap.tensor, "float", len(zipmap.labels), zipmap.labels
    else:
        if key is not None:
            raise fail(f"`key:` applies to ZipMap outputs only; {name!r} is a tensor")
        info_out = outputs[name]
        elem = _elem(info_out.type)
        if elem not in ONNX_TO_SQL:
            raise fail(f"output {name!r} has type {info_out.type}, which predsql cannot read")
        tensor, width = name, _width(info_out.shape)
        if len(info_out.shape) > 2:
            raise fail(f"output {name!r} has shape {list(info_out.shape)}; predsql reads [N] and "
                       "[N, k] outputs", "flatten or pool it in the model before exporting")
        if width is None and index is None:
            raise fail(f"output {name!r} has shape {list(info_out.shape)}; pick a column with "
                       "`index:`")
    if index is not None:
        if not isinstance(index, int) or index < 0 or (width is not None and index >= width):
            raise fail(f"output index {index!r} is out of range for {name!r} "
                       f"(0..{(width or 1) - 1})")
        return OutputSpec(name, tensor, elem, ONNX_TO_SQL[elem], None, index, field_name)
    if width == 1:
        return OutputSpec(name, tensor, elem, ONNX_TO_SQL[elem], None, None, field_name)
    return OutputSpec(name, tensor, elem, f"{ONNX_TO_SQL[elem]}[{width}]", width, None,
                      field_name, labels)


def _zipmap_index(zipmap: ZipMapInfo, key: Any, index: Any, name: str, fail: Any) -> int | None:
    if key is None:
        return index
    if str(key) not in zipmap.labels:
        raise fail(f"output {name!r} has no class {key!r}",
                   f"its classes are: {', '.join(zipmap.labels)}")
    return zipmap.labels.index(str(key))
