"""Shared helpers: copy fixture projects, invoke the CLI, read tables back."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from textwrap import dedent
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner, Result

from predsql.cli import main

FIXTURES = Path(__file__).parent / "fixtures"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", help="run the long fault loops too")
    parser.addoption("--dbt-live", action="store_true",
                     help="also run real dbt-duckdb (DBT_BIN) next to predsql on the parity cases")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    slow = pytest.mark.skip(reason="needs --runslow")
    live = pytest.mark.skip(reason="needs --dbt-live and the dbt venv")
    for item in items:
        if "slow" in item.keywords and not config.getoption("--runslow"):
            item.add_marker(slow)
        if "dbt_live" in item.keywords and not config.getoption("--dbt-live"):
            item.add_marker(live)


def run_cli(project: Path, *args: str, code: int | None = 0) -> Result:
    """Invoke `predsql ARGS --project-dir project` from the project folder (relative
    DuckDB paths in profiles start at the working directory, as in dbt-duckdb); check
    the exit code."""
    command, *rest = args
    argv = [command, *rest]
    if command not in ("init",):
        argv += ["--project-dir", str(project)]
    previous = Path.cwd()
    if project.is_dir():
        os.chdir(project)
    try:
        result = CliRunner().invoke(main, argv, catch_exceptions=False)
    finally:
        os.chdir(previous)
    if code is not None:
        assert result.exit_code == code, (
            f"exit {result.exit_code} != {code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


RUN_AND_LIST_MODULES = """
import sys
from predsql.entry import main
sys.argv = ["predsql", "run", "--project-dir", sys.argv[1]]
try:
    main()
except SystemExit as exc:
    assert not exc.code, exc.code
print(" ".join(sorted(sys.modules)), file=sys.stderr)
"""


def run_in_fresh_interpreter(root: Path, env: dict[str, str]) -> tuple[str, set[str]]:
    """`predsql run` of `root` in a new Python process: (its stdout, the modules it
    had imported when it finished)."""
    done = subprocess.run([sys.executable, "-c", RUN_AND_LIST_MODULES, str(root)],
                          capture_output=True, text=True, check=True, env=env)
    return done.stdout, set(done.stderr.split())


def output(result: Result) -> str:
    return result.stdout + result.stderr


def query(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def build_example(root: Path) -> Path:
    """example_project copied to `root`, built, with its docs site generated."""
    example = Path(__file__).parent.parent / "example_project"
    shutil.copytree(example, root, ignore=shutil.ignore_patterns("target", "logs", "*.duckdb*"))
    run_cli(root, "build")
    run_cli(root, "docs", "generate")
    return root


def read_site_data(target: Path) -> dict:
    """The document the docs page reads (target/docs_assets/docs_data.js)."""
    text = (target / "docs_assets" / "docs_data.js").read_text(encoding="utf-8")
    match = re.fullmatch(r"window\.PREDSQL_DOCS = JSON\.parse\((.*)\);\n", text, re.DOTALL)
    assert match, text[:200]
    return json.loads(json.loads(match.group(1)))


def copy_fixture(name: str, tmp_path: Path) -> Path:
    target = tmp_path / name
    shutil.copytree(FIXTURES / name, target)
    return target


@pytest.fixture
def jaffle(tmp_path: Path) -> Path:
    return copy_fixture("jaffle_shop", tmp_path)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """An empty project with the embedded default database."""
    root = tmp_path / "proj"
    return write(root, {"predsql_project.yml": "name: proj\n"})


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    """One Ray cluster per test session (tests/ray_helpers.py); Ray starts in seconds."""
    from ray_helpers import start_cluster

    yield from start_cluster()


def db_of(root: Path, name: str = "proj") -> Path:
    return root / f"{name}.duckdb"
