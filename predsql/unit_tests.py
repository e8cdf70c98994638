"""Unit tests in dbt 1.8's format: a model's real SQL, ML calls included, on given rows.

Here the unit test nodes are made from properties YAML: `given` inputs (`ref`,
`source`, `this`; rows as `dict`, `csv` or `sql`, inline or a `fixture:` file; a
seed given no rows uses its own), `expect`, `overrides`. An ephemeral input's
`sql` replaces its CTE. unit_test_run.py runs them (the target database is only
read, for column types).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from predsql.compiler import CompiledNode, CompiledProject, strip_sql, wrap_with_ctes
from predsql.errors import ProjectError
from predsql.nodes import Node
from predsql.rendering import Renderer

REF_RE = re.compile(r"""^\s*ref\(\s*['"]([^'"]+)['"]\s*\)\s*$""")
SOURCE_RE = re.compile(r"""^\s*source\(\s*['"]([^'"]+)['"]\s*,\s*['"]([^'"]+)['"]\s*\)\s*$""")
REL_TOL = 1e-4
ABS_TOL = 1e-6


def add_unit_tests(compiled: CompiledProject, renderer: Renderer) -> CompiledProject:
    nodes = dict(compiled.nodes)
    for entry in compiled.properties.unit_tests:
        node = _unit_test_node(compiled, renderer, entry)
        nodes[node.unique_id] = node
    return replace(compiled, nodes=nodes)


def _unit_test_node(compiled: CompiledProject, renderer: Renderer,
                    entry: dict[str, Any]) -> CompiledNode:
    path = entry["__path__"]
    name = str(entry["name"])
    model = compiled.by_name(str(entry.get("model", "")))
    if model is None or model.resource_type != "model":
        raise ProjectError(f"unit test {name!r} names no model ({entry.get('model')!r})",
                           path=path, hint="set `model:` to the name of a model")
    sql = _render_with_overrides(compiled, renderer, model, entry.get("overrides") or {})
    givens = [_given(compiled, g, model, name, path) for g in entry.get("given") or []]
    replaced = {g["cte"]: g["sql"] for g in givens if g["ephemeral"]}
    ctes = [(cte, strip_sql(replaced.get(cte, compiled.nodes[d].compiled_sql)))
            for d in model.depends_on if compiled.nodes[d].materialized == "ephemeral"
            for cte in [f"__dbt__cte__{compiled.nodes[d].name}"]]
    expect = fixture(compiled, entry.get("expect") or {}, f"unit test {name!r} expect", path)
    project = compiled.project
    node = Node(unique_id=f"unit_test.{project.name}.{model.name}.{name}",
                resource_type="test", name=name, path=project.root / path, rel_path=path,
                fqn=(project.name, model.name, name), raw_sql=model.node.raw_sql,
                config=dict(entry.get("config") or {}))
    return CompiledNode(
        node, node.config, schema=model.schema, alias=name, rendered_sql=sql,
        compiled_sql=wrap_with_ctes(sql, ctes),
        depends_on=tuple(d for d in model.depends_on),
        extra={"test_type": "unit", "test_name": "unit", "attached_to": [model.unique_id],
               "givens": givens, "expect": expect, "model": model.unique_id,
               "source_ids": []},
    )


def _render_with_overrides(compiled: CompiledProject, renderer: Renderer, model: CompiledNode,
                           overrides: dict[str, Any]) -> str:
    state = renderer.state
    saved_project, saved_incremental, saved_empty = state.project, state.incremental, state.empty
    state.empty = False  # the given rows stand in for the inputs, even with --empty
    try:
        if overrides.get("vars"):
            state.project = replace(saved_project,
                                    vars={**saved_project.vars, **overrides["vars"]})
        macros = overrides.get("macros") or {}
        if "is_incremental" in macros:
            state.incremental = lambda _node: bool(macros["is_incremental"])
        sql, _ = renderer.render(replace(model.node, config=model.config))
    finally:
        state.project, state.incremental, state.empty = (saved_project, saved_incremental,
                                                         saved_empty)
    return sql


def _given(compiled: CompiledProject, given: dict[str, Any], model: CompiledNode, name: str,
           path: str) -> dict[str, Any]:
    text = str(given.get("input", ""))
    ref = REF_RE.match(text)
    src = SOURCE_RE.match(text)
    seed_file = None
    ephemeral = False
    if text.strip() == "this":
        schema, table = model.schema, model.alias
    elif ref:
        target = compiled.by_name(ref.group(1))
        if target is None:
            raise ProjectError(f"unit test {name!r}: given input {text} names no model",
                               path=path)
        schema, table = target.schema, target.alias
        ephemeral = target.materialized == "ephemeral"
        seed_file = target.node.path if target.resource_type == "seed" else None
    elif src:
        source = compiled.sources.get((src.group(1), src.group(2)))
        if source is None:
            raise ProjectError(f"unit test {name!r}: given input {text} names no source",
                               path=path)
        schema, table = source.schema, source.identifier
    else:
        raise ProjectError(f"unit test {name!r}: `input:` must be ref('x'), source('s', 't') "
                           "or this", path=path)
    spec = fixture(compiled, given, f"given {text}", path, seed_file)
    error = None
    if ephemeral and spec["format"] != "sql":  # fails when the test runs, as in dbt
        error = (f"given {text} is an ephemeral model: its rows need `format: sql` (it has "
                 "no relation to take column types from; dbt requires format: sql too)")
    return {**spec, "schema": schema, "table": table, "label": repr(table), "error": error,
            "ephemeral": ephemeral and error is None,
            "cte": f"__dbt__cte__{table}" if ephemeral and error is None else None}


def fixture(compiled: CompiledProject, block: dict[str, Any], what: str, path: str,
            seed_file: Path | None = None) -> dict[str, Any]:
    """{format, rows | sql} of a given or expect block: `dict` rows, `csv` text or
    file, `sql` text or file (`fixture:` names a file under a test path's fixtures/),
    or, for a seed given no rows, the seed's own rows."""
    form = str(block.get("format") or "dict")
    if form not in ("dict", "csv", "sql"):
        raise ProjectError(f"{what}: unknown format {form!r}", path=path,
                           hint="use dict, csv or sql")
    rows = block.get("rows")
    if block.get("fixture"):
        rows = fixture_file(compiled, str(block["fixture"]), form, what, path)
    if form == "sql":
        if not isinstance(rows, str):
            raise ProjectError(f"{what}: `format: sql` needs `rows` as SQL text or a "
                               "`fixture:` file", path=path)
        return {"format": "sql", "sql": rows, "rows": None}
    if form == "csv":
        if not isinstance(rows, str):
            raise ProjectError(f"{what}: `format: csv` needs `rows` as CSV text or a "
                               "`fixture:` file", path=path)
        return {"format": "csv", "rows": csv_rows(rows), "sql": None}
    if rows is None and seed_file is not None:
        return {"format": "dict", "rows": csv_rows(seed_file.read_text(encoding="utf-8")),
                "sql": None}
    if rows is None:
        return {"format": "dict", "rows": [], "sql": None}
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ProjectError(f"{what}: `rows` must be a list of mappings", path=path)
    return {"format": "dict", "rows": rows, "sql": None}


def csv_rows(text: str) -> list[dict[str, Any]]:
    """CSV fixture rows; an empty value is NULL, as in dbt."""
    return [{k: (None if v == "" else v) for k, v in r.items()}
            for r in csv.DictReader(io.StringIO(text.strip()))]


def fixture_file(compiled: CompiledProject, name: str, form: str, what: str, path: str) -> str:
    suffix = ".sql" if form == "sql" else ".csv"
    project = compiled.project
    for folder in project.test_paths:
        base = project.root / folder
        found = sorted(p for p in base.rglob(f"{name}{suffix}")
                       if "fixtures" in p.relative_to(base).parts[:-1]) if base.is_dir() else []
        if found:
            return found[0].read_text(encoding="utf-8")
    raise ProjectError(f"{what}: fixture {name!r} not found", path=path,
                       hint=f"put {name}{suffix} under a `fixtures/` folder of a test path "
                            f"({', '.join(project.test_paths)})")
