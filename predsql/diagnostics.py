"""`predsql debug`: what is installed, which project and database, which device."""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from predsql.errors import PredsqlError

if TYPE_CHECKING:
    from predsql.tasks import Options

PACKAGES = ("predsql", "duckdb", "sqlglot", "onnxruntime-gpu", "onnxruntime", "onnx", "pyarrow",
            "numpy", "jinja2", "pyyaml", "rich", "click")


@dataclass(frozen=True)
class Line:
    text: str
    level: str = "info"  # or "warn"


def debug_report(options: Options) -> list[Line]:
    lines = [Line(f"python {sys.version.split()[0]} on {platform.platform()}")]
    for package in PACKAGES:
        try:
            lines.append(Line(f"  {package}: {version(package)}"))
        except PackageNotFoundError:
            continue
    return lines + device_lines() + project_lines(options)


def device_lines() -> list[Line]:
    """The device ML functions would really run on, found by creating a CUDA session
    (devices.probe_cuda), not by what the installed package claims."""
    import onnxruntime as ort

    from predsql.ml import devices

    lines = [Line(f"onnxruntime providers: {', '.join(ort.get_available_providers())}")]
    warning = devices.both_packages_warning()
    if warning:
        lines.append(Line(f"warning: {warning}", "warn"))
    status = devices.probe_cuda()
    if status.usable:
        lines.append(Line("device: cuda (a probe session ran on CUDAExecutionProvider); "
                          "`device: auto` functions run on the GPU"))
    else:
        lines.append(Line(f"device: cpu; CUDA is not usable here: {status.reason}"))
        lines.append(Line("  `device: auto` functions run on the CPU; `device: cuda` and "
                          "--device cuda fail (GPU set-up: docs/operations.md)"))
        if devices.CUDA in ort.get_available_providers() and not devices.has_cuda_wheels():
            lines.append(Line("  the CUDA and cuDNN libraries come with `pip install "
                              "'predsql[cuda]'` (loaded by onnxruntime's preload_dlls(); no "
                              "LD_LIBRARY_PATH needed)"))
    return lines


def project_lines(options: Options) -> list[Line]:
    try:
        from predsql.project import load_project

        project = load_project(options.project_dir, profiles_dir=options.profiles_dir,
                               target_name=options.target, cli_vars=options.vars)
    except PredsqlError as exc:
        return [Line(f"project: not loaded ({exc.format()})")]
    target = project.target
    return [
        Line(f"project: {project.name} ({project.config_file})"),
        Line(f"profile: {target.profile} target {target.name} "
             f"({target.profile_file or 'embedded default, no profiles.yml'})"),
        Line(f"database: {target.path} (schema {target.schema}, threads {target.threads})"),
    ]
