"""`build` runs every selected node: tests gate as in dbt, nothing vanishes."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import output, run_cli, write
from predsql.compiler import CompiledNode, CompiledProject
from predsql.graph import build_graph
from predsql.nodes import Node
from predsql.runner import NodeResult, run_nodes
from predsql.testing import build_parents


def statuses(root: Path) -> dict[str, str]:
    results = json.loads((root / "target/run_results.json").read_text())["results"]
    return {r["unique_id"].split(".")[-1]: r["status"] for r in results}


def test_relationships_test_to_a_child_model_runs_after_it(project: Path) -> None:
    write(project, {
        "seeds/a.csv": "id\n1\n2\n",
        "models/b.sql": "select * from {{ ref('a') }}",
        "models/c.sql": "select * from {{ ref('b') }}",
        "models/d.sql": "select * from {{ ref('c') }}",
        "models/props.yml": """
            models:
              - name: b
                columns:
                  - name: id
                    data_tests:
                      - relationships: {to: ref('c'), field: id}
        """,
    })
    result = run_cli(project, "build")
    got = statuses(project)
    assert got == {"a": "success", "b": "success", "c": "success", "d": "success",
                   "relationships_b_id__id__ref_c_": "pass"}
    assert "TOTAL=5" in output(result)
    order = list(statuses(project))  # run_results.json lists nodes in the order they ran
    assert order.index("relationships_b_id__id__ref_c_") > order.index("c")


def test_python_models_fail_in_place_and_skip_their_children(project: Path) -> None:
    write(project, {
        "seeds/a.csv": "id\n1\n2\n",
        "models/b.sql": "select * from {{ ref('a') }}",
        "models/c.py": "def model(dbt, session):\n    return dbt.ref('b').df()\n",
        "models/d.sql": "select * from {{ ref('c') }}",
        "models/e.sql": "select * from {{ ref('a') }}",
    })
    result = run_cli(project, "build", code=1)
    assert statuses(project) == {"a": "success", "b": "success", "c": "error",
                                 "d": "skipped", "e": "success"}
    order = list(statuses(project))  # run_results.json lists nodes in the order they ran
    assert order.index("c") > order.index("b")  # its dbt.ref() parent ran first
    assert "models/c.py: dbt Python models are not supported by predsql yet" in output(result)
    assert "ERROR=1 SKIP=1" in output(result)


def test_failing_multi_parent_test_skips_only_what_is_below_both(project: Path) -> None:
    write(project, {
        "models/b.sql": "select 1 as id union all select 2",
        "models/c.sql": "select * from {{ ref('b') }} where id = 1",
        "models/d.sql": "select * from {{ ref('c') }}",
        "models/e.sql": "select * from {{ ref('b') }}",
        "tests/b_ids_in_c.sql": """
            select b.id from {{ ref('b') }} b left join {{ ref('c') }} c using (id)
            where c.id is null
        """,
    })
    result = run_cli(project, "build", code=1)
    got = statuses(project)
    assert got == {"b": "success", "c": "success", "e": "success", "b_ids_in_c": "fail",
                   "d": "skipped"}
    assert "skipped because b_ids_in_c did not succeed" in output(result)


def _compiled(parents: dict[str, list[str]], tests: dict[str, list[str]]) -> CompiledProject:
    nodes: dict[str, CompiledNode] = {}
    for uid, deps in {**parents, **tests}.items():
        kind = "test" if uid in tests else "model"
        node = Node(uid, kind, uid, Path(uid), uid, ("p", uid), "", {})
        extra = {"test_type": "data", "attached_to": deps[:1]} if kind == "test" else {}
        nodes[uid] = CompiledNode(node, {}, "main", uid, depends_on=tuple(deps), extra=extra)
    graph = build_graph({uid: n.depends_on for uid, n in nodes.items()}, {})
    return CompiledProject(None, None, nodes, graph)  # type: ignore[arg-type]


@st.composite
def dags_with_tests(draw: st.DrawFn) -> tuple[dict[str, list[str]], dict[str, list[str]], set[str]]:
    n = draw(st.integers(1, 12))
    models = [f"m{i}" for i in range(n)]
    parents = {m: sorted(set(draw(st.lists(st.sampled_from(models[:i]), max_size=3))))
               if i else [] for i, m in enumerate(models)}
    tests = {f"t{j}": sorted(set(draw(st.lists(st.sampled_from(models), min_size=1, max_size=3))))
             for j in range(draw(st.integers(0, 10)))}
    failing = set(draw(st.lists(st.sampled_from(models + list(tests)), max_size=3)))
    return parents, tests, failing


@settings(max_examples=300, deadline=None)
@given(dags_with_tests(), st.integers(1, 3))
def test_every_node_runs_is_skipped_or_fails(case: tuple, threads: int) -> None:
    parents, tests, failing = case
    compiled = _compiled(parents, tests)
    order = list(compiled.graph.order)
    gates = build_parents(compiled, order, with_tests=True)
    ran: list[str] = []

    def work(_cursor: object, node: CompiledNode) -> NodeResult:
        assert all(p in ran for p in gates[node.unique_id])
        ran.append(node.unique_id)
        status = "fail" if node.unique_id in failing and node.resource_type == "test" else (
            "error" if node.unique_id in failing else
            "pass" if node.resource_type == "test" else "success")
        return NodeResult(node.unique_id, node.name, node.resource_type, status)

    class FakeConnection:
        def cursor(self) -> FakeConnection:
            return self

        def close(self) -> None:
            pass

    results = run_nodes(FakeConnection(), compiled.nodes, order, gates, work,  # type: ignore[arg-type]
                        threads=threads)
    assert sorted(r.unique_id for r in results) == sorted(order)
    assert not any(r.extra.get("internal_error") for r in results)
    by_id = {r.unique_id: r for r in results}
    for uid, deps in tests.items():  # a test runs after everything it reads
        assert by_id[uid].status == "skipped" or all(by_id[d].ok for d in deps)
        if by_id[uid].status == "fail":  # ... and skips what is below all of them
            below = set.intersection(*(compiled.graph.descendants(d) for d in deps))
            for gated in below - set(tests):
                assert by_id[gated].status == "skipped"


def test_a_node_that_never_becomes_ready_is_an_internal_error(project: Path) -> None:
    compiled = _compiled({"a": [], "b": []}, {})
    cyclic = {"a": {"b"}, "b": {"a"}}
    results = run_nodes(None, compiled.nodes, ["a", "b"], cyclic,  # type: ignore[arg-type]
                        lambda c, n: NodeResult(n.unique_id, n.name, "model", "success"))
    assert [r.status for r in results] == ["error", "error"]
    assert all(r.extra.get("internal_error") for r in results)
    assert "never ran" in results[0].message
