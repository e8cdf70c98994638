"""docs/dbt-compatibility.md stays true: every test and parity case it names exists."""

from __future__ import annotations

import re
from pathlib import Path

from dbt_parity import harness

ROOT = Path(__file__).parent.parent
DOC = ROOT / "docs" / "dbt-compatibility.md"
TEST_RE = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")
CASE_RE = re.compile(r"`parity:(\w+)`")
ADAPTER_RE = re.compile(r"`adapter:(\w+)`")  # a case of tests/test_dbt_adapter.py
ADAPTER = harness.Suite(ROOT / "tests" / "dbt_adapter" / "projects",
                        ROOT / "tests" / "dbt_adapter" / "expected")
STATUSES = {"supported", "different", "not yet"}


def table_rows() -> list[list[str]]:
    rows = []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("| ") and not line.startswith(("| feature", "| ---")):
            rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


def test_every_row_has_a_status_and_a_check() -> None:
    rows = table_rows()
    assert len(rows) > 5
    for row in rows:
        assert row[1] in STATUSES, row
        if row[1] != "not yet":
            assert (TEST_RE.search(row[-1]) or CASE_RE.search(row[-1])
                    or ADAPTER_RE.search(row[-1])), row


def test_named_tests_and_cases_exist() -> None:
    text = "\n".join(row[-1] for row in table_rows())
    for file, name in TEST_RE.findall(text):
        source = (ROOT / file).read_text(encoding="utf-8")
        assert re.search(rf"^def {name}\(", source, re.M), f"{file}::{name} is gone"
    cases = set(harness.cases())
    for case in CASE_RE.findall(text):
        assert case in cases, f"parity case {case} is gone"
        assert (harness.EXPECTED / f"{case}.json").exists(), f"{case} has no recording"
    recorded = set(ADAPTER.recorded())
    for case in ADAPTER_RE.findall(text):
        assert case in recorded, f"adapter case {case} is gone or has no recording"
