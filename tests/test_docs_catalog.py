"""target/catalog.json against dbt's: the fields dbt's site and tools read.

The reference is the catalog real dbt-duckdb wrote for the same project
(tests/fixtures/dbt_catalog/, see its README for how it was recorded).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from conftest import FIXTURES, copy_fixture, output, query, run_cli

DBT_CATALOG = FIXTURES / "dbt_catalog" / "jaffle_shop_catalog.json"
RAW_SOURCE = """
sources:
  - name: raw
    schema: main
    tables:
      - name: raw_orders
        description: Orders as loaded
        columns:
          - name: id
            description: order id
"""
STAT_KEYS = {"id", "label", "value", "include", "description"}


@pytest.fixture(scope="module")
def jaffle_docs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_fixture("jaffle_shop", tmp_path_factory.mktemp("catalog"))
    with (root / "models" / "staging" / "schema.yml").open("a", encoding="utf-8") as f:
        f.write(RAW_SOURCE)
    mp = pytest.MonkeyPatch()
    mp.setenv("JAFFLE_DB", str(root / "jaffle.duckdb"))
    try:
        run_cli(root, "build")
        run_cli(root, "docs", "generate")
    finally:
        mp.undo()
    return root


@pytest.fixture(scope="module")
def catalog(jaffle_docs: Path) -> dict:
    return json.loads((jaffle_docs / "target" / "catalog.json").read_text())


@pytest.fixture(scope="module")
def dbt_catalog() -> dict:
    return json.loads(DBT_CATALOG.read_text())


def test_top_level_and_metadata_as_dbt(jaffle_docs: Path, catalog: dict,
                                       dbt_catalog: dict) -> None:
    assert (jaffle_docs / "target" / "manifest.json").is_file()
    assert set(catalog) == set(dbt_catalog) == {"metadata", "nodes", "sources", "errors"}
    assert catalog["errors"] is None
    meta, dbt_meta = catalog["metadata"], dbt_catalog["metadata"]
    assert meta["dbt_schema_version"] == dbt_meta["dbt_schema_version"]
    assert set(dbt_meta) - {"dbt_version"} <= set(meta)
    assert meta["env"] == {}
    for key in ("generated_at", "invocation_started_at"):
        datetime.fromisoformat(meta[key].replace("Z", "+00:00"))


def test_same_nodes_and_sources_as_dbt(catalog: dict, dbt_catalog: dict) -> None:
    assert sorted(catalog["nodes"]) == sorted(dbt_catalog["nodes"])
    assert sorted(catalog["sources"]) == sorted(dbt_catalog["sources"]) == [
        "source.jaffle_shop.raw.raw_orders"]


@pytest.mark.parametrize("section", ["nodes", "sources"])
def test_entries_match_dbt_field_by_field(catalog: dict, dbt_catalog: dict, section: str) -> None:
    for uid, expected in dbt_catalog[section].items():
        actual = catalog[section][uid]
        assert actual["unique_id"] == uid
        assert actual["metadata"] == expected["metadata"], uid
        assert list(actual["columns"]) == list(expected["columns"]), f"{uid}: column order"
        for name, column in expected["columns"].items():
            mine = actual["columns"][name]
            assert set(mine) == set(column) == {"type", "index", "name", "comment"}
            assert (mine["index"], mine["name"], mine["comment"]) == (
                column["index"], column["name"], column["comment"]), f"{uid}.{name}"
        assert set(actual["stats"]) >= set(expected["stats"])
        for stat in actual["stats"].values():
            assert set(stat) == STAT_KEYS


def test_column_types_are_the_databases(jaffle_docs: Path, catalog: dict) -> None:
    db = jaffle_docs / "jaffle.duckdb"
    for uid, entry in {**catalog["nodes"], **catalog["sources"]}.items():
        meta = entry["metadata"]
        described = query(db, f'DESCRIBE "{meta["schema"]}"."{meta["name"]}"')
        assert [(c["name"], c["type"]) for c in entry["columns"].values()] == [
            (row[0], row[1]) for row in described], uid


def test_column_types_match_dbt(catalog: dict, dbt_catalog: dict) -> None:
    for section in ("nodes", "sources"):
        for uid, expected in dbt_catalog[section].items():
            assert catalog[section][uid]["columns"] == expected["columns"], uid


def test_row_counts_of_tables_and_none_for_views(jaffle_docs: Path, catalog: dict) -> None:
    db = jaffle_docs / "jaffle.duckdb"
    for uid, entry in {**catalog["nodes"], **catalog["sources"]}.items():
        meta, stats = entry["metadata"], entry["stats"]
        if meta["type"] == "VIEW":
            assert "row_count" not in stats, uid
            assert stats["has_stats"]["value"] is False
            continue
        (count,), = query(db, f'SELECT count(*) FROM "{meta["schema"]}"."{meta["name"]}"')
        assert stats["row_count"]["value"] == count > 0, uid
        assert stats["row_count"]["include"] is True
        assert stats["has_stats"] == {
            "id": "has_stats", "label": "Has Stats?", "value": True, "include": False,
            "description": "Indicates whether there are statistics for this table"}


def test_catalog_without_a_database(tmp_path: Path) -> None:
    root = copy_fixture("jaffle_shop", tmp_path)
    mp = pytest.MonkeyPatch()
    mp.setenv("JAFFLE_DB", str(root / "never_built.duckdb"))
    try:
        result = run_cli(root, "docs", "generate")
    finally:
        mp.undo()
    catalog = json.loads((root / "target" / "catalog.json").read_text())
    assert catalog["nodes"] == {} and catalog["sources"] == {}
    assert "Run `predsql build` first" in output(result)
    assert (root / "target" / "manifest.json").is_file()
    assert not (root / "never_built.duckdb").exists()


def test_empty_catalog_flag_reads_no_database(jaffle_docs: Path, tmp_path: Path) -> None:
    mp = pytest.MonkeyPatch()
    mp.setenv("JAFFLE_DB", str(jaffle_docs / "jaffle.duckdb"))
    try:
        run_cli(jaffle_docs, "docs", "generate", "--empty-catalog")
        catalog = json.loads((jaffle_docs / "target" / "catalog.json").read_text())
        assert catalog["nodes"] == {}
    finally:
        run_cli(jaffle_docs, "docs", "generate")
        mp.undo()


def test_ephemeral_and_disabled_models_are_not_in_the_catalog(tmp_path: Path) -> None:
    from conftest import write

    root = write(tmp_path / "p", {
        "predsql_project.yml": "name: p\n",
        "models/base.sql": "select 1 as id, 'a' as label",
        "models/eph.sql": "{{ config(materialized='ephemeral') }} select * from {{ ref('base') }}",
        "models/final.sql": "select id, label, 2.5::double as score from {{ ref('eph') }}",
        "models/off.sql": "{{ config(enabled=false) }} select 1 as x",
    })
    run_cli(root, "run")
    run_cli(root, "docs", "generate")
    catalog = json.loads((root / "target" / "catalog.json").read_text())
    assert sorted(catalog["nodes"]) == ["model.p.base", "model.p.final"]
    columns = catalog["nodes"]["model.p.final"]["columns"]
    assert [(c["name"], c["type"], c["index"]) for c in columns.values()] == [
        ("id", "INTEGER", 1), ("label", "VARCHAR", 2), ("score", "DOUBLE", 3)]
    assert catalog["nodes"]["model.p.final"]["metadata"]["database"] == "p"
