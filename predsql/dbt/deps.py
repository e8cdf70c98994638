"""`predsql deps`: install `local:` and `git:` packages into dbt_packages/ (no network
assumed: a git URL may be a local path or a bare repository). Hub packages already
installed by `dbt deps` stay as they are; a missing one is an error saying how to
install it."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from predsql.dbt.packages import PackageSpec, expected_name, lock_names, project_name_of, read_specs
from predsql.errors import ProjectError


@dataclass(frozen=True)
class Installed:
    name: str
    spec: PackageSpec
    action: str    # "linked" | "installed" | "kept"
    detail: str = ""


def install(root: Path, install_path: str, say: Callable[[str], None]) -> list[Installed]:
    """Install the project's packages and theirs; return what was done for each."""
    target = root / install_path
    target.mkdir(parents=True, exist_ok=True)
    done: dict[str, Installed] = {}
    queue: list[tuple[Path, PackageSpec]] = [(root, s) for s in read_specs(root)]
    locked = lock_names(root)
    missing: list[str] = []
    while queue:
        base, spec = queue.pop(0)
        name = expected_name(spec, base, locked if base == root else {})
        if name in done:
            continue
        if spec.kind == "local":
            result = _link_local(base, spec, target)
        elif spec.kind == "git":
            result = _install_git(spec, target)
        elif (target / name / "dbt_project.yml").is_file():
            result = Installed(name, spec, "kept", "already installed")
        else:
            missing.append(f"{spec.describe()} -> {install_path}/{name}")
            continue
        done[result.name] = result
        detail = f": {result.detail}" if result.detail else ""
        say(f"{result.action} {result.name} ({spec.describe()}){detail}")
        queue += [(target / result.name, s) for s in read_specs(target / result.name)]
    if missing:
        raise ProjectError(
            "these hub packages are not installed and predsql does not download them:\n  "
            + "\n  ".join(missing),
            hint="run `dbt deps` once where the network is available (predsql uses what it "
                 "installs), copy the package folder there, or declare it with `git:` or "
                 "`local:`")
    _write_lock(root, list(done.values()))
    return list(done.values())


def _link_local(base: Path, spec: PackageSpec, target: Path) -> Installed:
    source = (base / spec.source).resolve()
    name = project_name_of(source)
    if name is None:
        raise ProjectError(f"local package {spec.source!r} has no dbt_project.yml",
                           path=str(source), hint="point `local:` at a dbt project folder")
    dest = target / name
    _remove(dest)
    try:
        dest.symlink_to(source, target_is_directory=True)
        return Installed(name, spec, "linked", str(source))
    except OSError:  # no symlinks here: copy instead
        shutil.copytree(source, dest)
        return Installed(name, spec, "installed", f"copied from {source}")


def _git(args: list[str], cwd: Path | None = None) -> str:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    try:
        done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True,
                              text=True, timeout=300, check=False)
    except FileNotFoundError as exc:
        raise ProjectError("git is not installed; it is needed for `git:` packages",
                           hint="install git, or use a `local:` package") from exc
    if done.returncode != 0:
        raise ProjectError(f"git {args[0]} failed: {done.stderr.strip()[:500]}",
                           hint="check the package's `git:` URL and `revision:`")
    return done.stdout.strip()


def _install_git(spec: PackageSpec, target: Path) -> Installed:
    with tempfile.TemporaryDirectory(prefix="predsql-deps-") as tmp:
        clone = Path(tmp) / "repo"
        _git(["clone", "--quiet", spec.source, str(clone)])
        if spec.revision:
            _git(["checkout", "--quiet", spec.revision], cwd=clone)
        commit = _git(["rev-parse", "HEAD"], cwd=clone)
        folder = clone
        if spec.subdirectory:
            folder = (clone / spec.subdirectory).resolve()
            if not folder.is_relative_to(clone.resolve()) or not folder.is_dir():
                raise ProjectError(f"git package {spec.source!r}: subdirectory "
                                   f"{spec.subdirectory!r} does not exist in the repository")
        name = project_name_of(folder)
        if name is None:
            raise ProjectError(f"git package {spec.source!r} has no dbt_project.yml"
                               + (f" in {spec.subdirectory!r}" if spec.subdirectory else ""),
                               hint="set `subdirectory:` to the folder holding the package")
        dest = target / name
        _remove(dest)
        shutil.copytree(folder, dest, ignore=shutil.ignore_patterns(".git"))
    revision = spec.revision or "the default branch"
    return Installed(name, spec, "installed", f"{revision} at {commit[:12]}")


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def _write_lock(root: Path, installed: list[Installed]) -> None:
    """package-lock.yml with each package's installed name (dbt's file, simplified)."""
    entries = []
    for item in installed:
        key = {"local": "local", "git": "git", "hub": "package", "tarball": "tarball"}
        entry: dict[str, object] = {key[item.spec.kind]: item.spec.source, "name": item.name}
        if item.spec.revision:
            entry["revision"] = item.spec.revision
        if item.spec.subdirectory:
            entry["subdirectory"] = item.spec.subdirectory
        if item.spec.version is not None:
            entry["version"] = item.spec.version
        entries.append(entry)
    (root / "package-lock.yml").write_text(
        yaml.safe_dump({"packages": entries}, sort_keys=False), encoding="utf-8")
