"""Real models for the tests: trained with scikit-learn, exported with skl2onnx."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import onnx
import pandas as pd
from onnx import TensorProto, helper
from skl2onnx import convert_sklearn, to_onnx
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.ensemble import GradientBoostingClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

RNG = np.random.default_rng(42)


def features(n: int = 2000, k: int = 4, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, k)).astype(np.float32)


def labels(x: np.ndarray) -> np.ndarray:
    return (x[:, 0] + 0.5 * x[:, 1] - 0.25 * x[:, 2] > 0).astype(int)


def save(model: onnx.ModelProto, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString())
    return path


def logistic(path: Path, k: int = 4, zipmap: bool = False) -> LogisticRegression:
    x = features(k=k)
    model = LogisticRegression().fit(x, labels(x))
    save(to_onnx(model, x[:1], options={"zipmap": zipmap}), path)
    return model


def mlp(path: Path, k: int = 4) -> MLPClassifier:
    x = features(k=k)
    model = MLPClassifier(hidden_layer_sizes=(16, 8), max_iter=300, random_state=0)
    model.fit(x, labels(x))
    save(to_onnx(model, x[:1], options={"zipmap": False}), path)
    return model


def forest(path: Path, k: int = 4) -> RandomForestRegressor:
    x = features(k=k)
    model = RandomForestRegressor(n_estimators=10, max_depth=5, random_state=0)
    model.fit(x, x[:, 0] * 2 + x[:, 1])
    save(to_onnx(model, x[:1]), path)
    return model


def pca(path: Path, k: int = 4) -> PCA:
    x = features(k=k)
    model = PCA(n_components=2).fit(x)
    save(to_onnx(model, x[:1]), path)
    return model


def churn_frame(n: int = 500, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "plan": rng.choice(["basic", "plus", "pro"], n),
        "tenure": rng.integers(0, 60, n).astype(np.float32),
        "spend": rng.gamma(2.0, 20.0, n).astype(np.float32),
    })


def churn_pipeline(path: Path) -> Pipeline:
    """Gradient boosting over one-hot + scaled columns; one ONNX input per column; ZipMap."""
    frame = churn_frame()
    y = ((frame["plan"] == "basic") & (frame["tenure"] < 12)).astype(int).to_numpy()
    pipe = Pipeline([
        ("prep", ColumnTransformer([
            ("plan", OneHotEncoder(handle_unknown="ignore"), ["plan"]),
            ("nums", StandardScaler(), ["tenure", "spend"]),
        ])),
        ("model", GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0)),
    ]).fit(frame, y)
    types = [("plan", StringTensorType([None, 1])), ("tenure", FloatTensorType([None, 1])),
             ("spend", FloatTensorType([None, 1]))]
    save(convert_sklearn(pipe, initial_types=types), path)
    return pipe


def doubler(path: Path) -> Path:
    """y = 2x on an [N, 1] float input, built with onnx.helper."""
    node = helper.make_node("Mul", ["x", "two"], ["y"])
    two = helper.make_tensor("two", TensorProto.FLOAT, [1], [2.0])
    graph = helper.make_graph(
        [node], "doubler",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])],
        initializer=[two],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return save(model, path)


def nan_maker(path: Path) -> Path:
    """y = log(x): NaN for negative inputs."""
    node = helper.make_node("Log", ["x"], ["y"])
    graph = helper.make_graph(
        [node], "log",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return save(model, path)


def load_features(db: Path, table: str, x: np.ndarray, extra_sql: str = "") -> None:
    cols = {f"f{i}": x[:, i].astype(np.float64) for i in range(x.shape[1])}
    frame = pd.DataFrame({"id": np.arange(len(x)), **cols})
    with duckdb.connect(str(db)) as con:
        con.register("frame", frame)
        con.execute(f"create or replace table {table} as select * from frame {extra_sql}")
