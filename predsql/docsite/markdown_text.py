"""Descriptions (docs blocks included) rendered as Markdown, with raw HTML escaped."""

from __future__ import annotations

from functools import lru_cache

from markdown_it import MarkdownIt


@lru_cache(maxsize=1)
def _renderer() -> MarkdownIt:
    # CommonMark with tables and strikethrough; html=False escapes raw HTML, and
    # markdown-it refuses javascript:/vbscript:/data: links on its own.
    return MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def to_html(text: str | None) -> str:
    return _renderer().render(text).strip() if text and text.strip() else ""
