"""The plan cache (predsql/ml/plan_cache.py): a run whose models did not change reuses
the ML calls and plans kept in target/ without importing sqlglot, with the same tables;
every input of a plan that changes is a miss, with correct results."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import duckdb
import pytest

import ml_models
from conftest import query, run_cli, run_in_fresh_interpreter, write
from predsql.console import Console
from predsql.ml.executor import _build_plan
from predsql.ml.plan_cache import PLAN_DIR, RUN_ID_SLOT, with_run_id
from predsql.tasks import Options, open_session

# nested calls (a work table, then a stream), a named argument, a star from upstream, a
# call in WHERE (NULL and NaN rows pass it)
SCORED = """
select *, dbl(x := x) as y, dbl(dbl(x)) as yy
from {{ ref('up') }}
where coalesce(dbl(x), 0) > -100
"""
UP = "select id, x from xs"
FUNCTIONS = "functions:\n  - name: dbl\n    model: dbl.onnx\n    on_null: '{on_null}'\n"


def project(root: Path) -> Path:
    write(root, {
        "predsql_project.yml": "name: proj\n",
        "functions/models.yml": FUNCTIONS.format(on_null="null"),
        "models/up.sql": UP,
        "models/scored.sql": SCORED,
    })
    ml_models.doubler(root / "functions" / "dbl.onnx")
    with duckdb.connect(str(root / "proj.duckdb")) as con:
        con.execute("create table xs as select range as id, "
                    "case when range % 7 = 3 then null else range::float - 5 end as x "
                    "from range(40)")
    return root


def scored(root: Path) -> list[tuple]:
    return query(root / "proj.duckdb", "select * from scored order by id")


def cache_file(root: Path) -> dict:
    (path,) = (root / "target" / PLAN_DIR).glob("model.proj.scored-*.json")
    return json.loads(path.read_text())


def run_in_subprocess(root: Path) -> bool:
    """`predsql run` in a fresh interpreter; whether it imported sqlglot."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    stdout, modules = run_in_fresh_interpreter(root, env)
    assert "PASS=2" in stdout, stdout
    return "sqlglot" in modules


@pytest.fixture()
def proj(tmp_path: Path) -> Path:
    return project(tmp_path / "proj")


def test_a_warm_run_skips_sqlglot_with_the_same_tables(proj: Path) -> None:
    assert run_in_subprocess(proj)  # cold: the calls are found and planned with sqlglot
    first = scored(proj)
    assert len(first) == 40 and first[0][2:] == (-10.0, -20.0)
    assert [r for r in first if r[0] == 3] == [(3, None, None, None)]
    assert not run_in_subprocess(proj)  # warm: nothing parsed
    assert scored(proj) == first
    shutil.rmtree(proj / "target")
    run_cli(proj, "run")
    assert scored(proj) == first


def test_a_stored_plan_is_the_plan_built_with_the_run_id(proj: Path) -> None:
    run_cli(proj, "run")
    session = open_session(Options(project_dir=proj), Console(quiet=True))
    node = session.compiled.by_name("scored")
    with duckdb.connect(str(proj / "proj.duckdb"), read_only=True) as con:
        direct, _ = _build_plan(con, node, session.registry, "0a1b2c3d4e")
        slot, _ = _build_plan(con, node, session.registry, RUN_ID_SLOT)
        cached = session.plans.plan(con, node, *_names(node))
    assert len(direct.stages) == 2 and not direct.stages[0].streamed  # dbl(dbl(x)): 2 stages
    assert "0a1b2c3d4e" in direct.stages[0].relation
    assert with_run_id(slot, "0a1b2c3d4e") == direct
    assert cached is not None and with_run_id(cached, "0a1b2c3d4e") == direct


def _names(node) -> tuple[str, str]:
    from predsql.ml.executor import _relation_names

    return _relation_names(node, RUN_ID_SLOT)


def test_an_sql_edit_is_a_miss(proj: Path) -> None:
    run_cli(proj, "run")
    before = cache_file(proj)
    (proj / "models" / "scored.sql").write_text(SCORED.replace("dbl(x := x)", "dbl(x := x + 1)"))
    run_cli(proj, "run")
    after = cache_file(proj)
    assert after["calls"]["key"] != before["calls"]["key"]
    assert after["plan"]["key"] != before["plan"]["key"]
    assert scored(proj)[0][2:] == (-8.0, -20.0)


def test_a_replaced_model_file_is_a_miss(proj: Path) -> None:
    run_cli(proj, "run")
    before = cache_file(proj)
    ml_models.nan_maker(proj / "functions" / "dbl.onnx")  # log(x): same signature, new file
    run_cli(proj, "run")
    assert cache_file(proj)["calls"]["key"] != before["calls"]["key"]
    row = [r for r in scored(proj) if r[0] == 6][0]  # x = 1: log(1) = 0, log(log(1)) = -inf
    assert row[2] == 0.0 and row[3] == float("-inf")


def test_an_upstream_type_change_is_a_miss(proj: Path) -> None:
    run_cli(proj, "run")
    first = scored(proj)
    (proj / "models" / "up.sql").write_text("select id, x::double as x from xs")
    run_cli(proj, "run")
    relations = cache_file(proj)["plan"]["relations"]
    assert relations == [["main", "up", [["id", "BIGINT"], ["x", "DOUBLE"]]]]
    assert scored(proj) == first


def test_an_upstream_column_added_in_the_same_run_is_a_miss(proj: Path) -> None:
    """`select *` must include the new column: the check before the run still saw the old
    `up` (and stored its plan); the model's run sees the new one."""
    run_cli(proj, "run")
    (proj / "models" / "up.sql").write_text("select id, x, id * 10 as w from xs")
    run_cli(proj, "run")
    rows = scored(proj)
    assert [r for r in rows if r[0] == 1] == [(1, -4.0, 10, -8.0, -16.0)]


def test_an_on_null_change_is_a_miss(proj: Path) -> None:
    run_cli(proj, "run")
    assert [r for r in scored(proj) if r[0] == 3] == [(3, None, None, None)]
    before = cache_file(proj)
    assert "NaN" not in json.dumps(before["plan"])
    (proj / "functions" / "models.yml").write_text(FUNCTIONS.format(on_null="nan"))
    run_cli(proj, "run")
    after = cache_file(proj)
    assert after["calls"]["key"] != before["calls"]["key"]
    assert "NaN" in json.dumps(after["plan"])  # the plan casts NULL to NaN now
    (row,) = [r for r in scored(proj) if r[0] == 3]
    assert row[1] is None and all(v != v for v in row[2:])


def test_a_corrupt_cache_file_is_ignored_and_rewritten(proj: Path) -> None:
    run_cli(proj, "run")
    first = scored(proj)
    (path,) = (proj / "target" / PLAN_DIR).glob("model.proj.scored-*.json")
    for text in ("{not json", json.dumps({"format": 1, "calls": {"key": 1, "calls": 3},
                                          "plan": {"plan": {"stages": [{}]}}})):
        path.write_text(text)
        run_cli(proj, "run")
        assert scored(proj) == first
        assert cache_file(proj)["calls"]["calls"][0]["function"] == "dbl"


def test_a_tampered_plan_with_a_matching_key_is_not_read_without_its_fields(proj: Path) -> None:
    run_cli(proj, "run")
    first = scored(proj)
    (path,) = (proj / "target" / PLAN_DIR).glob("model.proj.scored-*.json")
    data = json.loads(path.read_text())
    del data["plan"]["plan"]["stages"][0]["probe_sql"]
    data["plan"]["plan"]["stages"][1]["calls"][0]["fn"] = "nope"
    path.write_text(json.dumps(data))
    run_cli(proj, "run")
    assert scored(proj) == first
    assert "probe_sql" in cache_file(proj)["plan"]["plan"]["stages"][0]
