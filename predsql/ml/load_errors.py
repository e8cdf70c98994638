"""Why onnxruntime cannot load a model, in the user's terms: the cause and the fix.

Used when the registry first reads a model and again when a run creates its
sessions (the machine that runs may lack what the one that registered had).
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
from typing import TYPE_CHECKING

import onnxruntime as ort

from predsql.ml.onnx_files import DEFAULT_LOCALE, custom_domains, string_normalizer_locales

if TYPE_CHECKING:
    import onnx

# operator domains provided by a package predsql can load, and by other known sources
CUSTOM_OP_PACKAGES = {"ai.onnx.contrib": "onnxruntime_extensions"}
KNOWN_PROVIDERS = {
    "ai.onnx.contrib": "onnxruntime-extensions (`pip install onnxruntime-extensions`; predsql "
                       "loads its operator library automatically once it is installed)",
    "org.pytorch.aten": "PyTorch's ATen fallback (torch.onnx.export with "
                        "operator_export_type=ONNX_ATEN_FALLBACK); re-export without it",
    "com.microsoft.mlfeaturizers": "the ML.NET featurizers, which onnxruntime no longer ships",
}


def installed_locales() -> list[str]:
    try:
        done = subprocess.run(["locale", "-a"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return []
    return [line for line in done.stdout.splitlines() if line]


def installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


def custom_op_packages(model: onnx.ModelProto) -> tuple[tuple[str, ...], str | None]:
    """(packages whose op library to load, or an error for a domain nothing here provides)."""
    packages: list[str] = []
    for domain, ops in custom_domains(model).items():
        package = CUSTOM_OP_PACKAGES.get(domain)
        if package and installed(package):
            packages.append(package)
            continue
        provider = KNOWN_PROVIDERS.get(domain, "no package predsql knows of; ask whoever "
                                       "exported the model which custom-op library it needs")
        return (), (f"the model uses custom operators of domain {domain!r} ({', '.join(ops)}), "
                    f"which onnxruntime does not implement; they come from {provider}")
    return tuple(packages), None


def explain(exc: Exception, model: onnx.ModelProto | None, file_name: str) -> tuple[str, str]:
    """(message, hint) for an exception raised while onnxruntime loads `file_name`."""
    text = str(exc)
    first = text.split("\n")[0]
    locale = re.search(r"Failed to construct locale with name:\s*([^\s:]+)", text)
    if locale:
        return _locale(locale.group(1), model)
    opset = re.search(r"Opset (\d+) is under development.*?domain (\S+) is till opset (\d+)", text,
                      re.S)
    if opset:
        version, domain, supported = opset.groups()
        return (f"{file_name} uses opset {version} of domain {domain!r}; this onnxruntime "
                f"({ort.__version__}) cannot run this opset (it supports up to {supported})",
                f"re-export with target_opset={supported} or lower (torch.onnx.export("
                f"opset_version=...), skl2onnx/onnxmltools target_opset=...), or upgrade onnxruntime")
    ir = re.search(r"Unsupported model IR version: (\d+), max supported IR version: (\d+)", text)
    if ir:
        return (f"{file_name} has ONNX IR version {ir.group(1)}; this onnxruntime "
                f"({ort.__version__}) reads up to {ir.group(2)}",
                f"set model.ir_version = {ir.group(2)} before saving (if its opsets allow), "
                "export with an older onnx, or upgrade onnxruntime")
    missing = re.search(r"Could not find an implementation for (\w+)\((\d+)\)", text)
    if missing:
        return _missing_kernel(missing.group(1), int(missing.group(2)), model, file_name)
    domain = re.search(r"([\w.]+):(\w+)\(-?\d+\) is not a registered function/op", text)
    if domain and model is not None:
        _, problem = custom_op_packages(model)
        if problem:
            return problem, "export the model without custom operators, or install what provides them"
    if "External data" in text or "external data" in text:
        return (f"onnxruntime cannot read the external data of {file_name}: {first}",
                "keep the external data files (onnx.save_model(..., save_as_external_data=True)) "
                "next to the model, under the names the model records")
    hint = "re-export the model"
    if "opset" in first.lower() or "version" in first.lower():
        hint = (f"this onnxruntime ({ort.__version__}) cannot run this opset; re-export with a "
                "lower target_opset or upgrade onnxruntime")
    return f"onnxruntime cannot load {file_name}: {first}", hint


def _locale(name: str, model: onnx.ModelProto | None) -> tuple[str, str]:
    installed = installed_locales()
    default = model is not None and DEFAULT_LOCALE in string_normalizer_locales(model) and \
        name == DEFAULT_LOCALE
    why = " (onnxruntime's default when the model names none)" if default else ""
    return (f"the model's text normalizer (StringNormalizer) needs the locale {name}{why}, "
            f"which is not installed here"
            + (f" (installed: {', '.join(installed[:8])})" if installed else ""),
            "re-export with skl2onnx and the vectorizer option {'locale': 'C'} "
            "(options={id(vectorizer): {'locale': 'C'}}), or install the locale "
            f"(apt-get install locales; locale-gen {name}), or set `locale: C` on this function "
            "so predsql replaces it when loading the model")


def _missing_kernel(op: str, version: int, model: onnx.ModelProto | None,
                    file_name: str) -> tuple[str, str]:
    opsets = {o.domain or "ai.onnx": o.version for o in model.opset_import} if model else {}
    main = opsets.get("ai.onnx")
    if main is not None and main < 7:
        return (f"{file_name} uses opset {main}, older than onnxruntime {ort.__version__} "
                f"implements ({op} version {version} has no kernel)",
                "convert it: onnx.version_converter.convert_version(model, 13), or re-export "
                "with a newer target_opset")
    return (f"onnxruntime {ort.__version__} has no kernel for {op} (version {version}) "
            f"used by {file_name}",
            "re-export with another target_opset or check the input types the export used")
