"""What the last run did with each ML function, read from target/run_results.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SUMMED = ("rows_inferred", "rows_from_cache", "rows_null", "nan_outputs", "batches")


def read_run_results(target_dir: Path) -> dict[str, Any] | None:
    path = target_dir / "run_results.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _completed_at(result: dict[str, Any]) -> str | None:
    timing = result.get("timing") or []
    return timing[-1].get("completed_at") if timing else None


def _seconds(caller: dict[str, Any]) -> float:
    """Inference seconds of one call site; rows / (rows/s) keeps the precision that the
    rounded `inference_seconds` loses on fast runs."""
    rows, rate = caller.get("rows_inferred") or 0, caller.get("rows_per_second") or 0
    return rows / rate if rows and rate else float(caller.get("inference_seconds") or 0)


def function_runs(run_results: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Per function: totals over the models that called it in the last run, and
    one entry per calling model (rows, rows/s, provider, when)."""
    if not run_results:
        return {}
    invocation = {
        "generated_at": (run_results.get("metadata") or {}).get("generated_at"),
        "command": (run_results.get("args") or {}).get("which"),
    }
    runs: dict[str, dict[str, Any]] = {}
    for result in run_results.get("results") or []:
        functions = ((result.get("predsql") or {}).get("ml_functions")) or {}
        for name, stats in functions.items():
            entry = runs.setdefault(name, {"invocation": invocation, "callers": {},
                                           "totals": {k: 0 for k in SUMMED}})
            caller = {k: stats.get(k) for k in (*SUMMED, "provider", "fingerprint", "executor",
                                                "rows_per_second", "inference_seconds")}
            caller.update(status=result.get("status"), completed_at=_completed_at(result))
            entry["callers"][result.get("unique_id")] = caller
    for entry in runs.values():
        callers = entry["callers"].values()
        totals = entry["totals"]
        for key in SUMMED:
            totals[key] = sum(int(c.get(key) or 0) for c in callers)
        seconds = sum(_seconds(c) for c in callers)
        totals["rows_scored"] = totals["rows_inferred"] + totals["rows_from_cache"]
        totals["rows_per_second"] = totals["rows_inferred"] / seconds if seconds else None
        totals["providers"] = sorted({c["provider"] for c in callers if c.get("provider")})
        finished = [c["completed_at"] for c in callers if c.get("completed_at")]
        totals["completed_at"] = max(finished) if finished else invocation["generated_at"]
    return runs
