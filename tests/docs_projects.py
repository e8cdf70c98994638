"""Small projects the docs-site tests share (test_docs_site.py, test_docs_browser.py)."""

from __future__ import annotations

from pathlib import Path

import duckdb

import ml_models
from conftest import run_cli, write

MULTI_OUTPUT = """
functions:
  - name: two
    description: Two input tensors, two outputs returned as a STRUCT.
    model: two.onnx
    inputs:
      - {name: numeric, columns: [income, debt, age]}
      - {name: region, columns: [north, south]}
    outputs:
      - {name: score}
      - {name: label, as: positive}
  - name: lr
    model: lr.onnx
    batch_size: 512
    cache: true
    executor: {type: ray, actors: 2, num_cpus_per_actor: 0.5}
    outputs:
      - output_label
      - {name: output_probability, key: 1, as: p1}
      - {name: output_probability, as: probs}
"""


def multi_output_project(root: Path) -> Path:
    """Two functions with `outputs:` (a STRUCT each), one on Ray; a model calling one of
    them on two lines; run, with the docs site generated."""
    write(root, {
        "predsql_project.yml": "name: m\n",
        "functions/f.yml": MULTI_OUTPUT,
        "models/scored.sql": (
            "select id,\n"
            "       two(income, debt, age, north, south).score as score,\n"
            "       two(income, debt, age, north, south).positive as positive\n"
            "from {{ source('raw', 'people') }}\n"),
        "models/schema.yml": "version: 2\nsources:\n  - name: raw\n    schema: main\n"
                             "    tables:\n      - name: people\n",
    })
    ml_models.two_inputs(root / "functions" / "two.onnx")
    ml_models.logistic(root / "functions" / "lr.onnx", k=3, zipmap=True)
    with duckdb.connect(str(root / "m.duckdb")) as con:
        con.execute("create table people as select range as id, random() - 0.5 as income, "
                    "random() as debt, random() as age, (range % 2)::DOUBLE as north, "
                    "((range + 1) % 2)::DOUBLE as south from range(700)")
    run_cli(root, "run")
    run_cli(root, "docs", "generate")
    return root
