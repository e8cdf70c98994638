"""Run a project's steps under dbt-duckdb or predsql and describe what each step left.

A case is a project folder under `projects/` with a `steps.yml`:

    steps:
      - run: [seed]                     # a command; its outcome is recorded
      - write: {seeds/base.csv: "..."}  # change files between commands
      - delete: [models/old.sql]
      - sql: "update main.base set x = 1"   # change the database directly
      - env: {TERM_TEST: TESTING}       # environment variables for the rest of the case
      - ls: [ls, --resource-type, seed] # a command whose stdout lines are recorded
      - read: [target/compiled/p/analyses/a.sql]  # files whose text is recorded
      - json: {path: target/sources.json, list: results, keys: [unique_id, status]}
                                        # these keys of each entry of a JSON artifact's list
    volatile: [dbt_valid_from]          # columns whose non-NULL values are masked
                                        # (or {relation: [columns]})
    skip_relations: []                  # relations not compared

After each `run` the outcome is: the exit code, the status of every node keyed
so that dbt's and predsql's names for the same test agree, and every relation
of the database (kind, column names and types, rows sorted).
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import yaml

HERE = Path(__file__).parent
PROJECTS = HERE / "projects"
EXPECTED = HERE / "expected"
DBT = os.environ.get("DBT_BIN", "/work/venvs/dbt/bin/dbt")
INTERNAL_PREFIXES = ("__predsql",)
# dbt-duckdb 1.10 leaves `<model>__dbt_backup` behind after an incremental
# --full-refresh (its DROP runs after the commit and is never committed); predsql
# leaves nothing. Not compared (docs/dbt-compatibility.md).
LEFTOVER_SUFFIXES = ("__dbt_backup",)

Invoke = Callable[[list[str], Path], tuple[int, str]]


@dataclass(frozen=True)
class Suite:
    """A folder of cases (`projects/<case>/steps.yml`) and their recordings."""

    projects: Path
    expected: Path

    def cases(self) -> list[str]:
        if not self.projects.is_dir():
            return []
        return sorted(p.name for p in self.projects.iterdir() if (p / "steps.yml").is_file())

    def recorded(self) -> list[str]:
        return [c for c in self.cases() if (self.expected / f"{c}.json").exists()]


PARITY = Suite(PROJECTS, EXPECTED)


def cases(suite: Suite = PARITY) -> list[str]:
    return suite.cases()


def load_steps(case: str, suite: Suite = PARITY) -> dict[str, Any]:
    return yaml.safe_load((suite.projects / case / "steps.yml").read_text(encoding="utf-8"))


def copy_case(case: str, tmp: Path, suite: Suite = PARITY) -> Path:
    root = tmp / case
    shutil.copytree(suite.projects / case, root, ignore=shutil.ignore_patterns("steps.yml"))
    return root


def dbt_invoke(args: list[str], cwd: Path) -> tuple[int, str]:
    """The real dbt (the venv named by DBT_BIN), in `cwd` with its profiles.yml."""
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "NO_COLOR": "1"}
    proc = subprocess.run([DBT, "--no-use-colors", *args, "--profiles-dir", "."], cwd=cwd,
                          capture_output=True, text=True, env=env, timeout=600)
    return proc.returncode, proc.stdout + proc.stderr


def dbt_ls_invoke(args: list[str], cwd: Path) -> tuple[int, str]:
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "NO_COLOR": "1"}
    proc = subprocess.run([DBT, "--quiet", *args, "--profiles-dir", "."], cwd=cwd,
                          capture_output=True, text=True, env=env, timeout=600)
    return proc.returncode, proc.stdout


def run_case(case: str, tmp: Path, invoke: Invoke, ls_invoke: Invoke | None = None,
             suite: Suite = PARITY) -> list[dict]:
    spec = load_steps(case, suite)
    root = copy_case(case, tmp, suite)
    names = {k for step in spec["steps"] for k in step.get("env") or {}}
    saved = {k: os.environ.get(k) for k in names}
    try:
        return _run_steps(spec, root, invoke, ls_invoke)
    finally:  # variables an `env` step set are the case's only
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _run_steps(spec: dict[str, Any], root: Path, invoke: Invoke,
               ls_invoke: Invoke | None) -> list[dict]:
    outcomes: list[dict] = []
    for step in spec["steps"]:
        if "env" in step:
            os.environ.update({k: str(v) for k, v in step["env"].items()})
        elif "write" in step:
            for rel, text in step["write"].items():
                path = root / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
        elif "delete" in step:
            for rel in step["delete"]:
                (root / rel).unlink()
        elif "sql" in step:
            with duckdb.connect(str(root / spec.get("database", "db.duckdb"))) as con:
                con.execute(step["sql"])
        elif "ls" in step:
            code, out = (ls_invoke or invoke)(list(step["ls"]), root)
            lines = sorted(line.strip() for line in out.splitlines() if line.strip())
            # a failed ls prints its error, not a list: only the exit code is compared
            outcomes.append({"ls": step["ls"], "code": code, "lines": lines if code == 0 else []})
        elif "read" in step:
            texts = {}
            catalog = '"' + Path(spec.get("database", "db.duckdb")).stem + '".'
            for rel in step["read"]:
                path = root / rel
                # predsql writes relations without the database name (docs/decisions.md)
                texts[rel] = (" ".join(path.read_text().replace(catalog, "").split())
                              if path.exists() else None)
            outcomes.append({"read": texts})
        elif "json" in step:
            outcomes.append({"json": step["json"]["path"], "items": json_items(root, step["json"])})
        else:
            args = [str(a) for a in step["run"]]
            (root / "target" / "run_results.json").unlink(missing_ok=True)
            code, out = invoke(args, root)
            outcomes.append({
                "run": args, "code": code,
                # predsql's compile writes no run_results.json (docs/dbt-compatibility.md)
                "results": node_statuses(root) if args[0] != "compile" else {},
                "relations": dump_database(root / spec.get("database", "db.duckdb"), spec),
                "log": out[-3000:],
            })
    return outcomes


# -- what a step left -------------------------------------------------------

def json_items(root: Path, spec: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The chosen keys of each entry of a JSON artifact's list, sorted by their text."""
    path = root / spec["path"]
    if not path.exists():
        return None
    entries = json.loads(path.read_text(encoding="utf-8")).get(spec["list"]) or []
    items = [{k: canonical(e.get(k)) for k in spec["keys"]} for e in entries]
    return sorted(items, key=lambda i: json.dumps(i, sort_keys=True))


def _test_key(node: dict[str, Any], nodes: dict[str, Any]) -> str:
    """A test's identity independent of the tool's naming."""
    if node.get("resource_type") == "unit_test" or node["unique_id"].startswith("unit_test."):
        return "unit_test:" + ".".join(node["unique_id"].split(".")[2:4])
    meta = node.get("test_metadata") or {}
    predsql = node.get("predsql") or {}
    kind = meta.get("name") or predsql.get("test_name")
    if not kind or kind == "singular":
        return f"test:{node['name']}"
    attached = node.get("attached_node") or (predsql.get("attached_to") or [None])[0]
    if attached is None:
        deps = node.get("depends_on", {}).get("nodes", [])
        attached = deps[0] if deps else ""
    target = ".".join(attached.split(".")[2:])
    column = node.get("column_name") or predsql.get("column_name") or ""
    return f"test:{kind}:{target}:{column}"


def node_statuses(root: Path) -> dict[str, str]:
    results_path = root / "target" / "run_results.json"
    manifest_path = root / "target" / "manifest.json"
    if not results_path.exists():
        return {}
    results = json.loads(results_path.read_text())["results"]
    nodes: dict[str, Any] = {}
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        nodes = {**manifest.get("nodes", {}), **manifest.get("unit_tests", {})}
    statuses: dict[str, str] = {}
    for result in results:
        uid = result["unique_id"]
        node = nodes.get(uid, {"unique_id": uid, "name": uid.split(".")[-1],
                               "resource_type": uid.split(".")[0]})
        if uid.startswith(("test.", "unit_test.")):
            key = _test_key({"unique_id": uid, **node}, nodes)
        else:
            key = f"{uid.split('.')[0]}:{'.'.join(uid.split('.')[2:])}"
        while key in statuses:
            key += "+"
        statuses[key] = result["status"]
    return dict(sorted(statuses.items()))


NOW_WINDOW = (dt.timedelta(days=3), dt.timedelta(days=1))


def recent(value: Any) -> bool:
    """A timestamp taken while the step ran (now(), current_timestamp): it differs
    between tools and runs, so it compares as "<now>". Case data never uses such dates."""
    if not isinstance(value, dt.datetime):
        return False
    now = dt.datetime.now(value.tzinfo) if value.tzinfo else dt.datetime.now()
    return now - NOW_WINDOW[0] <= value <= now + NOW_WINDOW[1]


def canonical(value: Any) -> Any:
    if recent(value):
        return "<now>"
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        return float(f"{value:.10g}")
    if isinstance(value, decimal.Decimal):
        return str(value.normalize()) if value == value.to_integral() else str(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time, dt.timedelta)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def dump_database(path: Path, spec: dict[str, Any]) -> dict[str, Any]:
    """Every relation of the database, read from the project folder (views over files
    name them relative to the working directory the tools ran in)."""
    if not path.exists():
        return {}
    previous = Path.cwd()
    os.chdir(path.parent)
    try:
        return _dump(path, spec)
    finally:
        os.chdir(previous)


def _dump(path: Path, spec: dict[str, Any]) -> dict[str, Any]:
    volatile_spec = spec.get("volatile", [])
    skip = set(spec.get("skip_relations", []))
    con = duckdb.connect(str(path), read_only=True)
    try:
        main = con.execute("select current_database()").fetchone()[0]
        rows = con.execute(
            "select table_catalog, table_schema, table_name, table_type "
            "from information_schema.tables where table_catalog not in ('system', 'temp') "
            "order by 1, 2, 3").fetchall()
        result: dict[str, Any] = {}
        for catalog, schema, name, kind in rows:
            if name.startswith(INTERNAL_PREFIXES) or schema.startswith(INTERNAL_PREFIXES):
                continue
            if name.endswith(LEFTOVER_SUFFIXES):
                continue
            key = f"{schema}.{name}" if catalog == main else f"{catalog}.{schema}.{name}"
            if key in skip or name in skip:
                continue
            rel = f'"{catalog}"."{schema}"."{name}"'
            try:
                cursor = con.execute(f"select * from {rel}")
                columns = [d[0] for d in cursor.description]
                data = cursor.fetchall()
                types = [r[1] for r in con.execute(f"describe {rel}").fetchall()]
            except duckdb.Error as exc:
                result[key] = {"kind": kind, "error": str(exc).splitlines()[0]}
                continue
            volatile = set(volatile_spec.get(key, volatile_spec.get(name, []))
                           if isinstance(volatile_spec, dict) else volatile_spec)
            masked = [[("<volatile>" if columns[i] in volatile and v is not None else canonical(v))
                       for i, v in enumerate(row)] for row in data]
            masked.sort(key=lambda r: json.dumps(r, sort_keys=True, default=str))
            result[key] = {"kind": kind, "columns": [list(c) for c in zip(columns, types)],
                           "rows": masked}
        return result
    finally:
        con.close()


def comparable(outcomes: list[dict]) -> list[dict]:
    """The parts of the outcomes both tools must agree on (logs are for reading)."""
    return [{k: v for k, v in o.items() if k != "log"} for o in outcomes]


def write_expected(case: str, outcomes: list[dict], versions: dict[str, str],
                   suite: Suite = PARITY) -> Path:
    suite.expected.mkdir(exist_ok=True)
    path = suite.expected / f"{case}.json"
    path.write_text(json.dumps({"recorded_with": versions, "outcomes": comparable(outcomes)},
                               indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path


def read_expected(case: str, suite: Suite = PARITY) -> dict[str, Any]:
    return json.loads((suite.expected / f"{case}.json").read_text(encoding="utf-8"))


def _predsql_in(args: list[str], cwd: Path) -> Any:
    """predsql in this process, from `cwd` as dbt is run (relative paths resolve there)."""
    from click.testing import CliRunner

    from predsql.cli import main

    previous = Path.cwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(main, args, catch_exceptions=False)
    finally:
        os.chdir(previous)


def predsql_invoke(args: list[str], cwd: Path) -> tuple[int, str]:
    result = _predsql_in(args, cwd)
    return result.exit_code, result.stdout + result.stderr


def predsql_ls_invoke(args: list[str], cwd: Path) -> tuple[int, str]:
    """predsql's stdout only, as `dbt --quiet ls` prints only the list."""
    result = _predsql_in(args, cwd)
    return result.exit_code, result.stdout


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
    actual = comparable(outcomes)
    if expected != actual:
        logs = "\n".join(f"--- {o.get('run')}\n{o.get('log', '')[-1200:]}" for o in outcomes
                         if o.get("log"))
        import pytest

        pytest.fail(describe_difference(expected, actual) + "\npredsql output:\n" + logs)
