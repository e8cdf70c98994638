"""Top-level Jinja blocks of a file: `{% macro %}`, `{% test %}`, `{% materialization %}`,
`{% docs %}`, `{% snapshot %}`, as dbt extracts them (comments and raw blocks skipped)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from predsql.errors import RenderError

BLOCK_KINDS = {"macro": "endmacro", "test": "endtest", "materialization": "endmaterialization",
               "docs": "enddocs", "snapshot": "endsnapshot"}
_OPEN_RE = re.compile(r"{[%#]")
_TAG_RE = re.compile(r"{%[-+]?\s*(\w+)")
_NAME_RE = re.compile(r"{%[-+]?\s*\w+\s+([A-Za-z_][\w]*)")


@dataclass(frozen=True)
class Block:
    kind: str      # macro | test | materialization | docs | snapshot
    name: str
    source: str    # the block's text, from its opening tag to the end of its closing tag
    line: int      # line of the opening tag, 1-based
    body_start: int  # offset of the text after the opening tag, within `source`


def _tag_end(text: str, start: int, path: str) -> int:
    """Offset just after the `%}` closing the tag opened at `start` (quotes respected)."""
    i = start + 2
    quote = ""
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "%" and text.startswith("%}", i):
            return i + 2
        i += 1
    raise RenderError("Jinja tag is never closed with %}", path=path,
                      line=text.count("\n", 0, start) + 1)


def extract_blocks(text: str, path: str) -> list[Block]:
    """The top-level blocks of `text`; nested blocks of the same kind are kept inside."""
    blocks: list[Block] = []
    pos = 0
    open_kind = ""
    open_at = 0
    open_body = 0
    depth = 0
    while True:
        match = _OPEN_RE.search(text, pos)
        if match is None:
            break
        start = match.start()
        if text[start + 1] == "#":
            end = text.find("#}", start + 2)
            if end < 0:
                raise RenderError("Jinja comment is never closed with #}", path=path,
                                  line=text.count("\n", 0, start) + 1)
            pos = end + 2
            continue
        end = _tag_end(text, start, path)
        tag = _TAG_RE.match(text, start)
        word = tag.group(1) if tag else ""
        pos = end
        if word == "raw":
            close = re.compile(r"{%[-+]?\s*endraw\s*[-+]?%}").search(text, end)
            if close is None:
                raise RenderError("{% raw %} is never closed", path=path,
                                  line=text.count("\n", 0, start) + 1)
            pos = close.end()
            continue
        if not open_kind:
            if word in BLOCK_KINDS:
                open_kind, open_at, open_body, depth = word, start, end, 1
            continue
        if word == open_kind:
            depth += 1
        elif word == BLOCK_KINDS[open_kind]:
            depth -= 1
            if depth == 0:
                name = _NAME_RE.match(text, open_at)
                blocks.append(Block(open_kind, name.group(1) if name else "", text[open_at:end],
                                    text.count("\n", 0, open_at) + 1, open_body - open_at))
                open_kind = ""
    if open_kind:
        raise RenderError(f"{{% {open_kind} %}} block is never closed with "
                          f"{{% {BLOCK_KINDS[open_kind]} %}}", path=path,
                          line=text.count("\n", 0, open_at) + 1)
    return blocks
