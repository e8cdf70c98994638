"""How to export a model from each framework so predsql can run it.

These are the recipes of docs/exporting-models.md, and the code paths of
tests/test_frameworks.py, which compares predsql's results with each
framework's own predictions. Each recipe trains a small model, exports it to
`path` and returns the trained model. The frameworks come from the
`frameworks` extra (`pip install -e '.[frameworks]'`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import ml_models


def features(n: int = 2000, k: int = 4, seed: int = 0, missing: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, k)).astype(np.float32)
    if missing:
        x[rng.random(x.shape) < missing] = np.nan
    return x


def target(x: np.ndarray) -> np.ndarray:
    """Depends on the values and on which of them are missing."""
    return ((np.nan_to_num(x[:, 0], nan=1.0) + 0.5 * np.nan_to_num(x[:, 1]) > 0)
            ^ np.isnan(x[:, 2])).astype(int)


# -- PyTorch ----------------------------------------------------------------------

def torch_mlp(path: Path, dynamo: bool = False):
    """An MLP exported with torch.onnx.export and a dynamic batch axis: `dynamic_axes` with
    the TorchScript exporter (dynamo=False), `dynamic_shapes` with the dynamo exporter
    (torch's default since 2.9; it needs onnxscript and takes several seconds)."""
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1),
                                torch.nn.Sigmoid()).eval()
    example = (torch.randn(8, 4),)
    names = {"input_names": ["x"], "output_names": ["p"]}
    if dynamo:
        torch.onnx.export(model, example, str(path), dynamo=True, verbose=False,
                          dynamic_shapes=({0: torch.export.Dim("batch")},), **names)
    else:
        torch.onnx.export(model, example, str(path), dynamo=False,
                          dynamic_axes={"x": {0: "batch"}, "p": {0: "batch"}}, **names)
    return model


class TwoTowers:
    """A model with two input tensors (numeric features and a one-hot region) and two
    outputs (a score and a class label)."""

    @staticmethod
    def build():
        import torch

        class Model(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.numeric = torch.nn.Linear(3, 8)
                self.region = torch.nn.Linear(2, 8)
                self.head = torch.nn.Linear(8, 1)

            def forward(self, numeric, region):
                hidden = torch.relu(self.numeric(numeric) + self.region(region))
                score = self.head(hidden)
                return score, (score > 0).to(torch.int64)

        torch.manual_seed(1)
        return Model().eval()


def torch_two_inputs(path: Path, fixed_batch: int | None = None):
    """Two input tensors, exported with the TorchScript exporter (dynamo=False). With
    `fixed_batch`, no dynamic_axes: the batch dimension is fixed to that size."""
    import torch

    model = TwoTowers.build()
    rows = fixed_batch or 4
    example = (torch.randn(rows, 3), torch.randn(rows, 2))
    names = {"input_names": ["numeric", "region"], "output_names": ["score", "label"]}
    axes = None if fixed_batch else {n: {0: "batch"} for n in ["numeric", "region", "score",
                                                               "label"]}
    torch.onnx.export(model, example, str(path), dynamic_axes=axes, dynamo=False, **names)
    return model


# -- LightGBM / XGBoost (onnxmltools) ---------------------------------------------

def lightgbm_classifier(path: Path):
    """A LightGBM classifier trained with missing values, converted by onnxmltools."""
    import lightgbm
    from onnxmltools import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType

    x = features(missing=0.2)
    model = lightgbm.LGBMClassifier(n_estimators=30, num_leaves=15, n_jobs=1, verbose=-1)
    model.fit(x, target(x))
    onx = convert_lightgbm(model, initial_types=[("x", FloatTensorType([None, x.shape[1]]))],
                           zipmap=False)
    ml_models.save(onx, path)
    return model


def xgboost_classifier(path: Path):
    """An XGBoost classifier trained with missing values, converted by onnxmltools."""
    import xgboost
    from onnxmltools import convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType

    x = features(missing=0.2, seed=1)
    model = xgboost.XGBClassifier(n_estimators=30, max_depth=4, n_jobs=1).fit(x, target(x))
    onx = convert_xgboost(model, initial_types=[("x", FloatTensorType([None, x.shape[1]]))])
    ml_models.save(onx, path)
    return model


# -- CatBoost (its own ONNX export) -------------------------------------------------

def catboost_classifier(path: Path):
    """A CatBoost classifier saved with its native ONNX export (a ZipMap probability output)."""
    import catboost

    x = features(seed=2)
    model = catboost.CatBoostClassifier(iterations=40, depth=4, verbose=False, random_seed=0,
                                        thread_count=1, allow_writing_files=False)
    model.fit(x, target(x))
    model.save_model(str(path), format="onnx")
    return model


# -- scikit-learn -------------------------------------------------------------------

def text_pipeline(path: Path, locale: str | None = "C"):
    """TF-IDF + logistic regression on one string column, converted by skl2onnx. The
    vectorizer's `locale` option names the locale of the lower-casing StringNormalizer;
    without it onnxruntime uses en_US.UTF-8, which many containers lack."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import StringTensorType
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    docs, labels = reviews()
    pipe = Pipeline([("tfidf", TfidfVectorizer()), ("model", LogisticRegression())])
    pipe.fit(docs, labels)
    options: dict = {id(pipe.named_steps["model"]): {"zipmap": False}}
    if locale is not None:
        options[id(pipe.named_steps["tfidf"])] = {"locale": locale}
    onx = convert_sklearn(pipe, initial_types=[("text", StringTensorType([None, 1]))],
                          options=options)
    ml_models.save(onx, path)
    return pipe


def reviews(n: int = 600, seed: int = 0) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    good = ["great", "love", "excellent", "Fast", "works", "recommend"]
    bad = ["awful", "broken", "SLOW", "refund", "hate", "poor"]
    neutral = ["the", "product", "delivery", "it", "was", "and", "box", "Price"]
    docs, labels = [], []
    for _ in range(n):
        label = int(rng.random() < 0.5)
        words = list(rng.choice(good if label else bad, 2)) + list(rng.choice(neutral, 4))
        if rng.random() < 0.2:
            words.append(str(rng.choice(bad if label else good)))
        rng.shuffle(words)
        docs.append(" ".join(words))
        labels.append(label)
    return docs, np.asarray(labels)


def hist_gradient_boosting(path: Path):
    """HistGradientBoosting handles NaN natively; skl2onnx exports it (see ml_models for a
    fix needed with protobuf 7)."""
    return ml_models.hist_gradient_boosting(path)
