"""Model contracts fail as dbt's do; whole projects are compared with dbt-duckdb in
test_dbt_parity.py (case contracts)."""

from __future__ import annotations

from pathlib import Path

from conftest import db_of, output, query, run_cli, write

PROPS = """
models:
  - name: m
    config:
      contract: {enforced: true}
    columns:
      - name: id
        data_type: bigint
      - name: label
        data_type: text
"""


def test_mismatch_names_the_columns_and_keeps_the_old_table(project: Path) -> None:
    write(project, {"models/m.sql": "{{ config(materialized='table') }} "
                                    "select 1::bigint as id, 'x' as label",
                    "models/props.yml": PROPS})
    run_cli(project, "run")
    write(project, {"models/m.sql": "{{ config(materialized='table') }} "
                                    "select 2 as id, 'y' as label, 3 as extra"})
    text = output(run_cli(project, "run", code=1))
    assert "This model has an enforced contract that failed" in text
    assert "| id          | INTEGER         | BIGINT        | data type mismatch  |" in text
    assert "extra" in text and "missing in contract" in text
    assert query(db_of(project), "select id, label from m") == [(1, "x")]


def test_constraints_are_enforced_and_columns_take_the_contract_order(project: Path) -> None:
    write(project, {
        "models/m.sql": "{{ config(materialized='table') }} "
                        "select 'x' as label, {{ var('id', 1) }}::bigint as id",
        "models/props.yml": PROPS.replace("data_type: bigint",
                                          "data_type: bigint\n        constraints: "
                                          "[{type: check, expression: 'id > 0'}]"),
    })
    run_cli(project, "run")
    assert query(db_of(project), "select * from m") == [(1, "x")]
    text = output(run_cli(project, "run", "--vars", "{id: -5}", code=1))
    assert "CHECK constraint failed" in text
    assert query(db_of(project), "select * from m") == [(1, "x")]
