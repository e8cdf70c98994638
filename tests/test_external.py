"""dbt-duckdb's files: sources with `external_location` and the `external`
materialization. Whole projects are compared with dbt-duckdb in test_dbt_parity.py
(cases external_sources and external_materialization); these cover what the
comparison cannot: ML models written to files, errors, and the rendered SQL."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import numpy as np
import pytest

import ml_models
from conftest import output, run_cli, write

PROFILE = """
p:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: p.duckdb
      external_root: out
"""


def query(db: Path, sql: str) -> list[tuple]:
    """Read from the project folder: views over files name them relative to it."""
    previous = Path.cwd()
    os.chdir(db.parent)
    try:
        with duckdb.connect(str(db), read_only=True) as con:
            return con.execute(sql).fetchall()
    finally:
        os.chdir(previous)


@pytest.fixture
def files_project(tmp_path: Path) -> Path:
    root = write(tmp_path / "p", {"predsql_project.yml": "name: p\nprofile: p\n",
                                  "profiles.yml": PROFILE})
    (root / "out").mkdir()
    return root


def test_an_ml_model_written_to_parquet_reads_back_the_predictions(files_project: Path,
                                                                   tmp_path: Path) -> None:
    model = ml_models.logistic(tmp_path / "lr.onnx", k=3)
    (files_project / "functions").mkdir()
    (files_project / "functions" / "lr.onnx").write_bytes((tmp_path / "lr.onnx").read_bytes())
    write(files_project, {
        "functions/score.yml": "functions:\n  - name: score\n    model: lr.onnx\n"
                               "    output: {name: probabilities, index: 1}\n",
        "models/features.sql": "{{ config(materialized='table') }} select range as id, "
                               "(range % 7) / 7.0 as a, (range % 5) / 5.0 as b, "
                               "(range % 3) / 3.0 as c from range(50)",
        "models/scored.sql": "{{ config(materialized='external') }} "
                             "select id, score(a, b, c) as p from {{ ref('features') }}",
    })
    run_cli(files_project, "run")
    assert (files_project / "out" / "scored.parquet").is_file()
    rows = query(files_project / "p.duckdb", "select table_type from information_schema.tables "
                 "where table_name = 'scored'")
    assert rows == [("VIEW",)]
    got = np.array(query(files_project / "p.duckdb", "select p from scored order by id"))[:, 0]
    x = np.array(query(files_project / "p.duckdb", "select a, b, c from features order by id"),
                 dtype=np.float32)
    assert np.allclose(got, model.predict_proba(x)[:, 1], atol=1e-5)


def test_a_missing_folder_is_a_node_error_with_a_hint(files_project: Path) -> None:
    write(files_project, {"models/m.sql": "{{ config(materialized='external', "
                                          "location='nowhere/m.parquet') }} select 1 as x",
                          "models/ok.sql": "select 1 as y"})
    text = output(run_cli(files_project, "run", code=1))
    assert "cannot write nowhere/m.parquet" in text and "the folder must exist" in text
    assert "Traceback" not in text
    assert query(files_project / "p.duckdb", "select y from ok") == [(1,)]


def test_an_invalid_format_is_named(files_project: Path) -> None:
    write(files_project, {"models/m.sql": "{{ config(materialized='external', format='xlsx') }} "
                                          "select 1 as x"})
    text = output(run_cli(files_project, "run", code=1))
    assert "invalid format: xlsx" in text and "csv, parquet, json" in text


def test_a_failed_write_keeps_the_previous_view(files_project: Path) -> None:
    write(files_project, {"models/m.sql": "{{ config(materialized='external') }} "
                                          "select {{ var('v', 1) }} as x"})
    run_cli(files_project, "run")
    write(files_project, {"models/m.sql": "{{ config(materialized='external', "
                                          "location='gone/m.parquet') }} select 2 as x"})
    run_cli(files_project, "run", code=1)
    assert query(files_project / "p.duckdb", "select x from m") == [(1,)]
    with duckdb.connect(str(files_project / "p.duckdb")) as con:
        assert not [r for r in con.execute("show all tables").fetchall() if "predsql" in r[2]]


def test_external_sources_render_as_reads_of_their_files(files_project: Path) -> None:
    write(files_project, {
        "data/a.csv": "id,v\n1,x\n2,y\n",
        "models/src.yml": """
            sources:
              - name: files
                meta: {external_location: "data/{name}.csv"}
                tables: [{name: a, columns: [{name: id, data_tests: [unique]}]}]
              - name: bad
                tables:
                  - name: b
                    config: {external_location: "data/{nope}.csv"}
        """,
        "models/m.sql": "select * from {{ source('files', 'a') }}",
    })
    text = output(run_cli(files_project, "compile", code=2))
    assert "cannot format external_location 'data/{nope}.csv'" in text
    assert "models/src.yml" in text
    write(files_project, {"models/src.yml": """
        sources:
          - name: files
            meta: {external_location: "data/{name}.csv"}
            tables: [{name: a, columns: [{name: id, data_tests: [unique]}]}]
    """})
    run_cli(files_project, "build")
    compiled = (files_project / "target/compiled/p/models/m.sql").read_text()
    assert "from 'data/a.csv'" in compiled
    assert query(files_project / "p.duckdb", "select count(*) from m") == [(2,)]
