"""pytest plugin (dbt venv only) that turns each dbt-tests-adapter class into a case.

While a class of `adapter_suite.py` runs under real dbt-duckdb, it records what the
class does, in order: the project files as its fixtures wrote them, every dbt command
(`run_dbt`), every SQL statement that changes the database (`project.run_sql`,
`update_rows`, ...), and every change to the project's files between them. `generate.py`
writes that as a case (project folder + steps.yml) the parity harness replays under
dbt and under predsql. Reads (assertions' SELECTs) are not recorded: the harness
compares the whole database after each command instead.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

SCHEMA = "test_schema"  # every case's target schema (dbt-tests-adapter makes a unique one)
SKIPPED_PARTS = {"target", "logs", "dbt_packages"}
KEPT_COMMANDS = {"seed", "run", "build", "test", "snapshot", "compile"}
OUT = Path(os.environ.get("ADAPTER_CASES_OUT", "/tmp/adapter_cases"))
BASE_ENV = dict(os.environ)  # variables a class sets later are steps of the case


class Recorder:
    """The operations of one class, while it runs."""

    def __init__(self, name: str, root: Path, profiles: Path) -> None:
        self.name = name
        self.root = root
        self.profiles = profiles
        self.steps: list[dict[str, Any]] = [
            {"sql": f'create schema if not exists "{SCHEMA}"'}]
        self.seen = self.files()
        self.initial = dict(self.seen)
        self.outcomes: dict[str, str] = {}
        self.in_dbt = 0
        self.skipped_commands: list[list[str]] = []
        self.env: dict[str, str] = {}

    def files(self) -> dict[str, bytes]:
        found = {}
        for path in sorted(self.root.rglob("*")):
            rel = path.relative_to(self.root)
            if not path.is_file() or rel.parts[0] in SKIPPED_PARTS:
                continue
            if path.name.endswith((".duckdb", ".duckdb.wal")) or path.name == "package-lock.yml":
                continue
            found[rel.as_posix()] = path.read_bytes()
        return found

    def sync_files(self) -> None:
        now = self.files()
        written = {k: v.decode("utf-8") for k, v in now.items() if self.seen.get(k) != v}
        deleted = sorted(set(self.seen) - set(now))
        if written:
            self.steps.append({"write": written})
        if deleted:
            self.steps.append({"delete": deleted})
        self.seen = now

    def sync_env(self) -> None:
        now = {k: v for k, v in os.environ.items() if BASE_ENV.get(k) != v
               and not k.startswith(("PYTEST_", "DBT_"))}
        changed = {k: v for k, v in now.items() if self.env.get(k) != v}
        if changed:
            self.steps.append({"env": changed})
        self.env = now

    def command(self, args: list[str]) -> None:
        self.sync_files()
        self.sync_env()
        kept = strip_paths(args)
        if kept and kept[0] in KEPT_COMMANDS:
            self.steps.append({"run": kept})
        else:
            self.skipped_commands.append(kept)

    def sql(self, sql: str) -> None:
        if self.in_dbt or not sql.strip():
            return
        self.sync_files()
        self.steps.append({"sql": sql.strip()})

    def profile(self) -> dict[str, Any]:
        data = yaml.safe_load((self.profiles / "profiles.yml").read_text())
        for output in data["test"]["outputs"].values():
            if output.get("path") and output["path"] != ":memory:":
                output["path"] = "db.duckdb"
            output.pop("threads", None)
            output["threads"] = 1
        return data

    def write(self) -> Path:
        case = OUT / case_name(self.name)
        if case.exists():
            shutil.rmtree(case)
        for rel, data in self.initial.items():
            path = case / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        (case / "profiles.yml").write_text(yaml.safe_dump(self.profile(), sort_keys=False))
        spec = {
            "dbt_tests_adapter": {"class": self.name, "outcomes": self.outcomes,
                                  "not_replayed": self.skipped_commands},
            "steps": self.steps,
        }
        (case / "steps.yml").write_text(yaml.safe_dump(spec, sort_keys=False, width=100))
        return case


def case_name(class_name: str) -> str:
    """TestSnapshotCheckCols -> snapshot_check_cols."""
    name = class_name.removeprefix("Test")
    out = ""
    for i, ch in enumerate(name):
        if ch.isupper() and i and (not name[i - 1].isupper() or
                                   (i + 1 < len(name) and name[i + 1].islower())):
            out += "_"
        out += ch.lower()
    return out


GLOBAL_FLAGS = {"--no-partial-parse", "--partial-parse", "--debug", "-d", "--no-use-colors"}


def strip_paths(args: list[str]) -> list[str]:
    """The command's own arguments: no paths of the test's folders, no global flags that
    change nothing but logging and parse caching."""
    kept: list[str] = []
    skip = False
    while args and args[0] in GLOBAL_FLAGS:
        args = args[1:]
    for arg in args:
        if skip:
            skip = False
            continue
        if arg in ("--project-dir", "--profiles-dir", "--log-path", "--target-path"):
            skip = True
            continue
        kept.append(str(arg))
    return kept


CURRENT: Recorder | None = None


def _patch() -> None:
    from dbt.adapters.sql.impl import SQLAdapter
    from dbt.cli.main import dbtRunner

    invoke = dbtRunner.invoke

    def recorded_invoke(self: Any, args: list[str], **kwargs: Any) -> Any:
        if CURRENT is None:
            return invoke(self, args, **kwargs)
        CURRENT.command(list(args))
        CURRENT.in_dbt += 1
        try:
            return invoke(self, args, **kwargs)
        finally:
            CURRENT.in_dbt -= 1

    dbtRunner.invoke = recorded_invoke

    run_sql_for_tests = SQLAdapter.run_sql_for_tests

    def recorded_run_sql(self: Any, sql: str, fetch: Any, conn: Any) -> Any:
        if CURRENT is not None and fetch is None:
            CURRENT.sql(sql)
        return run_sql_for_tests(self, sql, fetch, conn)

    SQLAdapter.run_sql_for_tests = recorded_run_sql

    execute = SQLAdapter.execute

    def recorded_execute(self: Any, sql: str, auto_begin: bool = False, fetch: bool = False,
                         limit: Any = None) -> Any:
        if CURRENT is not None and not fetch:
            CURRENT.sql(sql)
        return execute(self, sql, auto_begin=auto_begin, fetch=fetch, limit=limit)

    SQLAdapter.execute = recorded_execute


_patch()


@pytest.fixture(scope="class")
def unique_schema() -> str:
    return SCHEMA


@pytest.fixture(scope="class")
def dbt_profile_target(project_root: Any) -> dict[str, Any]:
    return {"type": "duckdb", "threads": 1, "path": str(Path(project_root) / "db.duckdb")}


@pytest.fixture(scope="class", autouse=True)
def record_case(project: Any, request: pytest.FixtureRequest) -> Any:
    global CURRENT
    recorder = Recorder(request.cls.__name__, Path(project.project_root),
                        Path(project.profiles_dir))
    CURRENT = recorder
    yield
    CURRENT = None
    recorder.sync_files()
    path = recorder.write()
    print(f"\nwrote {path} ({len(recorder.steps)} steps)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Any:
    outcome = yield
    report = outcome.get_result()
    if CURRENT is not None and (report.when == "call" or report.outcome != "passed"):
        previous = CURRENT.outcomes.get(item.name)
        if previous in (None, "passed"):
            CURRENT.outcomes[item.name] = report.outcome


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]
