"""Data tests: generic tests from properties YAML, singular tests, how they run.

A test is a compiled node whose SQL returns the failing rows. Generic tests
(`unique`, `not_null`, `accepted_values`, `relationships`, `accepted_range` and
custom `{% test %}` blocks) are generated here from the properties files.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

import duckdb

from predsql.compiler import CompiledNode, CompiledProject
from predsql.database import ensure_schema, quote
from predsql.errors import ProjectError
from predsql.runner import NodeResult
from predsql.vectors.spec import has_nearest

CONDITION_RE = re.compile(r"^\s*(==|!=|>=|<=|>|<|=)\s*(\d+)\s*$")


@dataclass
class TestKit:
    compiled: CompiledProject
    runtimes: Any
    console: Any


def test_selector_methods(compiled: CompiledProject) -> dict[str, Any]:
    def test_type(node: CompiledNode, value: str) -> bool:
        kind = node.extra.get("test_type")
        return node.resource_type == "test" and kind == value

    def test_name(node: CompiledNode, value: str) -> bool:
        return node.resource_type == "test" and node.extra.get("test_name") == value

    return {"test_type": test_type, "test_name": test_name}


def build_parents(compiled: CompiledProject, order: list[str], with_tests: bool) -> dict[str, set[str]]:
    """Dependencies within the run; in `build`, tests gate nodes as in dbt.

    A data test gates every non-test node all of whose ancestors include every
    node the test depends on (dbt's rule): a relationships test on `b` that also
    reads `c` (a child of `b`) runs after `c` and gates only what is downstream
    of both. A unit test gates the model it tests.
    """
    in_run = set(order)
    graph = compiled.graph
    parents = {uid: set(graph.parents.get(uid, ())) & in_run for uid in order}
    if not with_tests:
        return parents
    memo: dict[str, set[str]] = {}
    for uid in order:
        node = compiled.nodes[uid]
        if node.resource_type != "test":
            continue
        if node.extra.get("test_type") == "unit":
            for tested in node.extra.get("attached_to", []):
                if tested in in_run:
                    parents[tested].add(uid)
            continue
        for gated in gated_by_test(compiled, node, memo) & in_run:
            parents[gated].add(uid)
    return parents


def gated_by_test(compiled: CompiledProject, test: CompiledNode,
                  memo: dict[str, set[str]]) -> set[str]:
    """Non-test nodes strictly downstream of every node the test depends on
    (`memo` caches descendants across the tests of one run)."""
    depends = [d for d in test.depends_on if d in compiled.nodes]
    if not depends:
        return set()

    def below(uid: str) -> set[str]:
        if uid not in memo:
            memo[uid] = compiled.graph.descendants(uid)
        return memo[uid]

    gated = set(below(depends[0]))
    for other in depends[1:]:
        gated &= below(other)
    return {uid for uid in gated if compiled.nodes[uid].resource_type != "test"}


def parse_condition(text: Any, path: str) -> tuple[str, int]:
    match = CONDITION_RE.match(str(text))
    if not match:
        raise ProjectError(
            f"cannot read test threshold {text!r}", path=path,
            hint="use a comparison with a number, e.g. '>10' or '!=0'",
        )
    op = "==" if match.group(1) == "=" else match.group(1)
    return op, int(match.group(2))


def condition_holds(condition: tuple[str, int], failures: int) -> bool:
    op, value = condition
    return {
        "==": failures == value, "!=": failures != value, ">": failures > value,
        ">=": failures >= value, "<": failures < value, "<=": failures <= value,
    }[op]


def test_status(config: dict[str, Any], failures: int, path: str) -> str:
    severity = str(config.get("severity", "error")).lower()
    error_if = parse_condition(config.get("error_if", "!=0"), path)
    warn_if = parse_condition(config.get("warn_if", "!=0"), path)
    if severity == "error" and condition_holds(error_if, failures):
        return "fail"
    if condition_holds(warn_if, failures):
        return "warn"
    return "pass"


def audit_schema(compiled: CompiledProject) -> str:
    return f"{compiled.project.target.schema}_dbt_test__audit"


def run_test_node(cursor: duckdb.DuckDBPyConnection, node: CompiledNode, kit: TestKit) -> NodeResult:
    if node.extra.get("test_type") == "unit":
        from predsql.unit_test_run import run_unit_test

        return run_unit_test(cursor, node, kit)
    started = time.time()
    sql = node.compiled_sql.rstrip().rstrip(";")
    if node.extra.get("ml_calls") or has_nearest(node):
        sql = _materialize_ml_test(cursor, node, kit)
    limit = node.config.get("limit")
    if limit is not None:
        sql = f"SELECT * FROM ({sql}) LIMIT {int(limit)}"
    if node.config.get("store_failures"):
        schema = audit_schema(kit.compiled)
        ensure_schema(cursor, schema)
        cursor.execute(f"CREATE OR REPLACE TABLE {quote(schema)}.{quote(node.name)} AS {sql}")
        sql = f"SELECT * FROM {quote(schema)}.{quote(node.name)}"
    fail_calc = str(node.config.get("fail_calc") or "count(*)")
    failures = int(cursor.execute(f"SELECT {fail_calc} FROM ({sql}) AS __t").fetchall()[0][0]
                   or 0)
    status = test_status(node.config, failures, node.node.rel_path)
    if status == "pass":
        failures = 0  # as dbt: failures are counted only when they warn or fail
    done = time.time()
    rule = "error_if" if status == "fail" else "warn_if"
    message = "" if status == "pass" else (
        f"Got {failures} result{'s' if failures != 1 else ''}, configured to "
        f"{'fail' if status == 'fail' else 'warn'} if {node.config.get(rule, '!=0')}"
    )
    return NodeResult(node.unique_id, node.name, "test", status, message,
                      execution_time=done - started, failures=failures, started_at=started,
                      completed_at=done, materialized="test")


def _materialize_ml_test(cursor: duckdb.DuckDBPyConnection, node: CompiledNode, kit: TestKit) -> str:
    from predsql.database import WORK_SCHEMA, relation
    from predsql.materializations import SqlRows
    from predsql.ml.executor import MlRows
    from predsql.vectors.execute import NearestRows

    def inner(node: CompiledNode) -> Any:
        if node.extra.get("ml_calls"):
            return MlRows(node, kit.runtimes.registry, kit.runtimes, cursor, kit.console)
        return SqlRows(node.compiled_sql)

    rows = NearestRows(node, inner, kit.runtimes.device) if has_nearest(node) else inner(node)
    ensure_schema(cursor, WORK_SCHEMA)
    target = relation(WORK_SCHEMA, f"test_{node.name}")
    cursor.execute(f"DROP TABLE IF EXISTS {target}")
    rows.create_table(cursor, target)
    return f"SELECT * FROM {target}"
