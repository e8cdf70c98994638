"""Reading the macros of a project and its packages, and the vars a package's nodes see."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from predsql.dbt.macros import MacroDef, read_macros
from predsql.dbt.namespace import MacroSet, macro_set
from predsql.project import Project


def shown_path(project: Project, path: Path) -> str:
    try:
        return str(path.relative_to(project.root))
    except ValueError:
        return str(path)


def _files(project: Project, root: Path, folders: tuple[str, ...]) -> list[tuple[Path, str]]:
    files: list[tuple[Path, str]] = []
    for folder in folders:
        base = root / folder
        if base.is_dir():
            files += [(p, shown_path(project, p)) for p in sorted(base.rglob("*.sql"))
                      if p.is_file()]
    return files


def load_macro_set(project: Project) -> MacroSet:
    """Macros (and generic tests) of the project and of every installed package."""
    macros: dict[str, list[MacroDef]] = {
        project.name: read_macros(project.name, _files(
            project, project.root, project.macro_paths + project.test_paths)),
    }
    for package in project.packages:
        if package.name == project.name:
            continue
        macros[package.name] = read_macros(package.name, _files(
            project, package.root, package.macro_paths + package.test_paths))
    return macro_set(project.name, macros, project.dispatch)


def vars_for_package(project: Project, package: str) -> dict[str, Any]:
    """dbt's precedence for a package's nodes: the package's own vars, then the root
    project's (global, then scoped to the package), then --vars."""
    merged: dict[str, Any] = {}
    for candidate in project.packages:
        if candidate.name == package:
            own = candidate.vars
            merged.update({k: v for k, v in own.items() if not isinstance(v, dict)})
            if isinstance(own.get(package), dict):
                merged.update(own[package])
    merged.update({k: v for k, v in project.vars.items()
                   if not (isinstance(v, dict) and k in {p.name for p in project.packages})})
    scoped = project.vars.get(package)
    if isinstance(scoped, dict):
        merged.update(scoped)
    merged.update(project.cli_vars)
    return merged


def package_views(project: Project) -> list[Project]:
    """Each package as a project of its own (its folders, its configs), for discovering
    its models, seeds, tests and properties."""
    views = []
    for package in project.packages:
        if package.name == project.name:
            continue
        config = package.config
        views.append(replace(
            project, root=package.root, name=package.name,
            config_file=package.root / "dbt_project.yml",
            model_paths=package.model_paths, seed_paths=package.seed_paths,
            test_paths=package.test_paths, macro_paths=package.macro_paths,
            models_config=dict(config.get("models") or {}),
            seeds_config=dict(config.get("seeds") or {}),
            tests_config=dict(config.get("data_tests") or config.get("tests") or {}),
            snapshots_config=dict(config.get("snapshots") or {}),
            snapshot_paths=tuple(config.get("snapshot-paths") or ["snapshots"]),
            analysis_paths=tuple(config.get("analysis-paths") or ["analyses"]),
            vars=vars_for_package(project, package.name), packages=(),
        ))
    return views
