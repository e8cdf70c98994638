"""target/: compiled SQL, manifest.json and run_results.json in dbt's shape."""

from __future__ import annotations

import json
import os
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from predsql import __version__
from predsql.compiler import CompiledNode, CompiledProject
from predsql.jinja import redact_secrets, secret_values
from predsql.runner import NodeResult

INVOCATION_ID = str(uuid.uuid4())


def metadata(schema: str) -> dict[str, Any]:
    """An artifact's `metadata` block in dbt's shape, e.g. metadata("sources/v3.json")."""
    return {
        "dbt_schema_version": f"https://schemas.getdbt.com/dbt/{schema}",
        "predsql_version": __version__,
        "generated_at": datetime.now(timezone.utc).isoformat(),
        "invocation_id": INVOCATION_ID,
        "adapter_type": "duckdb",
    }


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write atomically (temp file + rename) with secrets redacted."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # compact, as dbt writes its artifacts: the indenting encoder is pure Python and
    # took seconds on the manifest of a 2,000-model project
    text = redact_secrets(json.dumps(data, default=str, separators=(",", ":")))
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_compiled_sql(compiled: CompiledProject) -> None:
    base = compiled.project.target_dir / "compiled"
    secrets = secret_values()
    folders: set[Path] = set()
    for node in compiled.nodes.values():
        if node.resource_type == "seed" or not node.compiled_sql:
            continue
        package = node.node.fqn[0] if node.node.fqn else compiled.project.name
        path = base / package / node.node.rel_path
        if path.suffix in (".yml", ".yaml"):  # a generic test: <properties file>/<test>.sql
            path = path / f"{node.name}.sql"
        if path.parent not in folders:
            path.parent.mkdir(parents=True, exist_ok=True)
            folders.add(path.parent)
        path.write_text(redact_secrets(node.compiled_sql, secrets), encoding="utf-8")


def node_entry(node: CompiledNode) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "unique_id": node.unique_id,
        "name": node.name,
        "resource_type": node.resource_type,
        "package_name": node.node.fqn[0],
        "path": node.node.rel_path,
        "original_file_path": node.node.rel_path,
        "fqn": list(node.node.fqn),
        "schema": node.schema,
        "alias": node.alias,
        "relation_name": node.relation if node.materialized != "ephemeral" else None,
        "config": {**node.config, "materialized": node.materialized},
        "tags": node.tags,
        "description": node.node.description,
        "columns": node.node.columns,
        "raw_code": node.node.raw_sql,
        "compiled_code": node.compiled_sql,
        "depends_on": {
            "nodes": list(node.depends_on) + list(node.extra.get("source_ids", [])),
            "macros": [],
        },
        "checksum": {"name": "sha256", "checksum": node.checksum},
    }
    predsql = {k: v for k, v in node.extra.items() if k != "source_ids"}
    if predsql:
        entry["predsql"] = predsql
    return entry


def write_manifest(compiled: CompiledProject, extra: dict[str, Any] | None = None) -> Path:
    nodes = {
        uid: node_entry(n) for uid, n in compiled.nodes.items() if n.resource_type != "seed"
    }
    seeds = {
        uid: node_entry(n) for uid, n in compiled.nodes.items() if n.resource_type == "seed"
    }
    nodes.update(seeds)
    sources = {
        s.unique_id: {
            "unique_id": s.unique_id,
            "source_name": s.source_name,
            "name": s.name,
            "schema": s.schema,
            "identifier": s.identifier,
            "relation_name": s.relation,
            "path": s.path,
        }
        for s in compiled.sources.values()
    }
    data = {
        "metadata": metadata("manifest/v12.json"),
        "nodes": nodes,
        "sources": sources,
        "parent_map": {uid: list(p) for uid, p in compiled.graph.parents.items()},
        "child_map": {uid: list(c) for uid, c in compiled.graph.children.items()},
    }
    if extra:
        data["predsql"] = extra
    path = compiled.project.target_dir / "manifest.json"
    write_json(path, data)
    return path


def write_run_results(
    target_dir: Path, results: list[NodeResult], elapsed: float, args: dict[str, Any]
) -> Path:
    entries = []
    for r in results:
        entry: dict[str, Any] = {
            "unique_id": r.unique_id,
            "status": r.status,
            "execution_time": round(r.execution_time, 4),
            "message": r.message,
            "failures": r.failures,
            "thread_id": "Thread-1",
            "timing": [
                {
                    "name": "execute",
                    "started_at": _iso(r.started_at),
                    "completed_at": _iso(r.completed_at),
                }
            ] if r.started_at else [],
            "adapter_response": (
                {"_message": r.message.split("\n")[0], "rows_affected": r.rows_affected}
                if r.rows_affected is not None
                else {}
            ),
            "relation_name": r.relation or None,
        }
        if r.extra:
            entry["predsql"] = r.extra
        entries.append(entry)
    data = {
        "metadata": metadata("run-results/v6.json"),
        "results": entries,
        "elapsed_time": round(elapsed, 4),
        "args": args,
    }
    path = target_dir / "run_results.json"
    write_json(path, data)
    return path


def _iso(ts: float) -> str | None:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat() if ts else None
