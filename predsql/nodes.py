"""Finding the project's files and reading properties YAML into plain records."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from predsql.configs import tree_config
from predsql.dbt_duckdb.sources import external_location, source_options
from predsql.errors import PredsqlError, ProjectError
from predsql.project import Project, yaml_renderer
from predsql.yamlio import expect_mapping, line_of, plain, read_yaml_lines

DEFINITION_RE = re.compile(r"{%-?\s*(macro|test)\s+[A-Za-z_]")
DOCS_RE = re.compile(
    r"{%-?\s*docs\s+([A-Za-z_][\w]*)\s*-?%}(.*?){%-?\s*enddocs\s*-?%}", re.DOTALL
)


def default_materialization(resource_type: str) -> str:
    """dbt's defaults: a model is a view unless configured otherwise."""
    return {"seed": "seed", "test": "test", "snapshot": "snapshot",
            "analysis": "analysis"}.get(resource_type, "view")


@dataclass(frozen=True)
class Node:
    """A model, seed or singular test as found on disk, before rendering."""

    unique_id: str
    resource_type: str  # "model" | "seed" | "test"
    name: str
    path: Path
    rel_path: str
    fqn: tuple[str, ...]
    raw_sql: str
    config: dict[str, Any]
    description: str = ""
    columns: dict[str, dict[str, Any]] = field(default_factory=dict)
    properties_path: str | None = None

    @property
    def materialized(self) -> str:
        return str(self.config.get("materialized") or default_materialization(self.resource_type))


def is_python_model(node: Node) -> bool:
    """A dbt Python model (`models/*.py`): predsql does not run those yet."""
    return node.resource_type == "model" and node.path.suffix == ".py"


@dataclass(frozen=True)
class Source:
    unique_id: str
    source_name: str
    name: str
    schema: str
    identifier: str
    path: str
    description: str = ""
    columns: dict[str, dict[str, Any]] = field(default_factory=dict)
    tests: tuple[Any, ...] = ()
    database: str | None = None
    external: str | None = None  # dbt-duckdb's external_location, formatted (SQL)
    loaded_at_field: str | None = None  # `predsql source freshness`
    freshness: dict[str, Any] | None = None  # warn_after / error_after / filter, merged

    @property
    def relation(self) -> str:
        if self.external:
            return self.external
        parts = [self.database] if self.database else []
        parts += [self.schema, self.identifier]
        return ".".join(f'"{p}"' for p in parts)


@dataclass(frozen=True)
class Properties:
    """Everything the properties YAML files say, keyed by node name."""

    models: dict[str, dict[str, Any]]
    seeds: dict[str, dict[str, Any]]
    sources: dict[tuple[str, str], Source]
    unit_tests: tuple[dict[str, Any], ...]
    docs: dict[str, str]
    # top-level keys predsql does not use (exposures, metrics, semantic_models, ...), kept raw
    other: dict[str, list[Any]] = field(default_factory=dict)
    snapshots: dict[str, dict[str, Any]] = field(default_factory=dict)
    analyses: dict[str, dict[str, Any]] = field(default_factory=dict)


def iter_files(root: Path, folders: tuple[str, ...], suffix: str) -> list[Path]:
    files: list[Path] = []
    for folder in folders:
        base = root / folder
        if base.is_dir():
            files += sorted(p for p in base.rglob(f"*{suffix}") if p.is_file())
    return files


def _fqn(project: Project, folders: tuple[str, ...], path: Path) -> tuple[str, ...]:
    for folder in folders:
        base = project.root / folder
        if path.is_relative_to(base):
            parts = path.relative_to(base).with_suffix("").parts
            return (project.name, *parts)
    return (project.name, path.stem)


# Keys of properties YAML that dbt renders only later (test arguments are rendered when
# the test compiles); keys dbt does not render at parse time are kept as written.
RENDERED_KEYS = ("models", "seeds", "snapshots", "analyses", "sources", "unit_tests")
NORENDER = ("tests", "data_tests")


def _render_entry(entry: Any, render: Any, keypath: tuple[Any, ...] = ()) -> Any:
    """Render a properties entry as dbt does: `tests:` / `data_tests:` (of the entry,
    its columns, its versions, a source's tables) stay raw; errors name the line."""
    if keypath and keypath[-1] in NORENDER and (
            len(keypath) == 2 or keypath[-3] in ("columns", "versions", "tables")):
        return entry
    if isinstance(entry, str):
        if "{{" not in entry and "{%" not in entry:
            return entry
        try:
            return render(entry)
        except PredsqlError as exc:
            start = line_of(entry)
            if start:
                exc.line = start + (exc.line or 1) - 1
            raise
    if isinstance(entry, list):
        return [_render_entry(v, render, (*keypath, i)) for i, v in enumerate(entry)]
    if isinstance(entry, dict):
        return {k: _render_entry(v, render, (*keypath, k)) for k, v in entry.items()}
    return entry


def read_properties(project: Project) -> Properties:
    docs = read_docs_blocks(project)

    def doc(name: str) -> str:
        if name not in docs:
            raise ProjectError(f"doc({name!r}) names no {{% docs %}} block",
                               hint="define it in a .md file under the model paths")
        return docs[name]

    renderer = yaml_renderer(project.vars, project.target.as_context(), {"doc": doc})
    models: dict[str, dict[str, Any]] = {}
    seeds: dict[str, dict[str, Any]] = {}
    sources: dict[tuple[str, str], Source] = {}
    unit_tests: list[dict[str, Any]] = []
    other: dict[str, list[Any]] = {}
    snapshots: dict[str, dict[str, Any]] = {}
    analyses: dict[str, dict[str, Any]] = {}
    folders = (project.model_paths + project.seed_paths + project.test_paths
               + project.snapshot_paths + project.analysis_paths)
    yml_files = list(dict.fromkeys(iter_files(project.root, folders, ".yml") + iter_files(
        project.root, folders, ".yaml"
    )))
    for path in yml_files:
        raw = expect_mapping(read_yaml_lines(path), path, "a properties file")

        def render(text: str, path: Path = path) -> str:
            return renderer(text, path)

        data = {}
        for key, value in raw.items():
            if key in RENDERED_KEYS:
                data[str(key)] = plain(_render_entry(value, render))
            elif key != "version":
                other.setdefault(str(key), []).extend(
                    plain(value) if isinstance(value, list) else [plain(value)])
        rel = str(path.relative_to(project.root))
        for key, target in (("models", models), ("seeds", seeds), ("snapshots", snapshots),
                            ("analyses", analyses)):
            for entry, line in _entries(data, raw, key, path):
                entry["__path__"] = rel
                entry["__line__"] = line
                if entry["name"] in target:
                    raise ProjectError(
                        f"{key[:-1]} {entry['name']!r} is described twice "
                        f"(also in {target[entry['name']]['__path__']})",
                        path=path, line=line,
                        hint="keep one properties entry per node",
                    )
                target[entry["name"]] = entry
        for entry, _line in _entries(data, raw, "sources", path):
            for source in _sources(entry, rel, project):
                sources[(source.source_name, source.name)] = source
        for entry, line in _entries(data, raw, "unit_tests", path):
            entry["__path__"] = rel
            entry["__line__"] = line
            unit_tests.append(entry)
    return Properties(models, seeds, sources, tuple(unit_tests), docs, other, snapshots,
                      analyses)


def _entries(data: dict[str, Any], raw: dict[str, Any], key: str,
             path: Path) -> list[tuple[dict[str, Any], int | None]]:
    entries = data.get(key) or []
    if not isinstance(entries, list):
        raise ProjectError(f"`{key}:` must be a list", path=path, line=line_of(raw.get(key)))
    raw_entries = raw.get(key) or []
    result = []
    for index, entry in enumerate(entries):
        line = line_of(raw_entries[index]) if index < len(raw_entries) else None
        if not isinstance(entry, dict) or not entry.get("name"):
            raise ProjectError(
                f"every entry under `{key}:` needs a `name:`", path=path, line=line
            )
        result.append((entry, line))
    return result


def _sources(entry: dict[str, Any], rel: str, project: Project) -> list[Source]:
    source_name = entry["name"]
    schema = str(entry.get("schema", source_name))
    result = []
    for table in entry.get("tables") or []:
        if not isinstance(table, dict) or "name" not in table:
            raise ProjectError(
                f"source {source_name!r}: every table needs a `name:`", path=rel
            )
        result.append(
            replace(_source(entry, table, rel, project, schema),
                    external=_external(entry, table, rel, project, schema)))
    return result


def _external(entry: dict[str, Any], table: dict[str, Any], rel: str, project: Project,
              schema: str) -> str | None:
    """dbt-duckdb's `external_location` of a source table (dbt_duckdb/sources.py)."""
    tree = tree_config(project.sources_config, (project.name, entry["name"], table["name"]))
    options = source_options(tree, entry, table)
    if "external_location" not in options:
        return None
    names = {"name": table["name"], "identifier": str(table.get("identifier", table["name"])),
             "schema": schema, "tags": [*(entry.get("tags") or []), *(table.get("tags") or [])],
             "database": entry.get("database") or project.target.as_context()["database"]}
    return external_location(options, names, rel)


def _source(entry: dict[str, Any], table: dict[str, Any], rel: str, project: Project,
            schema: str) -> Source:
    source_name = entry["name"]
    return Source(
        unique_id=f"source.{project.name}.{source_name}.{table['name']}",
        source_name=source_name,
        name=table["name"],
        schema=schema,
        identifier=str(table.get("identifier", table["name"])),
        path=rel,
        description=str(table.get("description", "")),
        columns=column_map(table.get("columns")),
        tests=tuple(table.get("data_tests") or table.get("tests") or ()),
        database=entry.get("database"),
        loaded_at_field=_setting(entry, table, "loaded_at_field"),
        freshness=_freshness(entry, table),
    )


def _setting(source: dict[str, Any], table: dict[str, Any], key: str) -> Any:
    """A table's setting, else its source's (either may sit under `config:`)."""
    for entry in (table, source):
        config = entry.get("config") if isinstance(entry.get("config"), dict) else {}
        if key in config:
            return config[key]
        if key in entry:
            return entry[key]
    return None


def _freshness(source: dict[str, Any], table: dict[str, Any]) -> dict[str, Any] | None:
    """The source's freshness with the table's keys over it; `freshness: null` on the
    table turns it off, as in dbt."""
    merged: dict[str, Any] = {}
    for entry in (source, table):
        config = entry.get("config") if isinstance(entry.get("config"), dict) else {}
        for holder in (entry, config):
            if "freshness" not in holder:
                continue
            value = holder["freshness"]
            if value is None:
                merged = {}
                if entry is table:
                    return None
            elif isinstance(value, dict):
                merged.update(value)
    return merged or None


def column_map(columns: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(columns, list):
        return {}
    return {str(c["name"]): c for c in columns if isinstance(c, dict) and "name" in c}


def read_docs_blocks(project: Project) -> dict[str, str]:
    docs: dict[str, str] = {}
    folders = project.model_paths + project.macro_paths + project.seed_paths
    for path in iter_files(project.root, folders, ".md"):
        for name, body in DOCS_RE.findall(path.read_text(encoding="utf-8")):
            docs[name] = body.strip()
    return docs


def discover_nodes(project: Project, props: Properties) -> list[Node]:
    nodes: list[Node] = []
    seen: dict[str, Path] = {}
    for path in iter_files(project.root, project.model_paths, ".sql"):
        nodes.append(_file_node(project, props.models, "model", path, project.model_paths))
    for path in iter_files(project.root, project.model_paths, ".py"):
        # dbt Python models: nodes of the graph that fail with a clear error (never dropped)
        nodes.append(_file_node(project, props.models, "model", path, project.model_paths))
    for path in iter_files(project.root, project.seed_paths, ".csv"):
        nodes.append(_file_node(project, props.seeds, "seed", path, project.seed_paths))
    for path in iter_files(project.root, project.analysis_paths, ".sql"):
        node = _file_node(project, props.analyses, "analysis", path, project.analysis_paths)
        nodes.append(replace(node, fqn=(node.fqn[0], "analysis", *node.fqn[1:])))  # as dbt
    for path in iter_files(project.root, project.test_paths, ".sql"):
        if _is_fixture(project, path):
            continue  # unit test fixtures (tests/fixtures/*.sql) are not singular tests
        if not DEFINITION_RE.search(path.read_text(encoding="utf-8")):
            nodes.append(_file_node(project, {}, "test", path, project.test_paths))
    for node in nodes:
        # DuckDB names are case-insensitive: `Orders` and `orders` would be one table
        name = node.name.lower()
        key = f"{node.resource_type}:{name}" if node.resource_type in ("test", "analysis") else name
        if key in seen:
            raise ProjectError(
                f"two nodes are named {node.name!r} (names are case-insensitive): "
                f"{seen[key].relative_to(project.root)} and {node.rel_path}",
                path=node.rel_path,
                hint="rename one of the files; node names must be unique",
            )
        seen[key] = node.path
    return nodes


def _is_fixture(project: Project, path: Path) -> bool:
    for folder in project.test_paths:
        base = project.root / folder
        if path.is_relative_to(base) and "fixtures" in path.relative_to(base).parts[:-1]:
            return True
    return False


def _entry_config(entry: dict[str, Any]) -> dict[str, Any]:
    """A properties entry's config; model-level `constraints:` travel with it."""
    config = dict(entry.get("config") or {})
    if entry.get("constraints") and "constraints" not in config:
        config["constraints"] = entry["constraints"]
    return config


def _file_node(
    project: Project,
    props: dict[str, dict[str, Any]],
    kind: str,
    path: Path,
    folders: tuple[str, ...],
) -> Node:
    name = path.stem
    entry = props.get(name, {})
    raw = "" if kind == "seed" else path.read_text(encoding="utf-8")
    return Node(
        unique_id=f"{kind}.{project.name}.{name}",
        resource_type=kind,
        name=name,
        path=path,
        rel_path=str(path.relative_to(project.root)),
        fqn=_fqn(project, folders, path),
        raw_sql=raw,
        config=_entry_config(entry),
        description=str(entry.get("description", "")),
        columns=column_map(entry.get("columns")),
        properties_path=entry.get("__path__"),
    )
