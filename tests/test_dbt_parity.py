"""predsql against dbt-duckdb on the same projects, step by step.

Every case under tests/dbt_parity/projects/ runs its steps under predsql; the
outcome of each step (exit code, node statuses, every relation's kind, columns,
types and rows) must equal what real dbt-duckdb 1.10 did, recorded in
tests/dbt_parity/expected/ by `python tests/dbt_parity/record.py`.

`pytest --dbt-live` also runs dbt itself (the venv named by DBT_BIN, default
/work/venvs/dbt/bin/dbt) next to predsql on every case, without the recordings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dbt_parity import harness

RECORDED = [c for c in harness.cases() if (harness.EXPECTED / f"{c}.json").exists()]


def describe_difference(expected: list[dict], actual: list[dict]) -> str:
    lines = []
    for i, (want, got) in enumerate(zip(expected, actual)):
        if want == got:
            continue
        what = want.get("run") or want.get("ls") or "read"
        lines.append(f"step {i} {what}:")
        for key in sorted(set(want) | set(got)):
            if key == "relations":
                rels_w, rels_g = want.get(key, {}), got.get(key, {})
                for rel in sorted(set(rels_w) | set(rels_g)):
                    if rels_w.get(rel) != rels_g.get(rel):
                        lines.append(f"  relation {rel}:\n    dbt:     "
                                     f"{json.dumps(rels_w.get(rel))[:1500]}\n    predsql: "
                                     f"{json.dumps(rels_g.get(rel))[:1500]}")
            elif want.get(key) != got.get(key):
                lines.append(f"  {key}:\n    dbt:     {json.dumps(want.get(key))[:1500]}\n"
                             f"    predsql: {json.dumps(got.get(key))[:1500]}")
        break
    if len(expected) != len(actual):
        lines.append(f"{len(expected)} steps recorded, {len(actual)} run")
    return "\n".join(lines)


def check_same(expected: list[dict], outcomes: list[dict[str, Any]]) -> None:
    actual = harness.comparable(outcomes)
    if expected != actual:
        logs = "\n".join(f"--- {o.get('run')}\n{o.get('log', '')[-1200:]}" for o in outcomes
                         if o.get("log"))
        pytest.fail(describe_difference(expected, actual) + "\npredsql output:\n" + logs)


@pytest.mark.parametrize("case", RECORDED)
def test_same_as_recorded_dbt(case: str, tmp_path: Path) -> None:
    expected = harness.read_expected(case)["outcomes"]
    check_same(expected, harness.run_case(case, tmp_path, harness.predsql_invoke,
                                          harness.predsql_ls_invoke))


@pytest.mark.dbt_live
@pytest.mark.parametrize("case", harness.cases())
def test_same_as_live_dbt(case: str, tmp_path: Path) -> None:
    if not Path(harness.DBT).exists():
        pytest.skip(f"no dbt at {harness.DBT} (set DBT_BIN)")
    dbt = harness.run_case(case, tmp_path / "dbt", harness.dbt_invoke, harness.dbt_ls_invoke)
    check_same(harness.comparable(dbt),
               harness.run_case(case, tmp_path / "predsql", harness.predsql_invoke,
                                harness.predsql_ls_invoke))
