"""target/sources.json in dbt's shape (sources/v3), and reading it back for the
`source_status:` selector."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from predsql.errors import SelectionError
from predsql.freshness.check import Freshness


def sources_json(results: list[Freshness], elapsed: float, metadata: dict[str, Any]
                 ) -> dict[str, Any]:
    """The artifact; sources that could not be queried are left out, as dbt does."""
    entries = [_entry(r) for r in sorted(results, key=lambda r: r.source.unique_id)
               if r.status != "runtime error"]
    return {"metadata": metadata, "results": entries, "elapsed_time": round(elapsed, 4)}


def _entry(result: Freshness) -> dict[str, Any]:
    return {
        "unique_id": result.source.unique_id,
        "max_loaded_at": _iso(result.max_loaded_at),
        "snapshotted_at": _iso(result.snapshotted_at),
        "max_loaded_at_time_ago_in_s": result.age_seconds,
        "status": result.status,
        "criteria": result.criteria.as_dict() if result.criteria else None,
        "adapter_response": {"_message": "OK"},
        "timing": [{"name": "compile", "started_at": _stamp(result.started),
                    "completed_at": _stamp(result.started)},
                   {"name": "execute", "started_at": _stamp(result.started),
                    "completed_at": _stamp(result.completed)}],
        "thread_id": "Thread-1",
        "execution_time": round(result.completed - result.started, 4),
    }


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat()


def _stamp(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat().replace("+00:00", "Z")


def max_loaded_at(path: Path) -> dict[str, datetime]:
    """unique id -> max_loaded_at of the sources a sources.json has results for."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {r["unique_id"]: _parse(r["max_loaded_at"]) for r in data.get("results", [])
                if r.get("max_loaded_at")}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SelectionError(f"source_status: cannot read {path}: {exc}", path=path,
                             hint="run `predsql source freshness` again to write it") from exc


def fresher_sources(current: Path, previous: Path) -> set[str]:
    """Sources whose max_loaded_at grew since `previous` (or that it did not have)."""
    now, before = max_loaded_at(current), max_loaded_at(previous)
    return {uid for uid, loaded in now.items() if uid not in before or loaded > before[uid]}


def _parse(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
