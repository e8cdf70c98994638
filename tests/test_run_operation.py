"""`predsql run-operation MACRO --args '{...}'` on dbt's macro runtime.

Exit codes and the relations each call leaves are compared with recorded dbt-duckdb
in the parity case tests/dbt_parity/projects/operations (tests/test_dbt_parity.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from conftest import db_of, output, query, run_cli, write
from predsql import invoke

MACROS = """
{% macro snapshot_counts(table_name='counts', factor=1) %}
  {% set n = run_query("select count(*) from " ~ ref('people')).columns[0].values()[0] %}
  {% do run_query("create or replace table " ~ table_name ~ " as select " ~ n * factor ~ " as n") %}
  {{ log("counted " ~ n ~ " people", info=True) }}
  {{ return(n * factor) }}
{% endmacro %}

{% macro uncommitted() %}
  {% call statement('make', fetch_result=False) %}
    create or replace table made_in_a_statement as select 1 as x
  {% endcall %}
{% endmacro %}

{% macro commits_explicitly() %}
  {% do run_query("create or replace table committed as select 1 as x") %}
  {% do run_query("commit") %}
  {% do adapter.commit() %}
{% endmacro %}

{% macro needs_var() %}
  {% do run_query("create or replace table from_var as select " ~ var('level') ~ " as level") %}
{% endmacro %}

{% macro archive_staging(suffix) %}
  {% do run_query("create or replace table archive_" ~ suffix ~ " as select * from staging") %}
{% endmacro %}

{% macro slow() %}
  {{ log("slow operation started", info=True) }}
  {% do run_query("select sum(hash(range)) from range(100000000000) a") %}
{% endmacro %}
"""


@pytest.fixture
def ops(project: Path) -> Path:
    write(project, {"seeds/people.csv": "id,name\n1,Ada\n2,Grace\n3,Alan\n",
                    "macros/ops.sql": MACROS,
                    "dbt_packages/helpers/dbt_project.yml": "name: helpers\n",
                    "dbt_packages/helpers/macros/h.sql": """
                        {% macro tidy(prefix) %}
                          {% do run_query("create or replace table " ~ prefix ~ "_tidy as select '"
                                          ~ shout(prefix) ~ "' as v") %}
                        {% endmacro %}
                        {% macro shout(x) %}{{ return(x | upper) }}{% endmacro %}
                        """})
    run_cli(project, "seed")
    return project


def last_result(project: Path) -> dict:
    data = json.loads((project / "target/run_results.json").read_text())
    (result,) = data["results"]
    return {"unique_id": result["unique_id"], "status": result["status"],
            "which": data["args"]["which"], "macro": data["args"]["macro"],
            "args": data["args"]["args"]}


def test_macro_runs_with_args_refs_and_logs(ops: Path) -> None:
    result = run_cli(ops, "run-operation", "snapshot_counts", "--args",
                     "{table_name: people_count, factor: 10}")
    assert "counted 3 people" in result.stdout and "Ran operation snapshot_counts" in result.stdout
    assert query(db_of(ops), "select n from people_count") == [(30,)]
    assert last_result(ops) == {"unique_id": "macro.proj.snapshot_counts", "status": "success",
                                "which": "run-operation", "macro": "snapshot_counts",
                                "args": {"table_name": "people_count", "factor": 10}}
    run_cli(ops, "run-operation", "needs_var", "--vars", "{level: 4}")
    assert query(db_of(ops), "select level from from_var") == [(4,)]


def test_package_macros_qualified_or_not(ops: Path) -> None:
    run_cli(ops, "run-operation", "helpers.tidy", "--args", "{prefix: a}")
    run_cli(ops, "run-operation", "tidy", "--args", "{prefix: b}")  # found in the package
    assert query(db_of(ops), "select v from a_tidy union all select v from b_tidy") == \
        [("A",), ("B",)]  # shout() resolved in the package's own namespace
    assert last_result(ops)["unique_id"] == "macro.helpers.tidy"
    text = output(run_cli(ops, "run-operation", "snapshot_count", code=2))
    assert "no macro named 'snapshot_count'" in text and "did you mean 'snapshot_counts'?" in text
    text = output(run_cli(ops, "run-operation", "nopkg.tidy", code=2))
    assert "no package named 'nopkg'" in text and "helpers" in text
    text = output(run_cli(ops, "run-operation", "tidy", "--args", "{prefix: [", code=2))
    assert "--args is not valid YAML" in text


def test_statements_commit_without_an_explicit_commit(ops: Path) -> None:
    """dbt-duckdb rolls back what a `statement` block began unless the macro commits;
    predsql commits each statement (docs/dbt-compatibility.md), and a macro's own
    `run_query('commit')` / `adapter.commit()` still works."""
    run_cli(ops, "run-operation", "uncommitted")
    assert query(db_of(ops), "select x from made_in_a_statement") == [(1,)]
    run_cli(ops, "run-operation", "commits_explicitly")
    assert query(db_of(ops), "select x from committed") == [(1,)]


def test_a_failing_macro_exits_1_and_retry_calls_it_again(ops: Path) -> None:
    result = run_cli(ops, "run-operation", "archive_staging", "--args", "{suffix: jan}", code=1)
    assert "macros/ops.sql:" in result.stderr and "run-operation archive_staging failed: " \
        "database error: Catalog Error: Table with name staging does not exist" in result.stderr
    assert "while compiling" not in result.stderr
    assert last_result(ops)["status"] == "error"
    with duckdb.connect(str(db_of(ops))) as con:
        con.execute("create table staging as select 42 as v")  # what was missing is there now
    result = run_cli(ops, "retry")
    assert "Retrying `predsql run-operation archive_staging`" in result.stdout
    assert last_result(ops)["status"] == "success"
    assert query(db_of(ops), "select v from archive_jan") == [(42,)]  # the same --args
    assert "Nothing to retry: the last run-operation succeeded" in run_cli(ops, "retry").stdout


def test_json_events_and_the_python_api(ops: Path) -> None:
    result = run_cli(ops, "run-operation", "snapshot_counts", "--log-format", "json")
    records = [json.loads(line) for line in result.stdout.splitlines()]
    (done,) = [r for r in records if r["event"] == "operation_finished"]
    assert done["macro"] == "macro.proj.snapshot_counts" and done["status"] == "success"
    api = invoke(["run-operation", "snapshot_counts", "--args", "{factor: 2}", "-q"],
                 project_dir=ops)
    assert api.success and api.result.value == 6 and api.result.macro == "macro.proj.snapshot_counts"
    failed = invoke(["run-operation", "snapshot_counts", "--args", "{table_name: 'x y'}", "-q"],
                    project_dir=ops)
    assert failed.exit_code == 1 and "snapshot_counts failed" in str(failed.result.error)


def test_held_database_waits_with_lock_timeout(ops: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb,time; c=duckdb.connect({str(db_of(ops))!r}); "
         "print('ready', flush=True); time.sleep(1.5)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        text = output(run_cli(ops, "run-operation", "snapshot_counts", code=2))
        assert "the database is in use" in text and "--lock-timeout" in text
        run_cli(ops, "run-operation", "snapshot_counts", "--lock-timeout", "30")
    finally:
        holder.wait()


def test_sigterm_interrupts_a_running_operation(ops: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "predsql", "run-operation", "slow", "--project-dir", str(ops)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        for line in proc.stdout:
            if "slow operation started" in line:
                break
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 2, err
    assert "run-operation slow was interrupted by SIGTERM" in err
    data = json.loads((ops / "target/run_results.json").read_text())
    assert data["results"][0]["status"] == "error" and data["args"]["interrupted"] == "SIGTERM"
