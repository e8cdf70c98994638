"""Registry keys of text functions and the signature they get from the graph.

    - name: embed
      model: minilm.onnx                  # or package://some_package/model.onnx
      tokenizer: tokenizer.json           # Hugging Face tokenizers format
      max_length: 256                     # tokens; longer texts are truncated (and counted)
      pooling: mean                       # mean | cls | none (the graph already pools)
      normalize: true                     # unit-length vectors
      text_pair: false                    # true: f(text, text_pair), e.g. a cross-encoder

The call takes one VARCHAR (two with text_pair) and returns FLOAT[d], d read from
the graph's output; `input_ids`, `attention_mask` and `token_type_ids` are fed
by name, whichever the graph has, as int32 or int64 as the graph declares.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlglot import exp

TEXT_KEYS = {"tokenizer", "max_length", "pooling", "normalize", "text_pair"}
POOLINGS = ("mean", "cls", "none")
ROLES = ("input_ids", "attention_mask", "token_type_ids")
INT_TYPES = {"tensor(int64)": "int64", "tensor(int32)": "int32"}
DEFAULT_MAX_LENGTH = 512


@dataclass(frozen=True)
class TextFeed:
    name: str  # the graph input
    role: str  # input_ids | attention_mask | token_type_ids
    dtype: str  # int64 | int32


@dataclass(frozen=True)
class TextSpec:
    """What a text function needs at run time (plain data: it travels to workers)."""

    tokenizer_json: str = field(repr=False)
    tokenizer_file: str
    max_length: int
    pooling: str
    normalize: bool
    pair: bool
    feeds: tuple[TextFeed, ...]
    output_tensor: str
    width: int | None  # d of a FLOAT[d] result; None for a scalar (e.g. a reranker's score)
    pad_id: int

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.tokenizer_json.encode()).hexdigest()


def load_tokenizer(text: str, max_length: int) -> Any:
    """A tokenizers.Tokenizer that truncates to max_length and never pads (we pad per sub-batch)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(text)
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_length)
    return tokenizer


def _require_tokenizers(fail: Any) -> None:
    try:
        import tokenizers  # noqa: F401
    except ImportError as exc:
        raise fail("text functions need the `tokenizers` package",
                   "pip install 'predsql[text]'") from exc


def text_spec(entry: dict[str, Any], tokenizer_path: Path, session: Any, fail: Any) -> TextSpec:
    """Check the text keys against the tokenizer file and the graph."""
    _require_tokenizers(fail)
    pooling = str(entry.get("pooling", "")) or None
    if pooling is not None and pooling not in POOLINGS:
        raise fail(f"pooling {pooling!r} is not one of {', '.join(POOLINGS)}")
    max_length = entry.get("max_length")
    if max_length is not None and (isinstance(max_length, bool) or not isinstance(max_length, int)
                                   or max_length < 2):
        raise fail("max_length must be an integer of at least 2 (tokens)")
    try:
        from tokenizers import Tokenizer

        text = tokenizer_path.read_text(encoding="utf-8")
        tokenizer = Tokenizer.from_str(text)
    except Exception as exc:  # not text, or tokenizers' own exception type
        raise fail(f"{tokenizer_path.name} is not a Hugging Face tokenizer.json: "
                   f"{str(exc).splitlines()[0]}",
                   "export it with tokenizer.save('tokenizer.json') or "
                   "AutoTokenizer.from_pretrained(...).backend_tokenizer.save(...)") from exc
    if max_length is None:
        max_length = (tokenizer.truncation or {}).get("max_length") or DEFAULT_MAX_LENGTH
    feeds = _feeds(session, fail)
    output_tensor, width, pooling = _output(session, entry.get("output"), pooling, fail)
    pad = (tokenizer.padding or {}).get("pad_id")
    if pad is None:
        pad = tokenizer.token_to_id("[PAD]") or tokenizer.token_to_id("<pad>") or 0
    return TextSpec(text, str(tokenizer_path), int(max_length), pooling,
                    bool(entry.get("normalize", False)), bool(entry.get("text_pair", False)),
                    feeds, output_tensor, width, int(pad))


def _feeds(session: Any, fail: Any) -> tuple[TextFeed, ...]:
    feeds = []
    for info in session.get_inputs():
        if info.name not in ROLES:
            raise fail(f"the model's input {info.name!r} is not one of {', '.join(ROLES)}",
                       "a text function feeds token tensors by these names; re-export the "
                       "model with them")
        if info.type not in INT_TYPES:
            raise fail(f"input {info.name!r} has type {info.type}; token tensors must be "
                       "int32 or int64")
        feeds.append(TextFeed(info.name, info.name, INT_TYPES[info.type]))
    if not any(f.role == "input_ids" for f in feeds):
        raise fail("a model with a `tokenizer:` must take `input_ids`")
    return tuple(feeds)


def _output(session: Any, declared: Any, pooling: str | None, fail: Any
            ) -> tuple[str, int | None, str]:
    outputs = {o.name: o for o in session.get_outputs()}
    name = declared.get("name") if isinstance(declared, dict) else declared
    name = name or next(iter(outputs))
    if name not in outputs:
        raise fail(f"the model has no output {name!r}", f"its outputs are: {', '.join(outputs)}")
    info = outputs[name]
    if info.type not in ("tensor(float)", "tensor(float16)", "tensor(double)"):
        raise fail(f"output {name!r} has type {info.type}; a text function returns floats")
    shape = list(info.shape)
    last = shape[-1] if shape else 1
    if len(shape) == 3:
        if pooling in (None, "none"):
            raise fail(f"output {name!r} has one vector per token ({shape}); set pooling: mean "
                       "or cls", "sentence-transformers models use mean pooling")
    elif len(shape) in (1, 2):
        if pooling not in (None, "none"):
            raise fail(f"output {name!r} is already one vector per text ({shape}); use "
                       "pooling: none")
        pooling = "none"
        if len(shape) == 1:
            last = 1
    else:
        raise fail(f"output {name!r} has shape {shape}; expected [N, seq, d], [N, d] or [N]")
    if not isinstance(last, int):
        raise fail(f"output {name!r} has no fixed last dimension ({shape})",
                   "re-export the model with a fixed hidden size")
    return name, (None if last == 1 else last), pooling


def text_signature(spec: TextSpec) -> tuple[tuple[str, ...], str]:
    """SQL argument names and the result type."""
    names = ("text", "text_pair") if spec.pair else ("text",)
    return names, "FLOAT" if spec.width is None else f"FLOAT[{spec.width}]"


def blank_as_null(argument: exp.Expression) -> exp.Expression:
    """Empty or blank text follows the NULL rules: NULL result, not sent to the model."""
    from sqlglot import exp  # only where a plan is built: a cached plan needs no sqlglot

    blank = exp.EQ(this=exp.func("trim", argument.copy()), expression=exp.Literal.string(""))
    return exp.Case(ifs=[exp.If(this=blank, true=exp.Null())], default=argument)


def check_text_keys(entry: dict[str, Any], fail: Any) -> None:
    """Text keys without a tokenizer are a mistake, not silently ignored."""
    stray = sorted(set(entry) & (TEXT_KEYS - {"tokenizer"}))
    if stray and "tokenizer" not in entry:
        raise fail(f"`{stray[0]}` applies to text functions only",
                   "add `tokenizer: tokenizer.json` or remove the key")
