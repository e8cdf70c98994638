"""dbt-duckdb's profile keys: relative paths from the working directory, `settings`,
`extensions` (installed ones only, never a download), `attach`."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
from click.testing import CliRunner

from conftest import output, query, run_cli, write
from predsql.cli import main

PROJECT = "name: p\nprofile: p\n"


def profile(**output_keys: str) -> str:
    lines = "".join(f"      {k}: {v}\n" for k, v in output_keys.items())
    return f"p:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n{lines}"


def test_relative_database_path_starts_at_the_working_directory(tmp_path: Path) -> None:
    root = write(tmp_path / "proj", {"predsql_project.yml": PROJECT,
                                     "profiles.yml": profile(path="data/rel.duckdb"),
                                     "models/m.sql": "select 1 as x"})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    previous = Path.cwd()
    os.chdir(elsewhere)
    try:
        result = CliRunner().invoke(main, ["run", "--project-dir", str(root)])
    finally:
        os.chdir(previous)
    assert result.exit_code == 0, output(result)
    # as dbt-duckdb: `--project-dir` does not move the working directory
    assert (elsewhere / "data" / "rel.duckdb").is_file()
    assert not (root / "data").exists()
    assert query(elsewhere / "data" / "rel.duckdb", "select x from m") == [(1,)]


def test_without_a_path_the_database_stays_in_the_project_folder(tmp_path: Path) -> None:
    root = write(tmp_path / "proj", {"predsql_project.yml": PROJECT,
                                     "profiles.yml": profile(threads="1"),
                                     "models/m.sql": "select 1 as x"})
    previous = Path.cwd()
    os.chdir(tmp_path)
    try:
        result = CliRunner().invoke(main, ["run", "--project-dir", str(root)])
    finally:
        os.chdir(previous)
    assert result.exit_code == 0, output(result)
    assert (root / "p.duckdb").is_file()


def test_settings_apply_to_every_node(tmp_path: Path) -> None:
    root = write(tmp_path / "proj", {
        "predsql_project.yml": PROJECT,
        "profiles.yml": profile(path="p.duckdb",
                                settings="{TimeZone: 'America/New_York', threads: 1, "
                                         "search_path: 'main'}"),
        "models/a.sql": "{{ config(materialized='table') }} "
                        "select current_setting('TimeZone') as tz, "
                        "current_setting('threads') as n",
        "models/b.sql": "{{ config(materialized='table') }} "
                        "select current_setting('TimeZone') as tz, "
                        "current_setting('search_path') as path from {{ ref('a') }}",
    })
    run_cli(root, "run", "--threads", "2")
    assert query(root / "p.duckdb", "select tz, n from a") == [("America/New_York", 1)]
    # search_path is kept per connection: every node's cursor sets it again
    assert query(root / "p.duckdb", "select tz, path from b") == [("America/New_York", "main")]
    write(root, {"profiles.yml": profile(path="p.duckdb", settings="{no_such_setting: 1}")})
    text = output(run_cli(root, "run", code=2))
    assert "invalid DuckDB setting no_such_setting=1" in text and "profiles.yml" in text


def test_extensions_installed_load_and_a_missing_one_is_a_clear_error(tmp_path: Path) -> None:
    root = write(tmp_path / "proj", {
        "predsql_project.yml": PROJECT,
        "profiles.yml": profile(path="p.duckdb", extensions="[json, {name: parquet}]"),
        "models/m.sql": "{{ config(materialized='table') }} select '{\"a\": 2}'::json->>'a' as a",
    })
    run_cli(root, "run")
    assert query(root / "p.duckdb", "select a from m") == [("2",)]
    write(root, {"profiles.yml": profile(path="p.duckdb", extensions="[predsql_missing_ext]")})
    text = output(run_cli(root, "run", code=2))
    assert "DuckDB extension 'predsql_missing_ext' is not installed" in text
    assert "INSTALL predsql_missing_ext" in text and "never downloads" in text
    assert "Traceback" not in text


def test_no_extension_is_downloaded(tmp_path: Path) -> None:
    """DuckDB would fetch sqlite_scanner for this ATTACH; predsql turns that off."""
    root = write(tmp_path / "proj", {
        "predsql_project.yml": PROJECT,
        "profiles.yml": profile(path="p.duckdb",
                                attach="[{path: x.sqlite, type: sqlite, alias: lite}]"),
        "models/m.sql": "select 1 as x",
    })
    with duckdb.connect() as con:
        installed = con.execute("select installed from duckdb_extensions() "
                                "where extension_name = 'sqlite_scanner'").fetchall()
    text = output(run_cli(root, "run", code=None))
    if installed and installed[0][0]:
        return  # installed here: attaching works, nothing to download
    assert "cannot attach 'x.sqlite'" in text and "not found" in text
    assert "Failed to download" not in text


def test_attach_other_databases(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    with duckdb.connect(str(root / "other.duckdb")) as con:
        con.execute("create table raw_orders as select 1 as id union all select 2")
    write(root, {
        "predsql_project.yml": PROJECT,
        "profiles.yml": profile(path="p.duckdb",
                                attach="[{path: other.duckdb, alias: other, read_only: true}]"),
        "models/sources.yml": "sources: [{name: raw, database: other, schema: main, "
                              "tables: [{name: raw_orders}]}]",
        "models/m.sql": "{{ config(materialized='table') }} "
                        "select count(*) as n from {{ source('raw', 'raw_orders') }}",
        "models/v.sql": "select sum(id) as s from other.main.raw_orders",
    })
    run_cli(root, "run", "--threads", "2")
    assert query(root / "p.duckdb", "select n from m") == [(2,)]
    write(root, {"profiles.yml": profile(path="p.duckdb", attach="[{alias: other}]")})
    assert "needs a `path:`" in output(run_cli(root, "run", code=2))


def test_attach_sql_as_dbt_duckdb_writes_it() -> None:
    from predsql.dbt_duckdb.profile import attach_sql

    assert attach_sql({"path": "a.duckdb"}) == "ATTACH IF NOT EXISTS 'a.duckdb'"
    assert attach_sql({"path": "s3://b/c.db?x=1", "alias": "c", "type": "duckdb",
                       "read_only": True, "options": {"block_size": 16384, "flag": True,
                                                      "off": False, "name": "n"}}) == (
        "ATTACH IF NOT EXISTS 's3://b/c.db' AS \"c\" (TYPE duckdb, READ_ONLY, "
        "BLOCK_SIZE 16384, FLAG, NAME 'n')")
