"""`predsql init DIR`: a small project whose first `predsql build` already scores rows.

The files come from `templates.py`; the ML function's model, functions/churn.onnx, is
written by running the project's own train.py once (numpy + onnx.helper, no
scikit-learn), so the scaffold and a later retraining produce the same file.
"""

from __future__ import annotations

import contextlib
import io
import runpy
from pathlib import Path

from predsql.errors import ProjectError
from predsql.scaffold.templates import FILES, TRAIN_SCRIPT

MODEL_FILE = "functions/churn.onnx"


def scaffold(directory: Path) -> Path:
    if directory.exists() and any(directory.iterdir()):
        raise ProjectError(
            f"{directory} exists and is not empty", path=directory,
            hint="choose a new folder name",
        )
    name = project_name(directory)
    for rel, text in FILES.items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.replace("{name}", name), encoding="utf-8")
    write_model(directory)
    return directory


def project_name(directory: Path) -> str:
    name = "".join(c if c.isalnum() else "_" for c in directory.resolve().name).strip("_")
    return name if name and not name[0].isdigit() else f"project_{name}"


def write_model(directory: Path) -> None:
    """Run the scaffolded train.py (it trains on the seed and writes the ONNX file)."""
    with contextlib.redirect_stdout(io.StringIO()):
        runpy.run_path(str(directory / TRAIN_SCRIPT), run_name="__main__")
    if not (directory / MODEL_FILE).is_file():
        raise ProjectError(f"{TRAIN_SCRIPT} did not write {MODEL_FILE}",
                           path=directory / TRAIN_SCRIPT, hint="report this as a bug")
