"""Loading a project: predsql_project.yml (or dbt_project.yml) and its profile."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from predsql.errors import PredsqlError, ProjectError, RenderError
from predsql.jinja import make_env_var, make_environment, render_template
from predsql.yamlio import expect_mapping, read_yaml, render_native

if TYPE_CHECKING:
    from predsql.dbt.packages import Package

PROJECT_FILES = ("predsql_project.yml", "dbt_project.yml")


@dataclass(frozen=True)
class Target:
    """A resolved DuckDB connection target."""

    name: str
    profile: str
    path: str  # absolute file path or ":memory:"
    schema: str = "main"
    threads: int = 1
    settings: dict[str, Any] = field(default_factory=dict)
    profile_file: str | None = None
    executor: Any = None  # the raw `executor:` entry (predsql/executors/config.py)
    extensions: tuple[Any, ...] = ()
    attach: tuple[Any, ...] = ()
    external_root: str = "."

    def as_context(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "profile_name": self.profile,
            "type": "duckdb",
            "schema": self.schema,
            "path": self.path,
            "database": Path(self.path).stem if self.path != ":memory:" else "memory",
            "threads": self.threads,
        }


@dataclass(frozen=True)
class Project:
    root: Path
    name: str
    config_file: Path
    model_paths: tuple[str, ...]
    seed_paths: tuple[str, ...]
    test_paths: tuple[str, ...]
    macro_paths: tuple[str, ...]
    function_paths: tuple[str, ...]
    target_path: str
    log_path: str
    vars: dict[str, Any]
    models_config: dict[str, Any]
    seeds_config: dict[str, Any]
    tests_config: dict[str, Any]
    target: Target
    cache_max_rows: int | None = None
    packages: tuple[Package, ...] = ()
    dispatch: tuple[dict[str, Any], ...] = ()
    on_run_start: tuple[Any, ...] = ()
    on_run_end: tuple[Any, ...] = ()
    cli_vars: dict[str, Any] = field(default_factory=dict)
    snapshot_paths: tuple[str, ...] = ("snapshots",)
    analysis_paths: tuple[str, ...] = ("analyses",)
    snapshots_config: dict[str, Any] = field(default_factory=dict)
    sources_config: dict[str, Any] = field(default_factory=dict)

    @property
    def target_dir(self) -> Path:
        return self.root / self.target_path


def find_project_file(root: Path) -> Path:
    for name in PROJECT_FILES:
        candidate = root / name
        if candidate.is_file():
            return candidate
    raise ProjectError(
        f"no predsql_project.yml or dbt_project.yml in {root}",
        path=root,
        hint="run predsql from the project folder, pass --project-dir, or `predsql init DIR`",
    )


def yaml_renderer(
    vars_: dict[str, Any],
    target: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Callable[[str, Path], str]:
    """Render `{{ env_var() }}` / `{{ var() }}` inside YAML string values."""
    env = make_environment()
    env_var = make_env_var()

    def var(name: str, default: Any = None) -> Any:
        return vars_.get(name, default)

    context = {"env_var": env_var, "var": var, "target": target or {}, **(extra or {})}

    def render(text: str, path: Path) -> str:
        try:
            return render_template(env, text, context, path)
        except RenderError as exc:
            exc.path = str(path)
            raise

    return render


# Keys dbt leaves raw when it loads the project file: run hooks and vars are
# rendered when used, and so are pre-/post-hooks anywhere in the config trees.
LATE_KEYS = frozenset({"on-run-start", "on-run-end", "query-comment", "vars"})
CONFIG_TREES = frozenset({"models", "seeds", "snapshots", "tests", "data_tests", "sources",
                          "unit_tests", "analyses", "exposures", "metrics", "semantic-models",
                          "saved-queries"})
HOOK_KEYS = frozenset({"pre-hook", "post-hook", "pre_hook", "post_hook"})


def _late(keypath: tuple[Any, ...]) -> bool:
    if not keypath:
        return False
    if keypath[0] in LATE_KEYS:
        return True
    if keypath[0] in CONFIG_TREES:
        parts = {k.lstrip("+ ") if isinstance(k, str) else k for k in keypath}
        return bool(parts & HOOK_KEYS)
    return False


def render_project_values(data: Any, render: Callable[[str], Any],
                          keypath: tuple[Any, ...] = ()) -> Any:
    """Render a project file as dbt does: late keys kept raw, other Jinja values native."""
    if _late(keypath):
        return data
    if isinstance(data, str):
        return render(data) if "{{" in data or "{%" in data else data
    if isinstance(data, list):
        return [render_project_values(v, render, (*keypath, i)) for i, v in enumerate(data)]
    if isinstance(data, dict):
        return {k: render_project_values(v, render, (*keypath, k)) for k, v in data.items()}
    return data


def read_project_config(config_file: Path, cli_vars: dict[str, Any],
                        target: dict[str, Any] | None) -> dict[str, Any]:
    """A dbt_project.yml / predsql_project.yml, rendered as dbt renders it."""
    raw = expect_mapping(read_yaml(config_file), config_file, "the project file")
    env = make_environment()
    context = {"env_var": make_env_var(), "var": lambda n, d=None: cli_vars.get(n, d),
               "target": target or {}}

    def render(text: str) -> Any:
        try:
            return render_native(env, text, context, config_file)
        except PredsqlError as exc:
            exc.path = exc.path or str(config_file)
            raise

    return render_project_values(raw, render)


def load_project(
    root: Path,
    *,
    cli_vars: dict[str, Any] | None = None,
    profiles_dir: str | None = None,
    target_name: str | None = None,
    threads: int | None = None,
    with_packages: bool = True,
) -> Project:
    """The project and its target; `with_packages=False` skips reading (and checking)
    the installed packages, for commands that do not need them (clean)."""
    root = root.resolve()
    config_file = find_project_file(root)
    cli_vars = dict(cli_vars or {})
    first = expect_mapping(read_yaml(config_file), config_file, "the project file")
    name = first.get("name")
    if not isinstance(name, str) or not name:
        raise ProjectError(
            "the project file has no `name`",
            path=config_file,
            hint="add a line such as `name: my_project`",
        )
    early = read_yaml_value(first.get("profile"), cli_vars, config_file)
    profile_name = str(early or name)
    raw_vars = read_yaml_value(first.get("vars"), cli_vars, config_file)
    project_vars = _project_vars(raw_vars, name)
    project_vars.update(cli_vars)
    target = resolve_target(
        root, name, profile_name, profiles_dir, target_name, project_vars, threads
    )
    raw = read_project_config(config_file, cli_vars, target.as_context())
    raw["vars"] = raw_vars

    def paths(key: str, default: str) -> tuple[str, ...]:
        value = raw.get(key, [default])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ProjectError(
                f"`{key}` must be a list of folder names", path=config_file
            )
        return tuple(value)

    from predsql.dbt.packages import DEFAULT_INSTALL_PATH, load_packages

    install_path = str(raw.get("packages-install-path") or DEFAULT_INSTALL_PATH)
    packages = load_packages(root, install_path, lambda path: _package_config(
        path, cli_vars, target)) if with_packages else ()
    return Project(
        root=root,
        name=name,
        config_file=config_file,
        model_paths=paths("model-paths", "models"),
        seed_paths=paths("seed-paths", "seeds"),
        test_paths=paths("test-paths", "tests"),
        macro_paths=paths("macro-paths", "macros"),
        function_paths=paths("function-paths", "functions"),
        target_path=str(raw.get("target-path", "target")),
        log_path=str(raw.get("log-path", "logs")),
        vars=project_vars,
        models_config=dict(raw.get("models") or {}),
        seeds_config=dict(raw.get("seeds") or {}),
        tests_config=dict(raw.get("data_tests") or raw.get("tests") or {}),
        target=target,
        cache_max_rows=_optional_int(raw.get("cache-max-rows"), config_file),
        packages=packages,
        dispatch=tuple(d for d in raw.get("dispatch") or [] if isinstance(d, dict)),
        on_run_start=_hook_list(raw.get("on-run-start")),
        on_run_end=_hook_list(raw.get("on-run-end")),
        cli_vars=cli_vars,
        snapshot_paths=paths("snapshot-paths", "snapshots"),
        analysis_paths=paths("analysis-paths", "analyses"),
        snapshots_config=dict(raw.get("snapshots") or {}),
        sources_config=dict(raw.get("sources") or {}),
    )


def _hook_list(value: Any) -> tuple[Any, ...]:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, list) else (value,)


def _package_config(path: Path, cli_vars: dict[str, Any], target: Target) -> dict[str, Any]:
    config = read_project_config(path, cli_vars, target.as_context())
    config["vars"] = read_yaml_value(
        expect_mapping(read_yaml(path), path, "dbt_project.yml").get("vars"), cli_vars, path)
    return config


def read_yaml_value(value: Any, cli_vars: dict[str, Any], path: Path) -> Any:
    """Render the Jinja in one value of the project file (env_var, var from --vars)."""
    from predsql.yamlio import render_values

    render = yaml_renderer(cli_vars)
    return render_values(value, lambda text: render(text, path))


def _optional_int(value: Any, path: Path) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or value < 0:
        raise ProjectError(f"`cache-max-rows` must be a non-negative integer, not {value!r}",
                           path=path)
    return value


def _project_vars(raw_vars: Any, project_name: str) -> dict[str, Any]:
    """Project vars; dbt also allows vars scoped under the project's name."""
    if not isinstance(raw_vars, dict):
        return {}
    result = {k: v for k, v in raw_vars.items() if not isinstance(v, dict) or k != project_name}
    scoped = raw_vars.get(project_name)
    if isinstance(scoped, dict):
        result.update(scoped)
    return result


def profile_search_dirs(root: Path, profiles_dir: str | None) -> list[Path]:
    dirs: list[Path] = []
    if profiles_dir:
        dirs.append(Path(profiles_dir).expanduser())
    if os.environ.get("PREDSQL_PROFILES_DIR"):
        dirs.append(Path(os.environ["PREDSQL_PROFILES_DIR"]).expanduser())
    dirs += [root, Path.home() / ".predsql", Path.home() / ".dbt"]
    return dirs


def resolve_target(
    root: Path,
    project_name: str,
    profile_name: str,
    profiles_dir: str | None,
    target_name: str | None,
    vars_: dict[str, Any],
    threads: int | None,
) -> Target:
    for directory in profile_search_dirs(root, profiles_dir):
        path = directory / "profiles.yml"
        if not path.is_file():
            continue
        # as dbt: only the chosen profile's target is rendered (other targets may name
        # environment variables that are not set here)
        profiles = expect_mapping(read_yaml(path), path, "profiles.yml")
        if profile_name in profiles:
            return _target_from_profile(
                root, path, profile_name, profiles[profile_name], target_name, threads,
                _profile_renderer(vars_, path),
            )
        if profiles_dir and directory == Path(profiles_dir).expanduser():
            raise ProjectError(
                f"profile {profile_name!r} is not defined in this profiles.yml",
                path=path,
                hint=f"add a `{profile_name}:` entry or change `profile:` in the project file",
            )
    if target_name not in (None, "default", "dev"):
        raise ProjectError(
            f"target {target_name!r} requested but no profiles.yml defines profile "
            f"{profile_name!r}",
            hint="create profiles.yml in the project folder or pass --profiles-dir",
        )
    return Target(
        name=target_name or "dev",
        profile=profile_name,
        path=str(root / f"{project_name}.duckdb"),
        threads=threads or 1,
    )


def _profile_renderer(vars_: dict[str, Any], path: Path) -> Callable[[Any], Any]:
    from predsql.yamlio import render_values

    render = yaml_renderer(vars_)
    return lambda value: render_values(value, lambda text: render(text, path))


def _target_from_profile(
    root: Path,
    path: Path,
    profile_name: str,
    profile: Any,
    target_name: str | None,
    threads: int | None,
    render: Callable[[Any], Any] = lambda value: value,
) -> Target:
    if not isinstance(profile, dict) or not isinstance(profile.get("outputs"), dict):
        raise ProjectError(
            f"profile {profile_name!r} has no `outputs:` mapping",
            path=path,
            hint="see the dbt profiles.yml format: profile -> target, outputs",
        )
    name = target_name or str(render(profile.get("target", "dev")))
    outputs = profile["outputs"]
    if name not in outputs:
        raise ProjectError(
            f"target {name!r} is not among the outputs of profile {profile_name!r} "
            f"({', '.join(map(str, outputs))})",
            path=path,
        )
    output = render(outputs[name] or {})
    kind = output.get("type", "duckdb")
    if kind != "duckdb":
        raise ProjectError(
            f"target {name!r} has type {kind!r}; predsql runs on DuckDB only",
            path=path,
            hint="use `type: duckdb`",
        )
    db_path = str(output.get("path", f"{profile_name}.duckdb"))
    if db_path != ":memory:" and not db_path.startswith("md:"):
        # as dbt-duckdb: a relative path starts at the working directory; with no path at
        # all, predsql keeps the database in the project folder
        base = Path.cwd() if "path" in output else root
        db_path = str((base / Path(db_path).expanduser()).resolve())
    settings = dict(output.get("settings") or {})
    return Target(
        name=name,
        profile=profile_name,
        path=db_path,
        schema=str(output.get("schema", "main")),
        threads=int(threads or output.get("threads", 1)),
        settings=settings,
        profile_file=str(path),
        executor=output.get("executor"),
        extensions=tuple(output.get("extensions") or ()),
        attach=tuple(output.get("attach") or ()),
        external_root=str(output.get("external_root") or "."),
    )
