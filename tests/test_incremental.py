"""Incremental models: strategies over several runs equal a full refresh; schema changes."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from conftest import db_of, output, query, run_cli, write

SOURCES = """
sources:
  - name: app
    schema: main
    tables:
      - name: events
"""

MODEL = """
{{{{ config(materialized='incremental', unique_key={key}, incremental_strategy='{strategy}') }}}}
select id, updated_at, value * 2 as doubled, deleted
from {{{{ source('app', 'events') }}}}
{{% if is_incremental() %}}
where updated_at > (select max(updated_at) from {{{{ this }}}})
{{% endif %}}
"""


def source(db: Path, sql: str) -> None:
    with duckdb.connect(str(db)) as con:
        con.execute(sql)


def snapshot(db: Path) -> list[tuple]:
    return query(db, "select * from inc order by all")


@pytest.mark.parametrize("strategy", ["append", "delete+insert", "merge"])
def test_strategies_equal_a_full_refresh(project: Path, strategy: str) -> None:
    key = "None" if strategy == "append" else "'id'"
    write(project, {"models/sources.yml": SOURCES,
                    "models/inc.sql": MODEL.format(key=key, strategy=strategy)})
    db = db_of(project)
    source(db, "create table events as select range as id, range as updated_at, "
               "range * 1.5 as value, false as deleted from range(10)")
    run_cli(project, "run")
    changes = [
        "insert into events select 10 + range, 20 + range, range, false from range(5)",
        "insert into events values (15, 30, 7.0, false), (16, 31, 8.0, false)",
    ]
    if strategy != "append":  # updates and (soft) deletes need a key
        changes += [
            "update events set value = value + 100, updated_at = 40 + id where id in (2, 3)",
            "update events set deleted = true, updated_at = 50 where id = 4",
        ]
    for change in changes:
        source(db, change)
        result = run_cli(project, "run")
        assert "INSERT" in result.stdout or "OK" in result.stdout
    incremental = snapshot(db)
    run_cli(project, "run", "--full-refresh")
    assert snapshot(db) == incremental
    assert len(incremental) == 17


def test_incremental_run_only_processes_new_rows(project: Path) -> None:
    write(project, {"models/sources.yml": SOURCES,
                    "models/inc.sql": MODEL.format(key="'id'", strategy="merge")})
    db = db_of(project)
    source(db, "create table events as select range as id, range as updated_at, "
               "1.0 as value, false as deleted from range(100)")
    run_cli(project, "run")
    source(db, "insert into events values (100, 200, 1.0, false)")
    result = run_cli(project, "run")
    assert "OK 1 " in result.stdout  # one new row went through the model
    compiled = (project / "target/compiled/proj/models/inc.sql").read_text()
    assert "max(updated_at)" in compiled


def test_null_unique_key_rows_are_inserted_as_in_dbt(project: Path) -> None:
    write(project, {"models/sources.yml": SOURCES,
                    "models/inc.sql": MODEL.format(key="'id'", strategy="merge")})
    db = db_of(project)
    source(db, "create table events as select range as id, range as updated_at, "
               "1.0 as value, false as deleted from range(3)")
    run_cli(project, "run")
    source(db, "insert into events values (null, 10, 1.0, false), (7, 11, 1.0, false)")
    run_cli(project, "run")
    assert query(db, "select count(*) from inc where id is null") == [(1,)]


SCHEMA_MODEL = """
{{{{ config(materialized='incremental', unique_key='id', on_schema_change='{mode}') }}}}
select id, {columns} from {{{{ source('app', 'events') }}}}
{{% if is_incremental() %}} where id > (select max(id) from {{{{ this }}}}) {{% endif %}}
"""


def columns_of(db: Path) -> list[str]:
    return [r[0] for r in query(db, "describe inc")]


@pytest.mark.parametrize(("mode", "expected"), [
    ("ignore", ["id", "a", "b"]),
    ("append_new_columns", ["id", "a", "b", "c"]),
    ("sync_all_columns", ["id", "a", "c"]),
])
def test_on_schema_change(project: Path, mode: str, expected: list[str]) -> None:
    write(project, {"models/sources.yml": SOURCES,
                    "models/inc.sql": SCHEMA_MODEL.format(mode=mode, columns="1 as a, 2 as b")})
    db = db_of(project)
    source(db, "create table events as select range as id from range(3)")
    run_cli(project, "run")
    source(db, "insert into events values (10)")
    write(project, {"models/inc.sql": SCHEMA_MODEL.format(
        mode=mode, columns="1 as a, 3 as c" if mode == "sync_all_columns" else
        "1 as a, 2 as b, 3 as c")})
    run_cli(project, "run")
    assert columns_of(db) == expected
    rows = query(db, "select * from inc order by id")
    assert len(rows) == 4
    if mode == "append_new_columns":
        assert rows[0][-1] is None and rows[-1][-1] == 3


def test_on_schema_change_fail_keeps_the_table(project: Path) -> None:
    write(project, {"models/sources.yml": SOURCES,
                    "models/inc.sql": SCHEMA_MODEL.format(mode="fail", columns="1 as a")})
    db = db_of(project)
    source(db, "create table events as select range as id from range(3)")
    run_cli(project, "run")
    source(db, "insert into events values (10)")
    write(project, {"models/inc.sql": SCHEMA_MODEL.format(mode="fail", columns="1 as a, 2 as z")})
    result = run_cli(project, "run", code=1)
    assert "on_schema_change is 'fail'" in output(result)
    assert columns_of(db) == ["id", "a"] and len(query(db, "select * from inc")) == 3
    run_cli(project, "run", "--full-refresh")
    assert columns_of(db) == ["id", "a", "z"]
