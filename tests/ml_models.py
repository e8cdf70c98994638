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


W_NUMERIC = np.array([[0.5], [-1.0], [0.25]], dtype=np.float32)
W_REGION = np.array([[2.0], [-3.0]], dtype=np.float32)


def two_inputs(path: Path) -> Path:
    """score = numeric @ W_NUMERIC + region @ W_REGION; label = score > 0 (two input tensors
    [N, 3] and [N, 2], two outputs), built with onnx.helper."""
    nodes = [
        helper.make_node("MatMul", ["numeric", "w1"], ["a"]),
        helper.make_node("MatMul", ["region", "w2"], ["b"]),
        helper.make_node("Add", ["a", "b"], ["score"]),
        helper.make_node("Greater", ["score", "zero"], ["positive"]),
        helper.make_node("Cast", ["positive"], ["label"], to=TensorProto.INT64),
    ]
    graph = helper.make_graph(
        nodes, "two_inputs",
        [helper.make_tensor_value_info("numeric", TensorProto.FLOAT, [None, 3]),
         helper.make_tensor_value_info("region", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, [None, 1]),
         helper.make_tensor_value_info("label", TensorProto.INT64, [None, 1])],
        initializer=[onnx.numpy_helper.from_array(W_NUMERIC, "w1"),
                     onnx.numpy_helper.from_array(W_REGION, "w2"),
                     helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return save(model, path)


def fixed_batch(path: Path, size: int) -> Path:
    """y = sum(x, axis=1) * 2 with a fixed batch dimension: x is [size, 3]."""
    nodes = [helper.make_node("ReduceSum", ["x", "axes"], ["s"], keepdims=1),
             helper.make_node("Mul", ["s", "two"], ["y"])]
    graph = helper.make_graph(
        nodes, "fixed",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [size, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [size, 1])],
        initializer=[helper.make_tensor("axes", TensorProto.INT64, [1], [1]),
                     helper.make_tensor("two", TensorProto.FLOAT, [1], [2.0])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return save(model, path)


def _skl2onnx_tree_bool_fix() -> None:
    """skl2onnx 1.20 passes Python booleans in an integer attribute of HistGradientBoosting
    trees, which protobuf 7 refuses ('Expected an int, got a boolean'); cast them."""
    import skl2onnx.common.tree_ensemble as tree_ensemble

    add_node = tree_ensemble.add_node
    if getattr(add_node, "casts_bools", False):
        return

    def patched(*args, nodes_missing_value_tracks_true=0, **kwargs):
        return add_node(*args, nodes_missing_value_tracks_true=int(nodes_missing_value_tracks_true),
                        **kwargs)

    patched.casts_bools = True  # type: ignore[attr-defined]
    tree_ensemble.add_node = patched


def with_missing(n: int = 3000, k: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Features with 20% NaN and a target that depends on which values are missing."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, k)).astype(np.float32)
    x[rng.random(x.shape) < 0.2] = np.nan
    y = ((np.nan_to_num(x[:, 0], nan=1.0) > 0) ^ np.isnan(x[:, 1])).astype(int)
    return x, y


def hist_gradient_boosting(path: Path):
    """A HistGradientBoostingClassifier trained on data with NaN (its native handling)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    _skl2onnx_tree_bool_fix()
    x, y = with_missing()
    model = HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(x, y)
    save(to_onnx(model, x[:1], options={"zipmap": False}), path)
    return model
