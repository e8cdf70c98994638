"""Text functions end to end with a tiny BERT-shaped ONNX graph and a word-level tokenizer:
signatures, embeddings against numpy, pooling, pairs, NULL/blank text, truncation, cache."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pytest
from onnx import TensorProto

import text_models
from conftest import output, query, run_cli, write

pytest.importorskip("tokenizers", reason="the `text` extra (tokenizers) is not installed")

FUNCTIONS = """
functions:
  - name: embed
    model: bert.onnx
    tokenizer: tokenizer.json
    max_length: 6
    pooling: mean
    normalize: true
    batch_size: 3
  - name: embed_cls
    model: bert32.onnx
    tokenizer: tokenizer.json
    pooling: cls
  - name: rerank
    model: rerank.onnx
    tokenizer: tokenizer.json
    text_pair: true
    cache: true
"""
TEXTS = ["The man is eating food", "a woman plays the guitar", "", None, "   ",
         "the dog runs in the park on a red sofa with music", "cat", "The man is eating food",
         "unknown words here", "a"]


@pytest.fixture
def textproj(tmp_path: Path) -> Path:
    root = write(tmp_path / "tp", {"predsql_project.yml": "name: tp\n",
                                   "functions/text.yml": FUNCTIONS})
    (root / "functions" / "tokenizer.json").write_text(text_models.tokenizer_json())
    text_models.tiny_bert(root / "functions" / "bert.onnx")
    text_models.tiny_bert(root / "functions" / "bert32.onnx", ids_type=TensorProto.INT32,
                          with_types=False)
    text_models.tiny_reranker(root / "functions" / "rerank.onnx")
    with duckdb.connect(str(root / "tp.duckdb")) as con:
        con.execute("CREATE TABLE docs (id INTEGER, body VARCHAR)")
        con.executemany("INSERT INTO docs VALUES (?, ?)", list(enumerate(TEXTS)))
    return root


def test_signatures_come_from_the_graph(textproj: Path) -> None:
    text = output(run_cli(textproj, "functions"))
    assert "embed(text VARCHAR) -> FLOAT[8]" in text
    assert "embed_cls(text VARCHAR) -> FLOAT[8]" in text
    assert "rerank(text VARCHAR, text_pair VARCHAR) -> FLOAT" in text


def test_embeddings_equal_numpy_and_nulls_follow_the_rules(textproj: Path) -> None:
    write(textproj, {"models/emb.sql": """
        select id, body, embed(body) as v, embed_cls(body) as c from docs
        """})
    run_cli(textproj, "run")
    rows = query(textproj / "tp.duckdb", "SELECT id, body, v, c FROM emb ORDER BY id")
    for _, body, v, c in rows:
        if body is None or not body.strip():
            assert v is None and c is None
            continue
        np.testing.assert_allclose(v, text_models.reference_embedding(body, 6), rtol=1e-5,
                                   atol=1e-6)
        np.testing.assert_allclose(c, text_models.reference_embedding(body, 512, False, "cls", False),
                                   rtol=1e-5, atol=1e-6)
    results = json.loads((textproj / "target" / "run_results.json").read_text())["results"]
    stats = results[0]["predsql"]["ml_functions"]["embed"]
    assert stats["truncated_rows"] == 4  # texts of more than 4 words are cut to 6 tokens
    assert stats["rows_null"] == 3  # NULL, '' and '   '
    assert stats["rows_inferred"] == 7


def test_results_do_not_depend_on_batch_size_or_order(textproj: Path) -> None:
    many = [" ".join(text_models.WORDS[i % 7: i % 7 + 1 + i % 9]) for i in range(300)]
    with duckdb.connect(str(textproj / "tp.duckdb")) as con:
        con.execute("CREATE TABLE many AS SELECT * FROM unnest(?) WITH ORDINALITY t(body, id)",
                    [many])
    write(textproj, {"models/a.sql": "select id, embed(body) as v from many",
                     "models/b.sql": "select id, embed(body) as v from many order by body desc"})
    run_cli(textproj, "run")
    db = textproj / "tp.duckdb"
    a = dict(query(db, "SELECT id, v FROM a"))
    b = dict(query(db, "SELECT id, v FROM b"))
    for i, body in enumerate(many, start=1):
        np.testing.assert_allclose(a[i], text_models.reference_embedding(body, 6), rtol=1e-5,
                                   atol=1e-6)
        np.testing.assert_allclose(a[i], b[i], rtol=1e-6)


def test_pairs_and_cache_hits_on_rerun(textproj: Path) -> None:
    write(textproj, {"models/scores.sql": """
        select d.id, q.query, rerank(q.query, d.body) as score
        from docs d cross join (values ('man eating'), ('music')) q(query)
        """})
    run_cli(textproj, "run")
    db = textproj / "tp.duckdb"
    for _, q, body, score in query(db, "SELECT s.id, s.query, d.body, s.score FROM scores s "
                                       "JOIN docs d USING (id)"):
        if body is None or not body.strip():
            assert score is None
        else:
            assert score == pytest.approx(text_models.reference_rerank(q, body, 512), rel=1e-5)
    run_cli(textproj, "run")
    results = json.loads((textproj / "target" / "run_results.json").read_text())["results"]
    stats = results[0]["predsql"]["ml_functions"]["rerank"]
    assert stats["rows_inferred"] == 0 and stats["rows_from_cache"] == 14


@pytest.mark.parametrize(("change", "message"), [
    ({"pooling": "none"}, "set pooling: mean"),
    ({"pooling": "max"}, "pooling 'max' is not one of"),
    ({"max_length": 1}, "max_length must be an integer"),
    ({"tokenizer": "missing.json"}, "tokenizer file 'missing.json' does not exist"),
    ({"tokenizer": "bert.onnx"}, "is not a Hugging Face tokenizer.json"),
    ({"tokenizer": "package://no_such_package_here/t.json"}, "is not installed"),
    ({"model": "package://no_such_package_here/m.onnx"}, "pip install no-such-package-here"),
    ({"tokenizer": None, "normalize": True}, "`normalize` applies to text functions only"),
])
def test_registry_errors_say_what_to_fix(textproj: Path, change: dict, message: str) -> None:
    entry = {"name": "embed", "model": "bert.onnx", "tokenizer": "tokenizer.json",
             "pooling": "mean", **change}
    entry = {k: v for k, v in entry.items() if v is not None}
    lines = "\n".join(f"    {k}: {json.dumps(v)}" for k, v in entry.items() if k != "name")
    write(textproj, {"functions/text.yml": f"functions:\n  - name: embed\n{lines}\n"})
    text = output(run_cli(textproj, "functions", code=1))
    assert "functions/text.yml" in text and message in text, text
