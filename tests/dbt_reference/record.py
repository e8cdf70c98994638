"""Record what dbt-duckdb builds for the comparison projects (run by hand; needs dbt).

    python tests/dbt_reference/record.py [--dbt /work/venvs/dbt/bin/dbt] [name ...]

For each project of tests/dbt_projects.py (default: all), lays it out in a
temporary folder, runs `dbt build` there and writes the outcome of every node and
the kind, columns, types and rows (digest) of every relation to
tests/fixtures/dbt_reference/<name>.json, with dbt's compiled SQL of each model.
tests/test_dbt_packages.py compares predsql's build with these files, so the
default test run does not need dbt.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from dbt_projects import PROJECTS, REFERENCE, prepare, snapshot  # noqa: E402


def dbt_version(dbt: str) -> str:
    out = subprocess.run([dbt, "--version"], capture_output=True, text=True).stdout
    found = [line.split("-")[1].strip() if line.strip().startswith("-") else line.strip()
             for line in out.splitlines() if "installed:" in line or "duckdb:" in line]
    versions = [f.split(" - ")[0].replace("installed: ", "").replace("duckdb: ", "")
                for f in found]
    return f"dbt-core {versions[0]}, dbt-duckdb {versions[1]}" if len(versions) == 2 else out


def compiled_sql(root: Path) -> dict[str, str]:
    manifest = json.loads((root / "target" / "manifest.json").read_text())
    return {uid: node["compiled_code"] for uid, node in manifest["nodes"].items()
            if node["resource_type"] == "model" and node.get("compiled_code")}


def record(name: str, dbt: str) -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        root = prepare(name, Path(tmp))
        done = subprocess.run([dbt, "build", "--profiles-dir", str(root)], cwd=root,
                              capture_output=True, text=True)
        print(done.stdout.splitlines()[-1] if done.stdout else done.stderr)
        data = {"dbt": dbt_version(dbt), "exit_code": done.returncode,
                **snapshot(name, root), "compiled": compiled_sql(root)}
    REFERENCE.mkdir(parents=True, exist_ok=True)
    path = REFERENCE / f"{name}.json"
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dbt", default="/work/venvs/dbt/bin/dbt")
    parser.add_argument("names", nargs="*", default=list(PROJECTS))
    args = parser.parse_args()
    for name in args.names:
        print(f"{name}: wrote {record(name, args.dbt)}")


if __name__ == "__main__":
    main()
