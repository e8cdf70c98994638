"""Everything the docs page shows, as one JSON-ready document.

`site_document` joins the compiled project, the registry, the database contents
(catalog), the last run's ML figures and the lineage graph into
{"project": ..., "nodes": {unique_id: {...}}}.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from predsql import __version__
from predsql.compiler import CompiledNode, CompiledProject
from predsql.docsite.catalog import DatabaseContents, Relation
from predsql.docsite.graph_nodes import (
    DocsGraph,
    build_docs_graph,
    function_id,
    node_parents,
    onnx_id,
)
from predsql.docsite.markdown_text import to_html
from predsql.docsite.ml_columns import ml_output_columns
from predsql.docsite.model_cards import OnnxFacts, broken_functions, registry_cards
from predsql.docsite.run_stats import function_runs
from predsql.executors.config import ExecutorConfig
from predsql.ml.registry import Registry
from predsql.nodes import Source

TYPE_ORDER = ("source", "onnx_file", "ml_function", "seed", "snapshot", "model", "test")


@dataclass(frozen=True)
class SiteInputs:
    compiled: CompiledProject
    registry: Registry
    contents: DatabaseContents | None  # None: no database yet
    run_results: dict[str, Any] | None
    executors: ExecutorConfig | None = None  # the target's executor (local when None)


def site_document(inputs: SiteInputs) -> dict[str, Any]:
    compiled, registry = inputs.compiled, inputs.registry
    root = compiled.project.root
    cards, files = registry_cards(registry, root, inputs.executors)
    model_files = {name: card["model_file"] for name, card in cards.items()}
    parents = node_parents(compiled, registry, model_files)
    nodes: dict[str, dict[str, Any]] = {}
    tests_by_column = _tests_by_column(compiled)
    ml_columns = ml_output_columns(compiled, inputs.contents, set(cards))
    for uid, node in compiled.nodes.items():
        nodes[uid] = _node_entry(node, inputs.contents, tests_by_column.get(uid, {}),
                                 ml_columns.get(uid, {}))
    for source in compiled.sources.values():
        nodes[source.unique_id] = _source_entry(source, inputs.contents,
                                                tests_by_column.get(source.unique_id, {}))
    project = compiled.project.name
    runs = function_runs(inputs.run_results)
    for name, card in cards.items():
        nodes[function_id(project, name)] = _function_entry(
            compiled, card, runs.get(name), ml_columns)
    for rel_path, facts in files.items():
        nodes[onnx_id(project, rel_path)] = _onnx_entry(project, facts)
    graph = build_docs_graph(parents, {uid: _sort_key(n) for uid, n in nodes.items()})
    _attach_graph(nodes, graph)
    return {"project": _project_entry(inputs, nodes, broken_functions(registry)),
            "nodes": nodes}


def _sort_key(entry: dict[str, Any]) -> str:
    return f"{entry.get('path') or ''}/{entry['name']}"


def _attach_graph(nodes: dict[str, dict[str, Any]], graph: DocsGraph) -> None:
    for uid, entry in nodes.items():
        entry["parents"] = list(graph.parents.get(uid, ()))
        entry["children"] = list(graph.children.get(uid, ()))
        entry["layer"] = graph.layer.get(uid, 0)
        entry["order"] = graph.order.get(uid, 0)


def _project_entry(inputs: SiteInputs, nodes: dict[str, dict[str, Any]],
                   broken: dict[str, dict[str, str]]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for entry in nodes.values():
        counts[entry["type"]] = counts.get(entry["type"], 0) + 1
    run = (inputs.run_results or {}).get("metadata") or {}
    return {
        "name": inputs.compiled.project.name,
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "predsql_version": __version__,
        "database": inputs.contents.database if inputs.contents else None,
        "has_catalog": inputs.contents is not None,
        "last_run": {"generated_at": run.get("generated_at"),
                     "command": ((inputs.run_results or {}).get("args") or {}).get("which")}
        if inputs.run_results else None,
        "counts": counts,
        "broken_functions": broken,
        "type_order": list(TYPE_ORDER),
    }


def _tests_by_column(compiled: CompiledProject) -> dict[str, dict[str, list[dict[str, str]]]]:
    """Tested node -> column ("" for table-level tests) -> [{id, name, test}]."""
    found: dict[str, dict[str, list[dict[str, str]]]] = {}
    for uid, node in compiled.nodes.items():
        if node.resource_type != "test":
            continue
        column = str(node.extra.get("column_name") or "")
        for tested in node.extra.get("attached_to") or ():
            found.setdefault(tested, {}).setdefault(column, []).append(
                {"id": uid, "name": node.name, "test": str(node.extra.get("test_name") or "")})
    return found


def _columns(described: dict[str, dict[str, Any]], rel: Relation | None,
             tests: dict[str, list[dict[str, str]]],
             ml: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Catalog columns in table order, then documented columns not in the table."""
    lower = {name.lower(): (name, props) for name, props in described.items()}
    tests_lower = {name.lower(): t for name, t in tests.items() if name}
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    table_columns = [(c.name, c.type, c.index, c.comment) for c in rel.columns] if rel else []
    extra = [(name, None, None, None) for name in described if name.lower() not in
             {c[0].lower() for c in table_columns}]
    for name, data_type, index, comment in table_columns + extra:
        key = name.lower()
        seen.add(key)
        props = lower.get(key, (name, {}))[1]
        rows.append({
            "name": name, "type": data_type, "index": index,
            "description_html": to_html(str(props.get("description") or comment or "")),
            "tests": tests_lower.get(key, []),
            "ml": ml.get(name),
            "in_table": index is not None,
        })
    return rows


def _catalog_facts(rel: Relation | None, database: str | None) -> dict[str, Any] | None:
    if rel is None:
        return None
    return {"type": rel.kind, "schema": rel.schema, "name": rel.name, "database": database,
            "row_count": rel.row_count, "columns": len(rel.columns)}


def _node_entry(node: CompiledNode, contents: DatabaseContents | None,
                tests: dict[str, list[dict[str, str]]],
                ml: dict[str, dict[str, Any]]) -> dict[str, Any]:
    rel = contents.get(node.schema, node.alias) if contents and node.resource_type in (
        "model", "seed", "snapshot") and node.materialized != "ephemeral" else None
    extra = node.extra
    kind = "unit_test" if extra.get("test_type") == "unit" else node.resource_type
    entry: dict[str, Any] = {
        "id": node.unique_id, "type": node.resource_type, "kind": kind, "name": node.name,
        "path": node.node.rel_path, "fqn": list(node.node.fqn), "tags": node.tags,
        "materialized": node.materialized,
        "relation": None if node.materialized in ("ephemeral", "test", "analysis") else
        f"{node.schema}.{node.alias}",
        "description_html": to_html(node.node.description),
        "columns": _columns(node.node.columns, rel, tests, ml),
        "table_tests": tests.get("", []),
        "raw_sql": node.node.raw_sql if node.resource_type != "seed" else "",
        "compiled_sql": node.compiled_sql or "",  # secrets: redacted in the whole document
        "config": {k: v for k, v in {**node.config, "materialized": node.materialized}.items()
                   if not k.startswith("__")},
        "catalog": _catalog_facts(rel, contents.database if contents else None),
        "ml_calls": call_sites(node),
    }
    if node.resource_type == "test":
        entry["test"] = {"test_type": extra.get("test_type"), "test_name": extra.get("test_name"),
                         "column": extra.get("column_name"),
                         "attached_to": list(extra.get("attached_to") or ()),
                         "severity": str(node.config.get("severity", "error"))}
    return entry


def _lines_calling(raw_sql: str, function: str) -> list[int]:
    pattern = re.compile(rf"\b{re.escape(function)}\s*\(", re.IGNORECASE)
    return [number for number, line in enumerate(raw_sql.splitlines(), start=1)
            if pattern.search(line)]


def call_sites(node: CompiledNode) -> list[dict[str, Any]]:
    """Each (function, line) where the node's source calls an ML function: every line
    naming the function, or the line the analysis recorded when the call comes from a
    macro (not in the node's own source)."""
    calls = node.extra.get("ml_calls") or []
    found: dict[tuple[str, int | None], None] = {}
    for function in dict.fromkeys(c["function"] for c in calls if not c.get("broken")):
        lines = _lines_calling(node.node.raw_sql, function) or [
            c.get("line") for c in calls if c["function"] == function][:1]
        found.update({(function, line): None for line in lines})
    return [{"function": f, "line": line} for f, line in found]


def _source_entry(source: Source, contents: DatabaseContents | None,
                  tests: dict[str, list[dict[str, str]]]) -> dict[str, Any]:
    rel = contents.get(source.schema, source.identifier) if contents else None
    return {
        "id": source.unique_id, "type": "source", "kind": "source",
        "name": f"{source.source_name}.{source.name}", "path": source.path,
        "fqn": [source.source_name, source.name], "tags": [], "materialized": "source",
        "relation": f"{source.schema}.{source.identifier}",
        "description_html": to_html(source.description),
        "columns": _columns(source.columns, rel, tests, {}),
        "table_tests": tests.get("", []), "raw_sql": "", "compiled_sql": "", "config": {},
        "catalog": _catalog_facts(rel, contents.database if contents else None),
        "ml_calls": [],
    }


def _function_entry(compiled: CompiledProject, card: dict[str, Any],
                    run: dict[str, Any] | None,
                    ml_columns: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    name = card["name"]
    callers = [
        {"node": uid, "path": node.node.rel_path, "line": call["line"]}
        for uid, node in compiled.nodes.items() if node.resource_type != "test"
        for call in call_sites(node) if call["function"] == name
    ]
    outputs = [{"node": uid, "column": column}
               for uid, columns in ml_columns.items()
               for column, info in columns.items() if name in info["functions"]]
    return {
        "id": function_id(compiled.project.name, name), "type": "ml_function",
        "kind": "ml_function", "name": name, "path": card["defined_in"], "fqn": [name],
        "tags": [], "materialized": "ml_function", "relation": None,
        "description_html": to_html(card["description"]), "columns": [], "table_tests": [],
        "raw_sql": "", "compiled_sql": "", "config": card["settings"], "catalog": None,
        "ml_calls": [], "card": card, "callers": callers, "run": run,
        "output_columns": outputs,
    }


def _onnx_entry(project: str, facts: OnnxFacts) -> dict[str, Any]:
    return {
        "id": onnx_id(project, facts.path), "type": "onnx_file", "kind": "onnx_file",
        "name": facts.path.removeprefix("package://") if facts.path.startswith("package://")
        else facts.path.rsplit("/", 1)[-1], "path": facts.path, "fqn": [facts.path],
        "tags": [], "materialized": "onnx_file", "relation": None,
        "description_html": to_html(facts.doc), "columns": [], "table_tests": [],
        "raw_sql": "", "compiled_sql": "", "config": {}, "catalog": None, "ml_calls": [],
        "onnx": facts.to_json(),
    }
