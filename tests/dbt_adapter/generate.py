"""Lay out dbt's own adapter tests (PyPI dbt-tests-adapter) as comparison cases and
record what real dbt-duckdb does on them.

    python tests/dbt_adapter/generate.py [-k PYTEST_EXPRESSION] [--no-layout] [--no-record]

Needs the dbt venv (DBT_PYTHON, default /work/venvs/dbt/bin/python, with dbt-core 1.10,
dbt-duckdb 1.10, dbt-tests-adapter 1.x and pytest); run from anywhere with any Python,
it re-runs itself there.

1. Layout: every class of `adapter_suite.py` runs under pytest with `recorder.py`,
   which writes the class's fixture files as a project and everything the class then
   does (dbt commands, SQL that changes the database, file edits, environment
   variables it sets) as steps.yml, into
   `projects/<case>/` (steps.yml also keeps the class's own pytest outcome under dbt).
2. Record: each case's steps are replayed twice with the real dbt (as
   tests/dbt_parity/record.py does), the outcome of every step written to
   `expected/<case>.json`; columns whose values differ between the two replays
   (clock times, hashes of them) are masked as volatile.

tests/test_dbt_adapter.py replays the same steps under predsql and compares.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DBT_PYTHON = os.environ.get("DBT_PYTHON", "/work/venvs/dbt/bin/python")
sys.path.insert(0, str(HERE.parent))


def in_dbt_venv() -> bool:
    try:
        import dbt.tests.adapter  # noqa: F401
    except ImportError:
        return False
    return True


def layout(expression: str | None) -> list[str]:
    import pytest

    out = Path(tempfile.mkdtemp(prefix="adapter_cases_"))
    os.environ["ADAPTER_CASES_OUT"] = str(out)
    sys.path.insert(0, str(HERE))
    args = ["-p", "dbt.tests.fixtures.project", "-p", "recorder", "--noconftest",
            "-c", os.devnull, "--rootdir", str(out), "-p", "no:cacheprovider", "-q",
            str(HERE / "adapter_suite.py")]
    if expression:
        args += ["-k", expression]
    pytest.main(args)
    projects = HERE / "projects"
    projects.mkdir(exist_ok=True)
    written = []
    for case in sorted(p for p in out.iterdir() if (p / "steps.yml").is_file()):
        target = projects / case.name
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(case, target)
        written.append(case.name)
    shutil.rmtree(out, ignore_errors=True)
    return written


def volatile_columns(first: list[dict], second: list[dict]) -> dict[str, list[str]]:
    """(relation -> columns) whose values differ between two replays of the same steps."""
    found: dict[str, set[str]] = {}
    for a, b in zip(first, second):
        for rel, want in (a.get("relations") or {}).items():
            got = (b.get("relations") or {}).get(rel)
            if not got or "rows" not in want or "rows" not in got or want == got:
                continue
            names = [c[0] for c in want["columns"]]
            for i, name in enumerate(names):
                if sorted(json.dumps(r[i], default=str) for r in want["rows"]) != sorted(
                        json.dumps(r[i], default=str) for r in got["rows"]):
                    found.setdefault(rel, set()).add(name)
    return {k: sorted(v) for k, v in sorted(found.items())}


def record(cases: list[str]) -> None:
    import yaml

    from dbt_parity import harness
    from dbt_parity.record import dbt_versions

    suite = harness.Suite(HERE / "projects", HERE / "expected")
    versions = dbt_versions()
    for case in cases:
        runs = []
        for _ in range(2):
            with tempfile.TemporaryDirectory() as tmp:
                runs.append(harness.run_case(case, Path(tmp), harness.dbt_invoke,
                                             harness.dbt_ls_invoke, suite=suite))
        volatile = volatile_columns(*runs)
        spec_path = suite.projects / case / "steps.yml"
        spec = yaml.safe_load(spec_path.read_text())
        if volatile:
            spec["volatile"] = volatile
            spec_path.write_text(yaml.safe_dump(spec, sort_keys=False, width=100))
            with tempfile.TemporaryDirectory() as tmp:
                runs[0] = harness.run_case(case, Path(tmp), harness.dbt_invoke,
                                           harness.dbt_ls_invoke, suite=suite)
        harness.write_expected(case, runs[0], versions, suite=suite)
        codes = [o.get("code") for o in runs[0] if "code" in o]
        print(f"{case}: exit codes {codes}" + (f", volatile {volatile}" if volatile else ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", dest="expression", help="pytest -k expression over the classes")
    parser.add_argument("--no-layout", action="store_true", help="record existing cases only")
    parser.add_argument("--no-record", action="store_true", help="lay out cases only")
    parser.add_argument("cases", nargs="*", help="with --no-layout: the cases to record")
    args = parser.parse_args()
    if not in_dbt_venv():
        return subprocess.call([DBT_PYTHON, __file__, *sys.argv[1:]])
    if args.no_layout:
        from dbt_parity import harness

        cases = args.cases or harness.Suite(HERE / "projects", HERE / "expected").cases()
    else:
        cases = layout(args.expression)
    if not args.no_record:
        record(cases)
    return 0


if __name__ == "__main__":
    sys.exit(main())
