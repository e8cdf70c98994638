"""`predsql source freshness` and the `source_status:fresher` selector.

Statuses, criteria and max_loaded_at are also compared with recorded dbt-duckdb in
the parity case tests/dbt_parity/projects/operations (tests/test_dbt_parity.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from conftest import db_of, output, run_cli, write
from predsql import invoke

SOURCES = """
version: 2
sources:
  - name: crm
    schema: main
    loaded_at_field: loaded_at
    freshness:
      warn_after: {count: 2, period: hour}
      error_after: {count: 1, period: day}
    tables:
      - name: fresh
      - name: late
      - name: regions
      - name: eu
        identifier: regions
        freshness:
          filter: "region = 'eu'"
      - name: empty
      - name: unchecked
        identifier: regions
        freshness: null
      - name: no_thresholds
        identifier: regions
        freshness: {warn_after: null, error_after: null}
  - name: shop
    schema: main
    freshness:
      warn_after: {count: 30, period: minute}
    tables:
      - name: orders
        loaded_at_field: "cast(ordered_on as date)"
      - name: missing
        loaded_at_field: loaded_at
      - name: no_field
"""


def load_tables(db: Path) -> None:
    """Tables a loader filled at different times (relative to now)."""
    with duckdb.connect(str(db)) as con:
        con.execute("""
            create or replace table fresh as select now()::timestamp - interval 10 minute as loaded_at;
            create or replace table late as select now()::timestamp - interval 5 hour as loaded_at;
            create or replace table regions as
                select * from (values (now()::timestamp - interval 1 hour, 'us'),
                                      (now()::timestamp - interval 3 day, 'eu'))
                t(loaded_at, region);
            create or replace table empty (loaded_at timestamp);
            create or replace table orders as select current_date - 2 as ordered_on;
            create or replace table no_field as select 1 as x;
        """)


@pytest.fixture
def sources(project: Path) -> Path:
    write(project, {"models/sources.yml": SOURCES,
                    "models/fresh_counts.sql": "select count(*) as n from {{ source('crm', 'fresh') }}",
                    "models/late_counts.sql": "select count(*) as n from {{ source('crm', 'late') }}",
                    "models/report.sql": "select * from {{ ref('fresh_counts') }}"})
    load_tables(db_of(project))
    return project


def statuses(project: Path, name: str = "target/sources.json") -> dict[str, str]:
    data = json.loads((project / name).read_text())
    return {r["unique_id"].split(".", 2)[2]: r["status"] for r in data["results"]}


def test_statuses_artifact_and_exit_code(sources: Path) -> None:
    result = run_cli(sources, "source", "freshness", code=1)
    out = result.stdout
    assert "1 of 8 START freshness of crm.empty" in out
    assert "PASS freshness of crm.fresh" in out and "WARN freshness of crm.late" in out
    assert "ERROR STALE freshness of crm.eu" in out  # the filter keeps the old rows only
    assert "PASS freshness of crm.regions" in out
    assert "PASS=2 WARN=2 ERROR STALE=2 ERROR=2" in out
    assert "crm.unchecked" not in out and "crm.no_thresholds" not in out  # no freshness: left out
    # the two that could not be queried: named with file, reason and fix, not in the file
    err = result.stderr
    assert "models/sources.yml: runtime error in source shop.missing: Catalog Error" in err
    assert "runtime error in source shop.no_field: it has a freshness but no loaded_at_field" in err
    assert "hint: add loaded_at_field" in err
    assert statuses(sources) == {"crm.fresh": "pass", "crm.late": "warn", "crm.regions": "pass",
                                 "crm.eu": "error", "crm.empty": "error", "shop.orders": "warn"}
    data = json.loads((sources / "target/sources.json").read_text())
    assert data["metadata"]["dbt_schema_version"].endswith("/sources/v3.json")
    entry = next(r for r in data["results"] if r["unique_id"].endswith("crm.late"))
    assert set(entry) >= {"unique_id", "max_loaded_at", "snapshotted_at", "status", "criteria",
                          "max_loaded_at_time_ago_in_s", "adapter_response", "timing",
                          "execution_time", "thread_id"}
    assert 5 * 3600 - 60 < entry["max_loaded_at_time_ago_in_s"] < 5 * 3600 + 600
    assert entry["criteria"] == {"warn_after": {"count": 2, "period": "hour"},
                                 "error_after": {"count": 1, "period": "day"}, "filter": None}
    empty = next(r for r in data["results"] if r["unique_id"].endswith("crm.empty"))
    assert empty["max_loaded_at"] == "0001-01-01T00:00:00+00:00"  # as dbt: older than any
    orders = next(r for r in data["results"] if r["unique_id"].endswith("shop.orders"))
    assert orders["criteria"]["error_after"] == {"count": None, "period": None}


def test_selection_warn_only_exit_code_and_output_path(sources: Path) -> None:
    run_cli(sources, "source", "freshness", "-s", "source:crm.late", "-s", "shop.orders",
            "-o", str(sources / "target/late.json"))  # warn: exit 0
    assert statuses(sources, "target/late.json") == {"crm.late": "warn", "shop.orders": "warn"}
    run_cli(sources, "source", "freshness", "-s", "source:crm.*e*", "--exclude",
            "source:crm.late source:crm.e*")
    assert statuses(sources) == {"crm.fresh": "pass", "crm.regions": "pass"}
    text = output(run_cli(sources, "source", "freshness", "-s", "tag:x", code=2))
    assert "source freshness selects sources, not 'tag:x'" in text
    assert "Nothing to do" in run_cli(sources, "source", "freshness", "-s", "source:nope").stdout


def test_json_events_carry_status_age_and_criteria(sources: Path) -> None:
    result = run_cli(sources, "source", "freshness", "-s", "source:crm.eu", "-s",
                     "source:shop.missing", "--log-format", "json", code=1)
    records = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    finished = {r["name"]: r for r in records if r["event"] == "freshness_finished"}
    assert finished["crm.eu"]["status"] == "error" and finished["crm.eu"]["level"] == "error"
    assert finished["crm.eu"]["age_seconds"] > 3 * 86400 - 60
    assert finished["crm.eu"]["criteria"]["error_after"] == {"count": 1, "period": "day"}
    assert finished["shop.missing"]["status"] == "runtime error"
    (error,) = [r for r in records if r["event"] == "node_error"]
    assert error["node"] == "source.proj.shop.missing" and error["file"] == "models/sources.yml"
    assert "no_such" not in error["message"] and "missing" in error["message"]
    (summary,) = [r for r in records if r["event"] == "freshness_summary"]
    assert summary["counts"] == {"error": 1, "runtime error": 1} and summary["total"] == 2


def test_bad_thresholds_and_a_database_not_built(project: Path) -> None:
    props = """
        version: 2
        sources:
          - name: crm
            loaded_at_field: loaded_at
            freshness: {warn_after: {count: 2, period: PERIOD}}
            tables: [{name: t}]
        """
    write(project, {"models/sources.yml": props.replace("PERIOD", "hour")})
    text = output(run_cli(project, "source", "freshness", code=2))
    assert "does not exist yet" in text  # no database file: said, not created
    assert not db_of(project).exists()
    write(project, {"models/sources.yml": props.replace("PERIOD", "week")})
    text = output(run_cli(project, "source", "freshness", code=2))
    assert "models/sources.yml: source crm.t: freshness thresholds need `count`" in text
    assert "(minute, hour, day)" in text


def test_python_api_returns_each_source_status(sources: Path) -> None:
    result = invoke(["source", "freshness", "-s", "source:crm", "-q"], project_dir=sources)
    assert result.exit_code == 1 and not result.success
    assert result.result.status("crm.late") == "warn"
    assert result.result.status("source.proj.crm.eu") == "error"
    assert result.result.path == sources / "target/sources.json"
    assert result.node("crm.eu").status == "error" and result.node("crm.eu").resource_type == "source"


def test_source_status_fresher_selects_sources_loaded_since_the_state(sources: Path) -> None:
    run_cli(sources, "run")
    run_cli(sources, "source", "freshness", code=1)
    state = str(sources / "state")
    shutil.copytree(sources / "target", state)
    with duckdb.connect(str(db_of(sources))) as con:  # the loader brings new rows
        con.execute("insert into fresh select now()::timestamp")
    run_cli(sources, "source", "freshness", code=1)
    listed = run_cli(sources, "ls", "-s", "source_status:fresher+", "--state", state,
                     "--output", "name").stdout.split()
    assert sorted(listed) == ["crm.fresh", "fresh_counts", "report"]
    listed = run_cli(sources, "ls", "-s", "source_status:fresher", "--state", state,
                     "--output", "name").stdout.split()
    assert listed == ["crm.fresh"]  # the source itself, as in dbt
    result = run_cli(sources, "build", "-s", "source_status:fresher+", "--state", state)
    assert "2 of 2" in result.stdout and "late_counts" not in result.stdout
    text = output(run_cli(sources, "ls", "-s", "source_status:fresher+", code=2))
    assert "source_status: needs --state DIR" in text
    (sources / "target/sources.json").unlink()
    text = output(run_cli(sources, "ls", "-s", "source_status:fresher", "--state", state,
                          code=2))
    assert "run `predsql source freshness` now" in text
