"""The extras of pyproject.toml: what each is for, and the docs that name them."""

from __future__ import annotations

from pathlib import Path

import tomllib

ROOT = Path(__file__).parent.parent


def extras() -> dict[str, list[str]]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return data["project"]["optional-dependencies"]


def names(requirements: list[str]) -> set[str]:
    return {r.split(";")[0].split("[")[0].split(">")[0].split("=")[0].strip() for r in requirements}


def test_the_export_extra_holds_the_converters_and_not_the_test_tools() -> None:
    export = names(extras()["export"])
    assert export == {"scikit-learn", "skl2onnx", "onnxmltools"}
    assert not export & {"pytest", "ruff", "hypothesis", "playwright"}
    assert "predsql[export]" not in " ".join(extras()["dev"])  # dev stays separate
    doc = (ROOT / "docs/exporting-models.md").read_text(encoding="utf-8")
    assert "pip install 'predsql[export]'" in doc
    assert "`export` (scikit-learn, skl2onnx and\nonnxmltools" in (ROOT / "README.md").read_text()
