"""`--state DIR` and `state:modified`: compare with a saved manifest.json.

A node is modified when it is new, when its checksum (rendered SQL + config, or a
seed's file) changed, or when a function it calls has a new fingerprint (the
ONNX file's bytes or the function's config changed).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from predsql.compiler import CompiledNode
from predsql.errors import SelectionError


def load_state(directory: Path) -> dict[str, Any]:
    path = directory / "manifest.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))["nodes"]
    except FileNotFoundError as exc:
        raise SelectionError(f"--state: no manifest.json in {directory}", path=path,
                             hint="pass the target/ folder of an earlier run or compile") from exc
    except (ValueError, KeyError) as exc:
        raise SelectionError(f"--state: {path} is not a manifest", path=path) from exc


def state_selector(directory: Path | None) -> Callable[[CompiledNode, str], bool]:
    saved: dict[str, Any] | None = None

    def matches(node: CompiledNode, value: str) -> bool:
        nonlocal saved
        if directory is None:
            raise SelectionError("state: selectors need --state DIR (a saved target/ folder)")
        if saved is None:
            saved = load_state(directory)
        old = saved.get(node.unique_id)
        if value == "new":
            return old is None
        if value != "modified":
            raise SelectionError(f"unknown state {value!r}", hint="use state:modified or state:new")
        if old is None:
            return True
        if old.get("checksum", {}).get("checksum") != node.checksum:
            return True
        before = (old.get("predsql") or {}).get("ml_functions") or {}
        return before != (node.extra.get("ml_functions") or {})

    return matches
