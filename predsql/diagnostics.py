"""`predsql debug`: what is installed, which project and database, which devices."""

from __future__ import annotations

import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from predsql.errors import PredsqlError

if TYPE_CHECKING:
    from predsql.tasks import Options

PACKAGES = ("predsql", "duckdb", "sqlglot", "onnxruntime-gpu", "onnxruntime", "onnx", "pyarrow",
            "numpy", "jinja2", "pyyaml", "rich", "click")


def debug_report(options: Options) -> list[str]:
    lines = [f"python {sys.version.split()[0]} on {platform.platform()}"]
    for package in PACKAGES:
        try:
            lines.append(f"  {package}: {version(package)}")
        except PackageNotFoundError:
            continue
    import onnxruntime as ort

    lines.append(f"onnxruntime providers: {', '.join(ort.get_available_providers())}")
    lines.append(f"onnxruntime device: {ort.get_device()}")
    try:
        from predsql.project import load_project

        project = load_project(options.project_dir, profiles_dir=options.profiles_dir,
                               target_name=options.target, cli_vars=options.vars)
    except PredsqlError as exc:
        lines.append(f"project: not loaded ({exc.format()})")
        return lines
    target = project.target
    lines += [
        f"project: {project.name} ({project.config_file})",
        f"profile: {target.profile} target {target.name} "
        f"({target.profile_file or 'embedded default, no profiles.yml'})",
        f"database: {target.path} (schema {target.schema}, threads {target.threads})",
    ]
    return lines
