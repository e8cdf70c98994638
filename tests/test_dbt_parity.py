"""predsql against dbt-duckdb on the same projects, step by step.

Every case under tests/dbt_parity/projects/ runs its steps under predsql; the
outcome of each step (exit code, node statuses, every relation's kind, columns,
types and rows) must equal what real dbt-duckdb 1.10 did, recorded in
tests/dbt_parity/expected/ by `python tests/dbt_parity/record.py`.

`pytest --dbt-live` also runs dbt itself (the venv named by DBT_BIN, default
/work/venvs/dbt/bin/dbt) next to predsql on every case, without the recordings.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dbt_parity import harness

RECORDED = [c for c in harness.cases() if (harness.EXPECTED / f"{c}.json").exists()]


@pytest.mark.parametrize("case", RECORDED)
def test_same_as_recorded_dbt(case: str, tmp_path: Path) -> None:
    expected = harness.read_expected(case)["outcomes"]
    harness.check_same(expected, harness.run_case(case, tmp_path, harness.predsql_invoke,
                                          harness.predsql_ls_invoke))


@pytest.mark.dbt_live
@pytest.mark.parametrize("case", harness.cases())
def test_same_as_live_dbt(case: str, tmp_path: Path) -> None:
    if not Path(harness.DBT).exists():
        pytest.skip(f"no dbt at {harness.DBT} (set DBT_BIN)")
    dbt = harness.run_case(case, tmp_path / "dbt", harness.dbt_invoke, harness.dbt_ls_invoke)
    harness.check_same(harness.comparable(dbt),
               harness.run_case(case, tmp_path / "predsql", harness.predsql_invoke,
                                harness.predsql_ls_invoke))
