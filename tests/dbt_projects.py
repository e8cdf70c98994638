"""Projects run under both predsql and dbt-duckdb, and how their outcomes are compared.

`prepare()` lays a project out in a folder exactly as the comparison needs it (the
package's own integration_tests project with the package installed, or the
showcase fixture with three packages in dbt_packages/). `snapshot()` reads what a
build left behind: every node's status and every relation's kind, columns, types
and rows (as a digest). tests/dbt_reference/record.py stores dbt-duckdb's snapshot
in tests/fixtures/dbt_reference/; tests/test_dbt_packages.py compares predsql's.
"""

from __future__ import annotations

import datetime
import decimal
import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import Any

import duckdb

from dbt_helpers import shared_package

FIXTURES = Path(__file__).parent / "fixtures"
REFERENCE = FIXTURES / "dbt_reference"
PACKAGES = ("dbt_utils", "dbt_date", "dbt_expectations")

# name -> (package whose integration_tests project it is, or None for the showcase;
#          database file; relations whose rows depend on the clock, with why)
PROJECTS: dict[str, dict[str, Any]] = {
    "dbt_utils": {"package": "dbt_utils", "database": "utils", "volatile": {
        "main.recency_time_excluded": "now()", "main.recency_time_included": "now()"}},
    "dbt_date": {"package": "dbt_date", "database": "dates", "volatile": {
        "main.dim_hour": "hours back from now", "main.dim_week": "weeks back from today",
        "main.test_dates": "last/next month columns"}},
    "dbt_expectations": {"package": "dbt_expectations", "database": "expectations",
                         "volatile": {"*timeseries*": "days back from today, and random "
                                                      "values (rand()): the outcome of the "
                                                      "sigma tests on them varies per run"}},
    "showcase": {"package": None, "database": "showcase", "volatile": {}},
}


def prepare(name: str, folder: Path) -> Path:
    """Lay project `name` out under `folder`; returns the project directory."""
    spec = PROJECTS[name]
    package = spec["package"]
    if package is None:
        root = folder / "showcase"
        shutil.copytree(FIXTURES / "dbt_showcase", root)
        for each in PACKAGES:
            shutil.copytree(shared_package(each), root / "dbt_packages" / each,
                            ignore=shutil.ignore_patterns("integration_tests"))
    else:
        shutil.copytree(shared_package(package), folder / package,
                        ignore=shutil.ignore_patterns(".python-version"))
        root = folder / package / "integration_tests"
        installed = root / "dbt_packages"
        installed.mkdir(exist_ok=True)
        # installed as `dbt deps` would (packages.yml says `local: ../`); dbt_expectations
        # also needs dbt_date, a hub package
        for each in [package] + (["dbt_date"] if package == "dbt_expectations" else []):
            shutil.copytree(shared_package(each), installed / each,
                            ignore=shutil.ignore_patterns("integration_tests"))
        (root / "package-lock.yml").unlink(missing_ok=True)
    profile = "showcase" if package is None else "integration_tests"
    (root / "profiles.yml").write_text(
        f"{profile}:\n  target: duckdb\n  outputs:\n    duckdb:\n      type: duckdb\n"
        f"      path: {spec['database']}.duckdb\n      threads: 1\n", encoding="utf-8")
    return root


def _plain(value: Any, database: str) -> Any:
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, decimal.Decimal):
        return str(value.normalize())
    if isinstance(value, (datetime.date, datetime.datetime, datetime.time)):
        return value.isoformat()
    if isinstance(value, str):
        # predsql renders relations without the database (docs/dbt-compatibility.md)
        return value.replace(f'"{database}".', "")
    if isinstance(value, (list, tuple)):
        return [_plain(v, database) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v, database) for k, v in value.items()}
    return value


def _results(root: Path) -> dict[str, list[list[Any]]]:
    """name -> [[status, failures], ...]: dbt's hash suffix and predsql's _2 suffix
    (same name twice) dropped; hooks left out."""
    data = json.loads((root / "target" / "run_results.json").read_text())
    found: dict[str, list[list[Any]]] = {}
    names = {r["unique_id"] for r in data["results"]}
    for r in data["results"]:
        uid = r["unique_id"]
        if uid.startswith("operation."):
            continue
        parts = uid.split(".")
        if parts[0] == "test" and len(parts) == 4 and re.fullmatch(r"[0-9a-f]{10}", parts[3]):
            uid = ".".join(parts[:3])
        match = re.fullmatch(r"(test\..+)_(\d+)", uid)
        if match and match.group(1) in names:
            uid = match.group(1)
        failures = r.get("failures") if r["status"] in ("fail", "warn") else None
        found.setdefault(uid, []).append([r["status"], failures])
    return {k: sorted(v, key=str) for k, v in sorted(found.items())}


def _relations(root: Path, database: str) -> dict[str, Any]:
    relations: dict[str, Any] = {}
    with duckdb.connect(str(root / f"{database}.duckdb"), read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name, table_type from information_schema.tables "
            "where table_catalog = current_database() and table_schema not like '%audit%' "
            "and table_name not like '__predsql%' order by 1, 2").fetchall()
        for schema, name, kind in tables:
            columns = con.execute(
                "select column_name, data_type from information_schema.columns where "
                "table_catalog = current_database() and table_schema = ? and table_name = ? "
                "order by ordinal_position", [schema, name]).fetchall()
            try:
                rows = con.execute(f'select * from "{schema}"."{name}"').fetchall()
                error = None
            except duckdb.Error as exc:
                rows, error = [], str(exc).split("\n")[0]
            lines = sorted(json.dumps(_plain(list(r), database), default=str) for r in rows)
            relations[f"{schema}.{name}"] = {
                "kind": "view" if kind == "VIEW" else "table",
                "columns": [[c, t] for c, t in columns],
                "rows": len(rows),
                "digest": hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16],
                "sample": lines[:12],
                "error": error,
            }
    return relations


def snapshot(name: str, root: Path) -> dict[str, Any]:
    """What a build of project `name` in `root` left: node outcomes and relations."""
    return {"results": _results(root),
            "relations": _relations(root, PROJECTS[name]["database"])}


def volatile(name: str, relation: str) -> bool:
    for pattern in PROJECTS[name]["volatile"]:
        if pattern.startswith("*") and pattern.strip("*") in relation or pattern == relation:
            return True
    return False


def volatile_test(name: str, unique_id: str) -> bool:
    """A test of a relation computed from the clock or from random numbers."""
    return any(pattern.strip("*") in unique_id for pattern in PROJECTS[name]["volatile"]
               if pattern.startswith("*"))
