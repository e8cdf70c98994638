"""The files `predsql init` writes (`{name}` is the project's name)."""

from __future__ import annotations

TRAIN_SCRIPT = "train.py"

PROJECT = """name: {name}
profile: {name}

model-paths: ["models"]
seed-paths: ["seeds"]
test-paths: ["tests"]
function-paths: ["functions"]

models:
  {name}:
    +materialized: table
"""

CUSTOMERS = """id,name,tenure_months,monthly_spend,support_tickets,churned
1,Ada,24,49.5,0,0
2,Grace,3,19.0,4,1
3,Alan,12,29.9,1,0
4,Edsger,1,9.5,3,1
5,Barbara,36,79.0,0,0
6,Donald,2,14.5,5,1
7,Frances,18,39.9,2,0
8,John,5,24.0,3,1
9,Margaret,30,59.0,1,0
10,Ken,4,9.5,2,1
11,Dennis,27,49.5,0,0
12,Radia,8,19.0,4,1
13,Tim,15,29.9,1,0
14,Shafi,6,14.5,2,0
15,Leslie,1,24.0,6,1
16,Niklaus,42,99.0,1,0
17,Hedy,9,29.9,3,1
18,Tony,20,39.9,0,0
19,Katherine,3,9.5,1,0
20,Linus,11,19.0,5,1
"""

SEGMENTS = """-- A first model: ref() a seed, add a column.
select
    id,
    name,
    tenure_months,
    monthly_spend,
    support_tickets,
    case when tenure_months >= 12 then 'loyal' else 'new' end as segment
from {{ ref('customers') }}
"""

SCORES = """-- Scores every customer with the ML function churn_probability (functions/churn.yml):
-- the arguments are columns, in the order of the model's input.
with scored as (
    select
        id,
        name,
        segment,
        churn_probability(tenure_months, monthly_spend, support_tickets) as churn_probability
    from {{ ref('customer_segments') }}
)
select
    *,
    case when churn_probability >= 0.5 then 'high' else 'low' end as churn_risk
from scored
"""

SCHEMA = """version: 2
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
  - name: churn_scores
    description: Every customer's churn probability, from the model in functions/churn.onnx.
    columns:
      - name: id
        data_tests: [unique, not_null]
      - name: churn_probability
        data_tests: [not_null]
      - name: churn_risk
        data_tests:
          - accepted_values:
              values: ['high', 'low']
"""

RANGE_TEST = """-- A singular test: the rows it returns are failures.
select id, churn_probability
from {{ ref('churn_scores') }}
where churn_probability < 0 or churn_probability > 1
"""

FUNCTIONS = """# ML functions: an ONNX model registered as a SQL function (docs/ml-functions.md).
functions:
  - name: churn_probability
    description: Probability that a customer churns (a logistic regression; see train.py).
    model: churn.onnx            # written by train.py
    inputs:                      # the model's one input, an [N, 3] float tensor
      - {name: features, columns: [tenure_months, monthly_spend, support_tickets]}
    output: {name: probability}  # [N, 1] -> one FLOAT per row
    device: auto                 # the GPU where onnxruntime can use it, else the CPU
"""

TRAIN = '''"""Train the churn model on seeds/customers.csv and write functions/churn.onnx.

    python train.py

A logistic regression fitted with numpy and written as an ONNX graph with
onnx.helper: (features - mean) / scale -> MatMul -> Add -> Sigmoid. `predsql init`
ran this once. Replace it with your own model: scikit-learn + skl2onnx
(`pip install 'predsql[export]'`), PyTorch, LightGBM, ... (predsql's
docs/exporting-models.md); keep the first (batch) dimension dynamic.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent
FEATURES = ["tenure_months", "monthly_spend", "support_tickets"]


def load() -> tuple[np.ndarray, np.ndarray]:
    with open(HERE / "seeds" / "customers.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    x = np.array([[float(row[c]) for c in FEATURES] for row in rows])
    y = np.array([float(row["churned"]) for row in rows])
    return x, y


def fit(x: np.ndarray, y: np.ndarray, steps: int = 2000, rate: float = 0.5,
        l2: float = 0.01) -> tuple[np.ndarray, ...]:
    """Gradient descent on the standardized features (deterministic)."""
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    weights, bias = np.zeros(z.shape[1]), 0.0
    for _ in range(steps):
        error = 1 / (1 + np.exp(-(z @ weights + bias))) - y
        weights -= rate * (z.T @ error / len(y) + l2 * weights)
        bias -= rate * float(error.mean())
    return mean, scale, weights, np.array([bias])


def to_onnx(mean: np.ndarray, scale: np.ndarray, weights: np.ndarray,
            bias: np.ndarray) -> onnx.ModelProto:
    k = len(FEATURES)
    constants = {"mean": mean.reshape(1, k), "scale": scale.reshape(1, k),
                 "weights": weights.reshape(k, 1), "bias": bias.reshape(1)}
    graph = helper.make_graph(
        [helper.make_node("Sub", ["features", "mean"], ["centered"]),
         helper.make_node("Div", ["centered", "scale"], ["scaled"]),
         helper.make_node("MatMul", ["scaled", "weights"], ["product"]),
         helper.make_node("Add", ["product", "bias"], ["logit"]),
         helper.make_node("Sigmoid", ["logit"], ["probability"])],
        "churn",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", k])],
        [helper.make_tensor_value_info("probability", TensorProto.FLOAT, ["batch", 1])],
        [numpy_helper.from_array(v.astype(np.float32), name) for name, v in constants.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="train.py")
    model.ir_version = 8  # readable by onnxruntime 1.14 and later
    onnx.checker.check_model(model)
    return model


def main() -> None:
    x, y = load()
    model = to_onnx(*fit(x, y))
    (HERE / "functions" / "churn.onnx").write_bytes(model.SerializeToString())
    print(f"wrote functions/churn.onnx (trained on {len(y)} customers)")


if __name__ == "__main__":
    main()
'''

README = """# {name}

A predsql project (`predsql init`). What is here:

```
predsql_project.yml            the project
seeds/customers.csv            loaded by `predsql seed`
models/customer_segments.sql   a SQL model over the seed
models/churn_scores.sql        scores every customer with an ML function
models/schema.yml              column docs and data tests
tests/*.sql                    singular tests (rows returned = failures)
functions/churn.yml            the ML function churn_probability -> churn.onnx
train.py                       retrains functions/churn.onnx (numpy + onnx)
```

`predsql build` loads the seed, builds the models and runs the tests;
`predsql show churn_scores` prints the scored rows.
"""

FILES = {
    "predsql_project.yml": PROJECT,
    "seeds/customers.csv": CUSTOMERS,
    "models/customer_segments.sql": SEGMENTS,
    "models/churn_scores.sql": SCORES,
    "models/schema.yml": SCHEMA,
    "tests/churn_probability_in_range.sql": RANGE_TEST,
    "functions/churn.yml": FUNCTIONS,
    TRAIN_SCRIPT: TRAIN,
    "README.md": README,
    ".gitignore": "target/\nlogs/\n*.duckdb\n*.duckdb.wal\n",
}
