"""Seeds typed as dbt-duckdb types them (agate's inference), loaded with COPY.

The corpus under tests/dbt_parity/seed_types/ holds awkward values (leading zeros,
currency, percentages, thousands separators, ISO and non-ISO timestamps, invalid
dates, `null`, booleans in any case); expected.json is what dbt's own type tester
and dbt-duckdb's type mapping give each column (record_seed_types.py). Whole
projects are compared with dbt-duckdb in test_dbt_parity.py (case seeds_typing).
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from conftest import db_of, output, query, run_cli, write
from predsql.materializations.seeds import infer_types

CORPUS = Path(__file__).parent / "dbt_parity" / "seed_types"
EXPECTED = json.loads((CORPUS / "expected.json").read_text())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_inference_equals_dbt_agate(name: str) -> None:
    with duckdb.connect() as con:
        assert infer_types(con, str(CORPUS / name)) == EXPECTED[name]


def test_types_values_and_overrides(project: Path) -> None:
    write(project, {
        "seeds/s.csv": "id,zip,price,day,at,ok,note\n1,01234,1.50,2024-02-29,"
                       "2024-01-01T10:00:00,True,\n2,00501,2.0,2024-03-01,2024-01-02 11:00:00,"
                       "false,x\n",
        "seeds/o.csv": "code,amount\n007,1.5\n",
        "seeds/props.yml": "seeds:\n  - name: o\n    config:\n"
                           "      column_types: {code: varchar, amount: 'decimal(6,2)'}\n",
    })
    run_cli(project, "seed")
    types = dict(query(db_of(project), "select column_name, data_type from "
                       "information_schema.columns where table_name = 's'"))
    assert types == {"id": "INTEGER", "zip": "INTEGER", "price": "DOUBLE", "day": "DATE",
                     "at": "VARCHAR", "ok": "BOOLEAN", "note": "VARCHAR"}
    assert query(db_of(project), "select zip, note from s order by id") == [(1234, None),
                                                                           (501, "x")]
    assert query(db_of(project), "select code, amount::varchar from o") == [("007", "1.50")]


def test_integer_overflow_fails_like_dbt_with_a_hint(project: Path) -> None:
    write(project, {"seeds/big.csv": "id,n\n1,3000000000\n", "seeds/ok.csv": "id\n1\n"})
    result = run_cli(project, "seed", code=1)
    text = output(result)
    assert 'Error when converting column "n"' in text and "column_types" in text
    assert query(db_of(project), "select count(*) from ok") == [(1,)]
    write(project, {"seeds/props.yml": "seeds:\n  - name: big\n    config:\n"
                                       "      column_types: {n: bigint}\n"})
    run_cli(project, "seed")
    assert query(db_of(project), "select n from big") == [(3000000000,)]


def test_a_failed_reload_keeps_the_previous_seed(project: Path) -> None:
    write(project, {"seeds/s.csv": "id\n1\n2\n"})
    run_cli(project, "seed")
    write(project, {"seeds/s.csv": "id\n1\n9999999999\n"})
    run_cli(project, "seed", code=1)
    assert query(db_of(project), "select id from s order by id") == [(1,), (2,)]
