"""Packages: what packages.yml / dependencies.yml declare and what dbt_packages/ holds.

A project with a `dbt_packages/` folder made by `dbt deps` runs as it is; `local:`
packages are also found where they are declared when not installed. A declared
package that is missing is an error naming it and how to install it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from predsql.errors import ProjectError
from predsql.yamlio import expect_mapping, read_yaml

PACKAGE_FILES = ("packages.yml", "dependencies.yml")
DEFAULT_INSTALL_PATH = "dbt_packages"


@dataclass(frozen=True)
class PackageSpec:
    """One entry of packages.yml."""

    kind: str                   # local | git | hub | tarball
    source: str                 # the path, URL or hub name
    revision: str | None = None
    subdirectory: str | None = None
    version: Any = None
    declared_in: str = ""
    name_hint: str | None = None

    def describe(self) -> str:
        extra = f" ({self.revision or self.version})" if (self.revision or self.version) else ""
        return f"{self.kind} package {self.source!r}{extra}"


@dataclass(frozen=True)
class Package:
    """An installed package: its own dbt_project.yml, read as the root project's is."""

    name: str
    root: Path
    config: dict[str, Any] = field(default_factory=dict)

    def paths(self, key: str, default: str) -> tuple[str, ...]:
        value = self.config.get(key, [default])
        return tuple([value] if isinstance(value, str) else value or [])

    @property
    def macro_paths(self) -> tuple[str, ...]:
        return self.paths("macro-paths", "macros")

    @property
    def model_paths(self) -> tuple[str, ...]:
        return self.paths("model-paths", "models")

    @property
    def seed_paths(self) -> tuple[str, ...]:
        return self.paths("seed-paths", "seeds")

    @property
    def test_paths(self) -> tuple[str, ...]:
        return self.paths("test-paths", "tests")

    @property
    def vars(self) -> dict[str, Any]:
        raw = self.config.get("vars")
        return dict(raw) if isinstance(raw, dict) else {}


def read_specs(root: Path) -> list[PackageSpec]:
    """The packages a project (or package) folder declares."""
    for name in PACKAGE_FILES:
        path = root / name
        if not path.is_file():
            continue
        data = expect_mapping(read_yaml(path), path, name)
        entries = data.get("packages") or []
        if not isinstance(entries, list):
            raise ProjectError("`packages:` must be a list", path=path)
        specs = [_spec(entry, path) for entry in entries]
        if specs or name == PACKAGE_FILES[-1]:
            return specs
    return []


def _spec(entry: Any, path: Path) -> PackageSpec:
    if not isinstance(entry, dict):
        raise ProjectError(f"cannot read package entry {entry!r}", path=path,
                           hint="use `- local: path`, `- git: url` or `- package: owner/name`")
    shown = str(path.name)
    if "local" in entry:
        return PackageSpec("local", str(entry["local"]), declared_in=shown,
                           name_hint=entry.get("name"))
    if "git" in entry:
        revision = entry.get("revision")
        return PackageSpec("git", str(entry["git"]), str(revision) if revision else None,
                           entry.get("subdirectory"), declared_in=shown,
                           name_hint=entry.get("name"))
    if "package" in entry:
        return PackageSpec("hub", str(entry["package"]), version=entry.get("version"),
                           declared_in=shown, name_hint=entry.get("name"))
    if "tarball" in entry:
        return PackageSpec("tarball", str(entry["tarball"]), declared_in=shown,
                           name_hint=entry.get("name"))
    raise ProjectError(f"cannot read package entry {entry!r}", path=path,
                       hint="use `- local: path`, `- git: url` or `- package: owner/name`")


def lock_names(root: Path) -> dict[str, str]:
    """source -> installed name, from the package-lock.yml `dbt deps` writes."""
    path = root / "package-lock.yml"
    if not path.is_file():
        return {}
    data = expect_mapping(read_yaml(path), path, "package-lock.yml")
    names = {}
    for entry in data.get("packages") or []:
        if isinstance(entry, dict) and entry.get("name"):
            source = entry.get("local") or entry.get("git") or entry.get("package")
            if source:
                names[str(source)] = str(entry["name"])
    return names


def expected_name(spec: PackageSpec, base: Path, locked: dict[str, str]) -> str:
    """The folder name a package installs under (its project name)."""
    if spec.name_hint:
        return str(spec.name_hint)
    if spec.source in locked:
        return locked[spec.source]
    if spec.kind == "local":
        name = project_name_of(base / spec.source)
        if name:
            return name
    tail = spec.source.rstrip("/").split("/")[-1]
    if spec.kind == "git":
        if spec.subdirectory:
            tail = spec.subdirectory.rstrip("/").split("/")[-1]
        tail = re.sub(r"\.git$", "", tail)
    return tail.replace("-", "_")


def project_name_of(folder: Path) -> str | None:
    path = folder / "dbt_project.yml"
    if not path.is_file():
        return None
    data = read_yaml(path)
    return str(data.get("name")) if isinstance(data, dict) and data.get("name") else None


def load_packages(root: Path, install_path: str,
                  read_config: Callable[[Path], dict[str, Any]]) -> tuple[Package, ...]:
    """Every package the project can use: those in `install_path`, and declared local
    packages not installed there. Declared packages that are missing are an error."""
    install = root / install_path
    found: dict[str, Package] = {}
    if install.is_dir():
        for folder in sorted(install.iterdir()):
            if (folder / "dbt_project.yml").is_file():
                config = read_config(folder / "dbt_project.yml")
                name = str(config.get("name") or folder.name)
                found[name] = Package(name, folder, config)
    missing: list[tuple[PackageSpec, str, str]] = []
    queue: list[tuple[Path, str]] = [(root, "the project")]
    seen: set[Path] = set()
    while queue:
        base, owner = queue.pop(0)
        if base in seen:
            continue
        seen.add(base)
        locked = lock_names(root) if base == root else {}
        for spec in read_specs(base):
            name = expected_name(spec, base, locked)
            if name in found:
                continue
            local = (base / spec.source).resolve() if spec.kind == "local" else None
            if local is not None and (local / "dbt_project.yml").is_file():
                config = read_config(local / "dbt_project.yml")
                found[str(config.get("name") or name)] = Package(
                    str(config.get("name") or name), local, config)
                continue
            missing.append((spec, name, owner))
        for package in list(found.values()):
            if package.root not in seen:
                queue.append((package.root, f"package {package.name!r}"))
    if missing:
        raise _missing_error(missing, install_path)
    return tuple(found.values())


def _missing_error(missing: list[tuple[PackageSpec, str, str]], install_path: str) -> ProjectError:
    lines = [f"{spec.describe()} (needed by {owner}, declared in {spec.declared_in}) is not "
             f"installed in {install_path}/{name}" for spec, name, owner in missing]
    hub = [spec for spec, _, _ in missing if spec.kind in ("hub", "tarball")]
    hint = "run `predsql deps` to install local: and git: packages"
    if hub:
        hint += ("; hub packages need the network: run `dbt deps` where the network is "
                 "available, or copy the package into "
                 + ", ".join(f"{install_path}/{n}" for s, n, _ in missing if s in hub)
                 + " (or declare it with `git:` or `local:`)")
    return ProjectError("missing packages:\n  " + "\n  ".join(lines), hint=hint)
