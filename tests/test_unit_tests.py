"""Unit tests compare typed values as dbt does; whole projects are compared with
dbt-duckdb in test_dbt_parity.py (case unit_tests_typed)."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import output, run_cli, write


def statuses(root: Path) -> dict[str, str]:
    results = json.loads((root / "target/run_results.json").read_text())["results"]
    return {r["unique_id"].split(".")[-1]: r["status"] for r in results}


def test_input_that_does_not_exist_yet_takes_types_from_rows(project: Path) -> None:
    write(project, {
        "models/m.sql": "select id, price * 2 as doubled from {{ source('raw', 'items') }}",
        "models/props.yml": """
            sources:
              - name: raw
                schema: main
                tables: [{name: items}]
            unit_tests:
              - name: doubles
                model: m
                given:
                  - input: source('raw', 'items')
                    rows: [{id: 1, price: 1.25}]
                expect:
                  rows: [{id: 1, doubled: 2.5}]
            """,
    })
    run_cli(project, "test")
    assert statuses(project) == {"doubles": "pass"}


def test_values_are_cast_to_the_relation_types(project: Path) -> None:
    write(project, {
        "models/src.sql": "{{ config(materialized='table') }} select 1 as id, "
                          "1.50::decimal(8, 2) as price, timestamp '2024-01-01 10:00' as ts",
        "models/m.sql": "select id, price, ts from {{ ref('src') }}",
        "models/props.yml": """
            unit_tests:
              - name: typed
                model: m
                given:
                  - input: ref('src')
                    rows: [{ID: 1, Price: 4.5, TS: '2024-02-01'}]
                expect:
                  rows: [{id: 1, price: 4.50, ts: '2024-02-01 00:00:00'}]
              - name: not_a_number
                model: m
                given:
                  - input: ref('src')
                    rows: [{id: 1, price: abc}]
                expect:
                  rows: [{id: 1}]
            """,
    })
    run_cli(project, "run")
    result = run_cli(project, "test", code=1)
    assert statuses(project) == {"typed": "pass", "not_a_number": "error"}
    assert "abc" in output(result)
