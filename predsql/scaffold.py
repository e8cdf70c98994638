"""`predsql init DIR`: a small project that `predsql build` runs at once."""

from __future__ import annotations

from pathlib import Path

from predsql.errors import ProjectError

FILES = {
    "predsql_project.yml": """name: {name}
profile: {name}

model-paths: ["models"]
seed-paths: ["seeds"]
function-paths: ["functions"]

models:
  {name}:
    +materialized: table
""",
    "seeds/customers.csv": """id,name,tenure_months,monthly_spend
1,Ada,24,49.5
2,Grace,3,19.0
3,Alan,12,29.9
4,Edsger,1,9.5
""",
    "models/customer_segments.sql": """-- A first model: ref() a seed, add a column.
select
    id,
    name,
    tenure_months,
    monthly_spend,
    case when tenure_months >= 12 then 'loyal' else 'new' end as segment
from {{ ref('customers') }}
""",
    "models/schema.yml": """version: 2
models:
  - name: customer_segments
    description: Customers with a loyalty segment.
    columns:
      - name: id
        data_tests: [unique, not_null]
      - name: segment
        data_tests:
          - accepted_values:
              values: ['loyal', 'new']
""",
    "functions/README.md": """Register ONNX models here as SQL functions, e.g. functions/churn.yml:

functions:
  - name: churn_probability
    model: churn.onnx
    output: {name: probabilities, index: 1}
""",
    ".gitignore": "target/\nlogs/\n*.duckdb\n*.duckdb.wal\n",
}


def scaffold(directory: Path) -> Path:
    if directory.exists() and any(directory.iterdir()):
        raise ProjectError(
            f"{directory} exists and is not empty", path=directory,
            hint="choose a new folder name",
        )
    name = "".join(c if c.isalnum() else "_" for c in directory.resolve().name).strip("_")
    name = name if name and not name[0].isdigit() else f"project_{name}"
    for rel, text in FILES.items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.replace("{name}", name), encoding="utf-8")
    return directory
