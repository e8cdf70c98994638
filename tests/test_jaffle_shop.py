"""The dbt "jaffle shop" project runs unchanged and matches a hand-written script."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb

from conftest import output, query, run_cli

HAND_WRITTEN = """
create table raw_customers as select * from read_csv('{seeds}/raw_customers.csv', header=true);
create table raw_orders as select * from read_csv('{seeds}/raw_orders.csv', header=true);
create table raw_payments as select * from read_csv('{seeds}/raw_payments.csv', header=true);
create table orders as
select o.id as order_id, o.user_id as customer_id, o.order_date, o.status,
  p.credit_card_amount, p.coupon_amount, p.bank_transfer_amount, p.gift_card_amount,
  p.total_amount as amount
from raw_orders o left join (
  select order_id,
    sum(case when payment_method = 'credit_card' then round(amount / 100.0, 2) else 0 end)
      as credit_card_amount,
    sum(case when payment_method = 'coupon' then round(amount / 100.0, 2) else 0 end)
      as coupon_amount,
    sum(case when payment_method = 'bank_transfer' then round(amount / 100.0, 2) else 0 end)
      as bank_transfer_amount,
    sum(case when payment_method = 'gift_card' then round(amount / 100.0, 2) else 0 end)
      as gift_card_amount,
    sum(round(amount / 100.0, 2)) as total_amount
  from raw_payments group by order_id) p on o.id = p.order_id;
create table customers as
select c.id as customer_id, c.first_name, c.last_name, co.first_order, co.most_recent_order,
  co.number_of_orders, cp.total_amount as customer_lifetime_value
from raw_customers c
left join (select user_id, min(order_date) first_order, max(order_date) most_recent_order,
           count(id) number_of_orders from raw_orders group by user_id) co on c.id = co.user_id
left join (select o.user_id, sum(round(p.amount / 100.0, 2)) total_amount
           from raw_payments p left join raw_orders o on p.order_id = o.id
           group by o.user_id) cp on c.id = cp.user_id;
"""


def expected_tables(jaffle: Path) -> dict[str, list[tuple]]:
    con = duckdb.connect()
    for statement in HAND_WRITTEN.format(seeds=jaffle / "seeds").split(";"):
        if statement.strip():
            con.execute(statement)
    return {
        "orders": con.execute("select * from orders order by order_id").fetchall(),
        "customers": con.execute("select * from customers order by customer_id").fetchall(),
    }


def test_seed_and_run_match_hand_written_sql(jaffle: Path) -> None:
    run_cli(jaffle, "seed")
    result = run_cli(jaffle, "run")
    assert "OK created sql table model main.customers" in result.stdout
    db = jaffle / "jaffle.duckdb"
    expected = expected_tables(jaffle)
    assert query(db, "select * from orders order by order_id") == expected["orders"]
    assert query(db, "select * from customers order by customer_id") == expected["customers"]
    kinds = dict(query(db, "select table_name, table_type from information_schema.tables"))
    assert kinds["stg_orders"] == "VIEW" and kinds["orders"] == "BASE TABLE"


def test_dbt_project_yml_runs_unchanged(jaffle: Path) -> None:
    (jaffle / "predsql_project.yml").rename(jaffle / "dbt_project.yml")
    run_cli(jaffle, "seed")
    run_cli(jaffle, "run")
    expected = expected_tables(jaffle)
    db = jaffle / "jaffle.duckdb"
    assert query(db, "select * from customers order by customer_id") == expected["customers"]


def test_build_runs_every_test_and_writes_artifacts(jaffle: Path) -> None:
    result = run_cli(jaffle, "build")
    text = output(result)
    assert len(re.findall(r"of 25 PASS \S+ \.", text)) == 17
    assert "PASS=25" in text
    results = json.loads((jaffle / "target" / "run_results.json").read_text())
    statuses = {r["unique_id"]: r["status"] for r in results["results"]}
    assert statuses["model.jaffle_shop.customers"] == "success"
    assert statuses["test.jaffle_shop.unique_customers_customer_id"] == "pass"
    customers = next(r for r in results["results"]
                     if r["unique_id"] == "model.jaffle_shop.customers")
    assert customers["adapter_response"]["rows_affected"] == 12
    assert results["metadata"]["dbt_schema_version"].endswith("run-results/v6.json")
    manifest = json.loads((jaffle / "target" / "manifest.json").read_text())
    orders = manifest["nodes"]["model.jaffle_shop.orders"]
    assert set(orders["depends_on"]["nodes"]) == {
        "model.jaffle_shop.stg_orders", "model.jaffle_shop.stg_payments"}
    assert orders["description"].startswith("One record per order")
    assert "credit_card_amount" in orders["compiled_code"]
    compiled = jaffle / "target" / "compiled" / "jaffle_shop" / "models" / "orders.sql"
    assert "{{" not in compiled.read_text()


def test_broken_data_fails_exactly_the_right_tests(jaffle: Path) -> None:
    orders = jaffle / "seeds" / "raw_orders.csv"
    lines = orders.read_text().splitlines()
    lines.append(lines[1])  # a duplicated order id
    lines.append("31,,2018-01-02,placed")  # a NULL customer
    lines.append("32,3,2018-01-03,lost")  # an unexpected status
    lines.append("33,99,2018-01-04,placed")  # an orphan customer id
    orders.write_text("\n".join(lines) + "\n")
    payments = jaffle / "seeds" / "raw_payments.csv"
    extra = [f"{100 + o},{o},coupon,500" for o in (31, 32, 33)]
    payments.write_text(payments.read_text() + "\n".join(extra) + "\n")
    result = run_cli(jaffle, "build", code=1)
    results = json.loads((jaffle / "target" / "run_results.json").read_text())
    failed = {r["unique_id"].split(".")[-1]: r["failures"] for r in results["results"]
              if r["status"] == "fail"}
    # test names as dbt makes them
    ACCEPTED = ("accepted_values_stg_orders_status__placed__shipped__completed__return_pending__returned")
    assert failed == {
        "unique_stg_orders_order_id": 1,
        ACCEPTED: 1,
    }
    skipped = {r["unique_id"].split(".")[-1] for r in results["results"]
               if r["status"] == "skipped"}
    # the failing staging tests skip every model built on stg_orders
    assert {"orders", "customers"} <= skipped
    assert "FAIL 1" in output(result)
    # `predsql test` alone (after a run) reports the model-level failures too
    run_cli(jaffle, "run")
    run_cli(jaffle, "test", code=1)
    results = json.loads((jaffle / "target" / "run_results.json").read_text())
    failed = {r["unique_id"].split(".")[-1] for r in results["results"] if r["status"] == "fail"}
    assert failed == {
        "unique_stg_orders_order_id",
        ACCEPTED,
        "unique_orders_order_id",
        "not_null_orders_customer_id",
        "relationships_orders_customer_id__customer_id__ref_customers_",
        ACCEPTED.replace("stg_orders", "orders"),
    }
