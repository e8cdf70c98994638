"""Snapshot nodes: `{% snapshot %}` blocks in the snapshot paths, and snapshots
configured in properties YAML with `relation:` (dbt 1.9). The materialization is
materializations/snapshot.py."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from predsql.dbt.blocks import extract_blocks
from predsql.errors import ProjectError
from predsql.nodes import Node, Properties, column_map, iter_files
from predsql.project import Project

RELATION_RE = re.compile(r"^\s*(ref|source)\s*\(.*\)\s*$", re.DOTALL)


def discover_snapshots(project: Project, props: Properties) -> list[Node]:
    nodes: list[Node] = []
    for path in iter_files(project.root, project.snapshot_paths, ".sql"):
        text = path.read_text(encoding="utf-8")
        rel = str(path.relative_to(project.root))
        for block in extract_blocks(text, rel):
            if block.kind != "snapshot":
                continue
            if not block.name:
                raise ProjectError("a {% snapshot %} block needs a name", path=rel,
                                   line=block.line)
            body = block.source[block.body_start:block.source.rindex("{%")]
            fqn = _folder_fqn(project, path) + (path.stem, block.name)
            nodes.append(_node(project, props, block.name, path, fqn, body))
    for name, entry in props.snapshots.items():
        if "relation" not in entry:
            continue
        relation = str(entry["relation"])
        if not RELATION_RE.match(relation):
            raise ProjectError(f"snapshot {name!r}: `relation:` must be ref('...') or "
                               "source('...', '...')", path=entry.get("__path__"),
                               line=entry.get("__line__"))
        path = project.root / str(entry["__path__"])
        fqn = _folder_fqn(project, path) + (name,)
        nodes.append(_node(project, props, name, path, fqn, f"select * from {{{{ {relation} }}}}"))
    return nodes


def _folder_fqn(project: Project, path: Path) -> tuple[str, ...]:
    for folder in (*project.snapshot_paths, *project.model_paths):
        base = project.root / folder
        if path.is_relative_to(base):
            return (project.name, *path.relative_to(base).parent.parts)
    return (project.name,)


def _node(project: Project, props: Properties, name: str, path: Path, fqn: tuple[str, ...],
          sql: str) -> Node:
    entry: dict[str, Any] = props.snapshots.get(name, {})
    return Node(
        unique_id=f"snapshot.{project.name}.{name}", resource_type="snapshot", name=name,
        path=path, rel_path=str(path.relative_to(project.root)), fqn=fqn, raw_sql=sql,
        config=dict(entry.get("config") or {}), description=str(entry.get("description", "")),
        columns=column_map(entry.get("columns")), properties_path=entry.get("__path__"),
    )
