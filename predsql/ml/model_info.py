"""What the registry needs from an ONNX file, read once per file version.

`inspect_model` parses the file, checks that onnxruntime loads it and records
its inputs and outputs as onnxruntime sees them. The result is cached in
`target/predsql_model_signatures.json`, keyed by the files' size, mtime,
ctime and inode, so `ls`, `compile` and `functions` do not re-read large
models; a changed file (or another onnxruntime version) is inspected again.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import onnxruntime as ort

from predsql.errors import RegistryError
from predsql.ml import load_errors
from predsql.ml.onnx_files import (
    expose_zipmaps,
    external_files,
    read_model,
    session_bytes,
    set_locale,
    subnormal_weights,
)
from predsql.ml.specs import ZipMapInfo

CACHE_FILE = "predsql_model_signatures.json"
SESSION_MODELS = "predsql_session_models"  # rewritten models, by file version
CACHE_VERSION = 2  # 2: subnormal_weights


@dataclass(frozen=True)
class TensorInfo:
    name: str
    type: str  # onnxruntime's type string, e.g. "tensor(float)"
    shape: tuple[int | str | None, ...]


@dataclass(frozen=True)
class ModelInfo:
    sha256: str  # of the model file
    external_sha256: str  # of its external data files, in order ("" when none)
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]  # ZipMap probability tensors included
    zipmaps: tuple[ZipMapInfo, ...]
    custom_ops: tuple[str, ...]
    files: tuple[str, ...]  # the model file, then its external data files
    subnormal_weights: int = 0  # subnormal values in its float initializers

    @property
    def external_data(self) -> bool:
        return len(self.files) > 1

    def get_inputs(self) -> list[TensorInfo]:
        """As an onnxruntime session's (for code that reads either)."""
        return list(self.inputs)

    def get_outputs(self) -> list[TensorInfo]:
        return list(self.outputs)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelInfo:
        return cls(
            sha256=data["sha256"],
            external_sha256=data["external_sha256"],
            inputs=tuple(TensorInfo(t["name"], t["type"], tuple(t["shape"])) for t in data["inputs"]),
            outputs=tuple(TensorInfo(t["name"], t["type"], tuple(t["shape"]))
                          for t in data["outputs"]),
            zipmaps=tuple(ZipMapInfo(z["output"], z["tensor"], tuple(z["labels"]))
                          for z in data["zipmaps"]),
            custom_ops=tuple(data["custom_ops"]),
            files=tuple(data["files"]),
            subnormal_weights=int(data.get("subnormal_weights", 0)),
        )


def session_options(threads: int, custom_ops: tuple[str, ...] = (),
                    external_dir: Path | None = None) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    for package in custom_ops:
        module = __import__(package)
        options.register_custom_ops_library(module.get_library_path())
    if external_dir is not None:  # a model loaded from bytes finds its external data here
        options.add_session_config_entry("session.model_external_initializers_file_folder_path",
                                         str(external_dir))
    return options


def inspect_model(root: Path, model_path: Path, yml: Path, locale: str | None) -> ModelInfo:
    """Read, check and describe one model file (the slow path the cache avoids)."""
    data, model = read_model(root, model_path, yml)
    externals = [model_path.parent / f for f in external_files(model)]
    external = hashlib.sha256()
    for path in externals:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                external.update(chunk)
    zipmaps = tuple(expose_zipmaps(model).values())
    if locale:
        set_locale(model, locale)
    custom_ops, problem = load_errors.custom_op_packages(model)
    if problem:
        raise RegistryError(problem, path=yml,
                            hint="export the model without custom operators, or install what "
                            "provides them")
    session_data = model.SerializeToString() if zipmaps or locale else data
    try:
        session = ort.InferenceSession(
            session_data, session_options(1, custom_ops, model_path.parent if externals else None),
            providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        message, hint = load_errors.explain(exc, model, model_path.name)
        raise RegistryError(message, path=yml, hint=hint) from exc
    return ModelInfo(
        sha256=hashlib.sha256(data).hexdigest(),
        external_sha256=external.hexdigest() if externals else "",
        inputs=tuple(TensorInfo(i.name, i.type, tuple(i.shape)) for i in session.get_inputs()),
        outputs=tuple(TensorInfo(o.name, o.type, tuple(o.shape)) for o in session.get_outputs()),
        zipmaps=zipmaps,
        custom_ops=custom_ops,
        files=(str(model_path), *(str(p.resolve()) for p in externals)),
        subnormal_weights=subnormal_weights(model),
    )


def _stat(path: str) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


class SignatureCache:
    """ModelInfo per (model file, locale), valid while the files' stat is unchanged."""

    def __init__(self, target_dir: Path | None) -> None:
        self.path = target_dir / CACHE_FILE if target_dir is not None else None
        self.entries: dict[str, Any] = {}
        self.changed = False
        if self.path is None or not self.path.is_file():
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if data.get("version") == CACHE_VERSION and data.get("onnxruntime") == ort.__version__:
            self.entries = data.get("entries", {})

    @staticmethod
    def _key(model_path: Path, locale: str | None) -> str:
        return f"{model_path}|{locale or ''}"

    def builtin_functions(self) -> frozenset[str]:
        """DuckDB's function names (what ML functions may not shadow), kept per DuckDB
        version: listing them costs a connection and a catalog query."""
        import duckdb

        stored = self.entries.get("__duckdb_functions__")
        if stored and stored.get("version") == duckdb.__version__:
            return frozenset(stored["names"])
        with duckdb.connect() as con:
            rows = con.execute("SELECT DISTINCT lower(function_name) FROM duckdb_functions()")
            names = frozenset(r[0] for r in rows.fetchall())
        self.entries["__duckdb_functions__"] = {"version": duckdb.__version__,
                                                "names": sorted(names)}
        self.changed = True
        return names

    def lookup(self, model_path: Path, locale: str | None) -> ModelInfo | None:
        entry = self.entries.get(self._key(model_path, locale))
        if not entry or [_stat(f) for f in entry["info"]["files"]] != entry["stat"]:
            return None
        try:
            return ModelInfo.from_json(entry["info"])
        except (KeyError, TypeError):
            return None

    def store(self, model_path: Path, locale: str | None, info: ModelInfo) -> None:
        self.entries[self._key(model_path, locale)] = {
            "stat": [_stat(f) for f in info.files], "info": info.to_json()}
        self.changed = True

    def session_file(self, model_path: Path, info: ModelInfo,
                     zipmaps: tuple[ZipMapInfo, ...], locale: str | None,
                     flush_subnormals: bool) -> Path | None:
        """The bytes onnxruntime loads for a model that needs rewriting (ZipMaps exposed,
        locale replaced, subnormal weights flushed), kept in target/ per file version, so
        a run need not import onnx (~0.1 s) to rewrite it again; None when the model is
        loaded as it is, or target/ cannot be written."""
        if (not zipmaps and not locale and not flush_subnormals) or self.path is None:
            return None
        key = hashlib.sha256(json.dumps(
            [info.sha256, [asdict(z) for z in zipmaps], locale, flush_subnormals]).encode())
        path = self.path.parent / SESSION_MODELS / f"{key.hexdigest()[:32]}.onnx"
        if path.is_file():
            return path
        data = session_bytes(model_path.read_bytes(), zipmaps, locale, flush_subnormals)
        temp = path.with_name(f".{path.name}.{os.getpid()}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temp.write_bytes(data)
            os.replace(temp, path)  # atomic: a concurrent reader sees none or all of it
        except OSError:
            temp.unlink(missing_ok=True)
            return None
        return path

    def save(self) -> None:
        if self.path is None or not self.changed:
            return
        text = json.dumps({"version": CACHE_VERSION, "onnxruntime": ort.__version__,
                           "entries": self.entries}, indent=1)
        temp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temp.write_text(text, encoding="utf-8")
            os.replace(temp, self.path)  # atomic: a concurrent reader sees old or new
        except OSError:
            temp.unlink(missing_ok=True)  # a read-only project still works, uncached


def model_info(cache: SignatureCache, root: Path, model_path: Path, yml: Path,
               locale: str | None) -> ModelInfo:
    info = cache.lookup(model_path, locale)
    if info is None:
        info = inspect_model(root, model_path, yml, locale)
        cache.store(model_path, locale, info)
    return info
