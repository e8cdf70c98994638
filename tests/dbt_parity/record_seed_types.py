"""Write a corpus of awkward seed files and record the types dbt-duckdb infers for them.

    /work/venvs/dbt/bin/python tests/dbt_parity/record_seed_types.py

Run with the dbt venv's Python: it types every column with dbt's own agate type
tester (dbt_common.clients.agate_helper.from_csv) and dbt-duckdb's
DuckDBAdapter.convert_type, exactly what `dbt seed` does before it creates the
table, and writes seed_types/expected.json next to the generated CSV files.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

HERE = Path(__file__).parent / "seed_types"
ATOMS = [
    "1", "007", "-3", "+4", "1.5", "1.0", "0.0", "1e3", "2E-1", "1_000", "$5", "-$5", "5%",
    "1,000", "nan", "inf", "-inf", "Infinity", "2020-01-05", "2020-1-5", "2020-02-30",
    "2020-13-01", "2020-01-05 10:11:12", "2020-01-05 1:2:3", "2020-01-05T10:11:12",
    "2020-01-05T10:11", "2020-01-05T10:11:12.5Z", "20200105T101112", "2020-01-05 10:11:12.5",
    "true", "False", "TRUE", "t", "yes", "null", "NULL", "", "abc", " 5 ", ".5", "5.", "1.2.3",
    "0", "00", "1e", "e1", "0e5", "1.10", "12.50e-1", "2021-02-29", "2024-02-29", "10:11:12",
    "2020-01-05T25:00:00", " true ", "1 000", "(5)", "5-", "- 5", "€5", "5€", "%5", "0.000",
    "100e-2", "2020-01-05T10:11:12+02:00", "2020-01-05T10:11:12-0530", "2020-01-05 10:11:60",
    "  2020-01-05  ", "2020-01-05  10:11:12", "12345678901", "-0", "0x10", "1/2", "N/A",
]
TYPES = {"integer": "INTEGER", "float8": "DOUBLE", "text": "VARCHAR", "boolean": "BOOLEAN",
         "timestamp without time zone": "TIMESTAMP", "date": "DATE"}


def write_corpus(files: int = 24, columns: int = 60) -> list[Path]:
    paths = []
    for number in range(files):
        rng = random.Random(number)
        cols = [[rng.choice(ATOMS) for _ in range(rng.randint(1, 3))] for _ in range(columns)]
        depth = max(len(c) for c in cols)
        rows = [[f"c{i}" for i in range(columns)]]
        rows += [[c[r % len(c)] for c in cols] for r in range(depth)]
        path = HERE / f"corpus_{number:02d}.csv"
        with path.open("w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows(rows)
        paths.append(path)
    return paths


def main() -> None:
    from dbt.adapters.duckdb.impl import DuckDBAdapter
    from dbt_common.clients import agate_helper

    HERE.mkdir(exist_ok=True)
    expected = {}
    for path in write_corpus():
        table = agate_helper.from_csv(str(path), [])
        expected[path.name] = {name: TYPES[DuckDBAdapter.convert_type(table, i)]
                               for i, name in enumerate(table.column_names)}
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
