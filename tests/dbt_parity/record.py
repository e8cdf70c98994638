"""Record what real dbt-duckdb does on the parity cases, for tests that run without it.

    python tests/dbt_parity/record.py [CASE ...]     # every case when none is named

Each case under tests/dbt_parity/projects/ is copied to a temporary folder and its
steps (steps.yml) are run with the dbt of the venv named by DBT_BIN (default
/work/venvs/dbt/bin/dbt: dbt-core 1.10 + dbt-duckdb 1.10); the outcome of every step
is written to tests/dbt_parity/expected/CASE.json. tests/test_dbt_parity.py runs the
same steps under predsql and compares.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dbt_parity import harness  # noqa: E402


def dbt_versions() -> dict[str, str]:
    out = subprocess.run([harness.DBT, "--version"], capture_output=True, text=True).stdout
    versions = {}
    for line in out.splitlines():
        line = line.strip(" -")
        if line.startswith("installed:") and "core" not in versions:
            versions["dbt-core"] = line.split(":", 1)[1].strip()
        elif line.startswith("duckdb:"):
            versions["dbt-duckdb"] = line.split(":", 1)[1].split()[0].strip()
    return versions


def main(names: list[str]) -> int:
    versions = dbt_versions()
    for case in names or harness.cases():
        with tempfile.TemporaryDirectory() as tmp:
            outcomes = harness.run_case(case, Path(tmp), harness.dbt_invoke,
                                        harness.dbt_ls_invoke)
        path = harness.write_expected(case, outcomes, versions)
        codes = [o.get("code") for o in outcomes if "code" in o]
        print(f"{case}: exit codes {codes} -> {path.relative_to(Path.cwd())}")
        for outcome in outcomes:
            if outcome.get("code") not in (None, 0):
                print("   ", outcome.get("run") or outcome.get("ls"), "\n",
                      outcome.get("log", "")[-1500:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
