"""Reading ONNX files safely: confinement, LFS pointers, external data, ZipMap, locales."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from predsql.errors import RegistryError
from predsql.ml.specs import ZipMapInfo

# onnx is imported where a model is parsed: runs that only read the signature cache
# never need it (~0.1 s)
if TYPE_CHECKING:
    import onnx

LFS_MAGIC = b"version https://git-lfs"
DEFAULT_LOCALE = "en_US.UTF-8"  # what onnxruntime's StringNormalizer uses when none is named
BUILTIN_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "com.microsoft", "com.microsoft.nchwc",
                             "ai.onnx.training", "ai.onnx.preview.training",
                             "com.ms.internal.nhwc"})


def confined_path(root: Path, base: Path, relative: str, what: str, yml: Path) -> Path:
    """Resolve `relative` against `base`; refuse paths (or symlinks) leaving `root`."""
    candidate = (base / relative).resolve()
    if not candidate.is_relative_to(root.resolve()):
        raise RegistryError(
            f"{what} {relative!r} resolves to {candidate}, outside the project folder",
            path=yml,
            hint="keep model files (and their symlink targets) inside the project",
        )
    return candidate


def read_model(root: Path, model_path: Path, yml: Path) -> tuple[bytes, onnx.ModelProto]:
    """Read and parse an ONNX file, with an actionable error for each way it can be wrong."""
    if not model_path.is_file():
        raise RegistryError(
            f"model file {model_path.relative_to(root.resolve())} does not exist",
            path=yml,
            hint="fix `model:` (it is relative to this .yml file) or add the file",
        )
    data = model_path.read_bytes()
    if not data:
        raise RegistryError(f"model file {model_path.name} is empty", path=yml,
                            hint="re-export the model")
    if data.startswith(LFS_MAGIC):
        raise RegistryError(
            f"model file {model_path.name} is a Git LFS pointer, not the model",
            path=yml,
            hint="run `git lfs pull` to fetch the real file",
        )
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load_from_string(data)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise RegistryError(
            f"model file {model_path.name} is not a valid ONNX model ({exc})",
            path=yml,
            hint="re-export it (e.g. skl2onnx.to_onnx) and check the file is complete",
        ) from exc
    if not model.graph.node and not model.graph.output:
        raise RegistryError(
            f"model file {model_path.name} holds no ONNX graph (truncated or not ONNX)",
            path=yml,
            hint="re-export the model",
        )
    _check_external_data(root, model_path, model, yml)
    return data, model


def external_files(model: onnx.ModelProto) -> list[str]:
    """The external data files the model's initializers name (relative to the model)."""
    import onnx

    files: list[str] = []
    for tensor in model.graph.initializer:
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        location = next((e.value for e in tensor.external_data if e.key == "location"), "")
        if location not in files:
            files.append(location)
    return files


def _check_external_data(root: Path, model_path: Path, model: onnx.ModelProto, yml: Path) -> None:
    for location in external_files(model):
        path = confined_path(root, model_path.parent, location, "external data file", yml)
        if not path.is_file():
            raise RegistryError(
                f"model file {model_path.name} keeps its weights in the external data file "
                f"{location!r}, which does not exist next to it",
                path=yml, hint=f"copy {location} into {model_path.parent.relative_to(root.resolve())}"
                " (onnx.save_model(..., save_as_external_data=True) writes it beside the model)",
            )


def string_normalizer_locales(model: onnx.ModelProto) -> list[str]:
    """Locales the model's StringNormalizer nodes ask for (onnxruntime's default: en_US.UTF-8)."""
    locales = []
    for node in model.graph.node:
        if node.op_type == "StringNormalizer":
            value = next((a.s.decode() for a in node.attribute if a.name == "locale"), "")
            locales.append(value or DEFAULT_LOCALE)
    return locales


def set_locale(model: onnx.ModelProto, locale: str) -> None:
    import onnx

    for node in model.graph.node:
        if node.op_type != "StringNormalizer":
            continue
        for attr in list(node.attribute):
            if attr.name == "locale":
                node.attribute.remove(attr)
        node.attribute.append(onnx.helper.make_attribute("locale", locale))


def custom_domains(model: onnx.ModelProto) -> dict[str, list[str]]:
    """Operator domains onnxruntime does not implement itself -> the ops used from each."""
    found: dict[str, list[str]] = {}
    local = {f.domain for f in model.functions}  # functions the model defines itself
    for node in model.graph.node:
        if node.domain in BUILTIN_DOMAINS or node.domain in local:
            continue
        if node.op_type not in found.get(node.domain, []):
            found.setdefault(node.domain, []).append(node.op_type)
    return found


def session_bytes(data: bytes, zipmaps: tuple[ZipMapInfo, ...], locale: str | None,
                  flush_subnormals: bool = False) -> bytes:
    """The bytes onnxruntime loads: ZipMap tensors exposed, the locale replaced,
    subnormal weights set to zero."""
    if not zipmaps and not locale and not flush_subnormals:
        return data
    import onnx

    model = onnx.load_from_string(data)
    if zipmaps:
        expose_zipmaps(model)
    if locale:
        set_locale(model, locale)
    if flush_subnormals:
        subnormal_weights(model, flush=True)
    return model.SerializeToString()


def subnormal_weights(model: onnx.ModelProto, flush: bool = False) -> int:
    """How many values of the model's float initializers (in the file, not in external
    data) are subnormal (nonzero, below the smallest normal number); set them to zero
    when `flush`. Regularized networks often hold such weights (dead units decayed
    towards zero); each multiplication by one costs a CPU microcode assist, about ten
    times the normal cost, and contributes less than 1e-38 to any sum."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    found = 0
    for tensor in model.graph.initializer:
        if tensor.data_location == onnx.TensorProto.EXTERNAL or tensor.data_type not in (
                onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16):
            continue
        values = numpy_helper.to_array(tensor)
        subnormal = (values != 0) & (np.abs(values) < np.finfo(values.dtype).tiny)
        count = int(np.count_nonzero(subnormal))
        found += count
        if flush and count:
            values = values.copy()
            values[subnormal] = 0
            tensor.CopyFrom(numpy_helper.from_array(values, tensor.name))
    return found


def expose_zipmaps(model: onnx.ModelProto) -> dict[str, ZipMapInfo]:
    """Make each ZipMap's probability tensor a graph output (so no per-row dicts)."""
    import onnx

    infos: dict[str, ZipMapInfo] = {}
    outputs = {o.name for o in model.graph.output}
    for node in model.graph.node:
        if node.op_type != "ZipMap" or node.output[0] not in outputs:
            continue
        labels: tuple[str, ...] = ()
        for attr in node.attribute:
            if attr.name == "classlabels_int64s":
                labels = tuple(str(v) for v in attr.ints)
            elif attr.name == "classlabels_strings":
                labels = tuple(v.decode() for v in attr.strings)
        infos[node.output[0]] = ZipMapInfo(node.output[0], node.input[0], labels)
        if node.input[0] not in outputs:
            model.graph.output.append(
                onnx.helper.make_tensor_value_info(
                    node.input[0], onnx.TensorProto.FLOAT, [None, len(labels)]
                )
            )
    return infos
