"""Every selector form, on the jaffle shop graph."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import output, run_cli


def names(jaffle: Path, *args: str) -> set[str]:
    result = run_cli(jaffle, "ls", "--output", "name", "--resource-type", "model", *args)
    return set(result.stdout.split())


def all_names(jaffle: Path, *args: str) -> set[str]:
    return set(run_cli(jaffle, "ls", "--output", "name", *args).stdout.split())


STAGING = {"stg_customers", "stg_orders", "stg_payments"}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("orders", {"orders"}),
        ("+orders", {"orders", "stg_orders", "stg_payments"}),
        ("stg_orders+", {"stg_orders", "orders", "customers"}),
        ("+stg_orders+", {"stg_orders", "orders", "customers"}),
        ("1+customers", {"customers"} | STAGING),
        ("tag:staging", STAGING),
        ("path:models/staging", STAGING),
        ("path:models/staging/stg_orders.sql", {"stg_orders"}),
        ("config.materialized:view", STAGING),
        ("config.materialized:table", {"orders", "customers"}),
        ("stg_*", set()),  # as dbt: a bare wildcard matches the fqn from its start
        ("staging.stg_*", STAGING),
        ("name:stg_*", STAGING),
        ("*orders", {"stg_orders", "orders"}),
        ("staging", STAGING),
        ("orders customers", {"orders", "customers"}),
        ("tag:staging,stg_orders+", {"stg_orders"}),
        ("+orders,config.materialized:view", {"stg_orders", "stg_payments"}),
        ("@stg_payments", {"stg_payments", "orders", "customers", "stg_customers", "stg_orders"}),
    ],
)
def test_selector(jaffle: Path, selector: str, expected: set[str]) -> None:
    assert names(jaffle, "-s", selector) == expected


def test_exclude(jaffle: Path) -> None:
    assert names(jaffle, "--exclude", "tag:staging") == {"orders", "customers"}
    assert names(jaffle, "-s", "+customers", "--exclude", "stg_payments") == {
        "customers", "stg_customers", "stg_orders"}


def test_seeds_and_tests_are_selectable(jaffle: Path) -> None:
    assert "raw_orders" in all_names(jaffle, "-s", "+stg_orders")
    tests = set(run_cli(jaffle, "ls", "--output", "name", "--resource-type", "test",
                        "-s", "customers").stdout.split())
    own = {"unique_customers_customer_id", "not_null_customers_customer_id"}
    # dbt's eager indirect selection: a test is selected when any of its parents is
    assert tests == own | {"relationships_orders_customer_id__customer_id__ref_customers_"}
    cautious = set(run_cli(jaffle, "ls", "--output", "name", "--resource-type", "test",
                           "-s", "customers", "--indirect-selection", "cautious").stdout.split())
    assert cautious == own


def test_ls_json(jaffle: Path) -> None:
    lines = run_cli(jaffle, "ls", "-s", "orders", "--output", "json",
                    "--resource-type", "model").stdout.splitlines()
    entry = json.loads(lines[0])
    assert entry["name"] == "orders"
    assert entry["config"]["materialized"] == "table"
    assert "model.jaffle_shop.stg_orders" in entry["depends_on"]["nodes"]


def test_bad_selector_is_exit_2(jaffle: Path) -> None:
    result = run_cli(jaffle, "ls", "-s", "colour:blue", code=2)
    assert "unknown selector method 'colour'" in result.stderr


def test_run_only_selected(jaffle: Path) -> None:
    run_cli(jaffle, "seed")
    result = run_cli(jaffle, "run", "-s", "+stg_orders")
    assert "1 of 1" in result.stdout


def test_several_values_after_one_flag_and_no_match_warning(jaffle: Path) -> None:
    result = run_cli(jaffle, "ls", "--output", "name", "-s", "orders", "customers", "nope",
                     "--resource-type", "model")
    assert set(result.stdout.split()) == {"orders", "customers"}
    assert "The selection criterion 'nope' does not match any enabled nodes" in result.stderr
    run_cli(jaffle, "seed")
    result = run_cli(jaffle, "run", "-s", "nope", "--exclude", "nope2")
    for term in ("nope", "nope2"):
        assert f"The selection criterion '{term}' does not match any enabled nodes" in (
            output(result))
