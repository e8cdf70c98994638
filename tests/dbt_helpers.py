"""Shared helpers for the tests of dbt packages and the macro runtime."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_PACKAGES = REPO.parent / "shared" / "dbt_packages"


def shared_package(name: str) -> Path:
    """A package from ../shared/dbt_packages (test data beside every checkout)."""
    path = SHARED_PACKAGES / name
    if not (path / "dbt_project.yml").is_file():
        pytest.skip(f"{path} is absent: the shared dbt packages (test data) are not "
                    "beside this checkout")
    return path


def install_package(project: Path, name: str) -> Path:
    """Copy a shared package into project/dbt_packages/, as `dbt deps` would."""
    source = shared_package(name)
    target = project / "dbt_packages" / name
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("integration_tests", "docs"))
    return target
