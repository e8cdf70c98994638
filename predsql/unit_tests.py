"""Unit tests in dbt 1.8's format: a model's real SQL, ML calls included, on given rows.

Each unit test runs in a fresh in-memory DuckDB: the `given` rows become the
relations the model reads (typed like the real relations when those exist), the
model's compiled SQL runs there, and its rows are compared with `expect`, floats
within a tolerance. The target database is only read (for column types).
"""

from __future__ import annotations

import csv
import io
import math
import re
import time
from dataclasses import replace
from typing import Any

import duckdb
import pyarrow as pa

from predsql.compiler import CompiledNode, CompiledProject, strip_sql, wrap_with_ctes
from predsql.database import quote, relation_kind
from predsql.errors import ProjectError
from predsql.nodes import Node
from predsql.rendering import Renderer
from predsql.runner import NodeResult

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
    ctes = [(f"__dbt__cte__{compiled.nodes[d].name}", strip_sql(compiled.nodes[d].compiled_sql))
            for d in model.depends_on if compiled.nodes[d].materialized == "ephemeral"]
    givens = [_given(compiled, g, name, path) for g in entry.get("given") or []]
    expect = _rows(entry.get("expect") or {}, f"unit test {name!r} expect", path)
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


def _given(compiled: CompiledProject, given: dict[str, Any], name: str, path: str) -> dict:
    text = str(given.get("input", ""))
    ref = REF_RE.match(text)
    src = SOURCE_RE.match(text)
    if ref:
        target = compiled.by_name(ref.group(1))
        if target is None:
            raise ProjectError(f"unit test {name!r}: given input {text} names no model",
                               path=path)
        schema, table = target.schema, target.alias
    elif src:
        source = compiled.sources.get((src.group(1), src.group(2)))
        if source is None:
            raise ProjectError(f"unit test {name!r}: given input {text} names no source",
                               path=path)
        schema, table = source.schema, source.identifier
    else:
        raise ProjectError(f"unit test {name!r}: `input:` must be ref('x') or source('s', 't')",
                           path=path)
    return {"schema": schema, "table": table, "rows": _rows(given, f"given {text}", path)}


def _rows(block: dict[str, Any], what: str, path: str) -> list[dict[str, Any]]:
    rows = block.get("rows")
    if block.get("format", "dict") == "csv":
        if not isinstance(rows, str):
            raise ProjectError(f"{what}: `format: csv` needs `rows` as CSV text", path=path)
        return [{k: (None if v == "" else v) for k, v in r.items()}
                for r in csv.DictReader(io.StringIO(rows.strip()))]
    if rows is None:
        return []
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ProjectError(f"{what}: `rows` must be a list of mappings", path=path)
    return rows


def _load_given(mem: duckdb.DuckDBPyConnection, target: duckdb.DuckDBPyConnection,
                given: dict[str, Any]) -> None:
    schema, table, rows = given["schema"], given["table"], given["rows"]
    mem.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}")
    name = f"{quote(schema)}.{quote(table)}"
    real = relation_kind(target, schema, table) is not None
    if real:
        columns = target.execute(f"DESCRIBE {name}").fetchall()
        defs = ", ".join(f"{quote(c[0])} {c[1]}" for c in columns)
        mem.execute(f"CREATE TABLE {name} ({defs})")
        if rows:
            keys = sorted({k for r in rows for k in r})
            params = ", ".join("?" for _ in keys)
            cols = ", ".join(quote(k) for k in keys)
            mem.executemany(f"INSERT INTO {name} ({cols}) VALUES ({params})",
                            [[r.get(k) for k in keys] for r in rows])
        return
    if not rows:
        raise ProjectError(f"given {schema}.{table} has no rows and no existing relation "
                           "to take its columns from", hint="add rows, or build it first")
    keys = list(dict.fromkeys(k for r in rows for k in r))
    arrow = pa.Table.from_pylist([{k: r.get(k) for k in keys} for r in rows])
    mem.register("__given", arrow)
    mem.execute(f"CREATE TABLE {name} AS SELECT * FROM __given")
    mem.unregister("__given")


def run_unit_test(cursor: duckdb.DuckDBPyConnection, node: CompiledNode, kit: Any) -> NodeResult:
    from predsql.ml.executor import MlRows

    started = time.time()
    mem = duckdb.connect(":memory:")
    try:
        for given in node.extra["givens"]:
            _load_given(mem, cursor, given)
        if node.extra.get("ml_calls"):
            rows = MlRows(node, kit.runtimes.registry, kit.runtimes, mem,
                          kit.console)
            rows.create_table(mem, "__actual")
        else:
            mem.execute(f"CREATE TABLE __actual AS {strip_sql(node.compiled_sql)}")
        expect = node.extra["expect"]
        columns = list(dict.fromkeys(k for r in expect for k in r)) or [
            d[0] for d in mem.execute("SELECT * FROM __actual LIMIT 0").description]
        actual = mem.execute(
            f"SELECT {', '.join(quote(c) for c in columns)} FROM __actual").fetchall()
    finally:
        mem.close()
    expected = [tuple(r.get(c) for c in columns) for r in expect]
    missing, unexpected = compare_rows(expected, actual)
    failures = len(missing) + len(unexpected)
    done = time.time()
    message = "" if not failures else diff_table(columns, missing, unexpected)
    return NodeResult(node.unique_id, node.name, "test", "fail" if failures else "pass",
                      message, execution_time=done - started, failures=failures,
                      started_at=started, completed_at=done, materialized="unit_test")


def values_match(expected: Any, actual: Any) -> bool:
    if expected is None or actual is None:
        return expected is None and actual is None
    if isinstance(actual, (list, tuple)):
        return (isinstance(expected, (list, tuple)) and len(expected) == len(actual)
                and all(values_match(e, a) for e, a in zip(expected, actual)))
    if isinstance(actual, (float, int)) and not isinstance(actual, bool):
        try:
            number = float(expected)
        except (TypeError, ValueError):
            return False
        return math.isclose(number, float(actual), rel_tol=REL_TOL, abs_tol=ABS_TOL)
    if isinstance(actual, bool):
        return str(expected).lower() == str(actual).lower()
    return str(expected) == str(actual)


def compare_rows(expected: list[tuple], actual: list[tuple]) -> tuple[list[tuple], list[tuple]]:
    """Multiset comparison with float tolerance: (missing rows, unexpected rows)."""
    remaining = list(actual)
    missing = []
    for row in expected:
        match = next((i for i, other in enumerate(remaining)
                      if all(values_match(e, a) for e, a in zip(row, other))), None)
        if match is None:
            missing.append(row)
        else:
            remaining.pop(match)
    return missing, remaining


def diff_table(columns: list[str], missing: list[tuple], unexpected: list[tuple]) -> str:
    header = ["", *columns]
    body = [["- expected", *map(_fmt, r)] for r in missing]
    body += [["+ actual", *map(_fmt, r)] for r in unexpected]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]
    lines = [" | ".join(str(v).ljust(w) for v, w in zip(row, widths)) for row in [header, *body]]
    return "actual differs from expected:\n    " + "\n    ".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "NULL" if value is None else str(value)
