"""Reading ONNX files safely: confinement, LFS pointers, external data, ZipMap."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError

from predsql.errors import RegistryError

LFS_MAGIC = b"version https://git-lfs"


@dataclass(frozen=True)
class ZipMapInfo:
    """A scikit-learn ZipMap output replaced by the tensor feeding it."""

    output: str  # the ZipMap's (sequence of maps) output name
    tensor: str  # its input: the [N, classes] probability tensor
    labels: tuple[str, ...]


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


def _check_external_data(root: Path, model_path: Path, model: onnx.ModelProto, yml: Path) -> None:
    for tensor in model.graph.initializer:
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        location = next((e.value for e in tensor.external_data if e.key == "location"), "")
        confined_path(root, model_path.parent, location, "external data file", yml)


def expose_zipmaps(model: onnx.ModelProto) -> dict[str, ZipMapInfo]:
    """Make each ZipMap's probability tensor a graph output (so no per-row dicts)."""
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
