"""`predsql run --dry-run`: what a run would score, and about how long it would take.

Compiles and checks as a run does, then, per selected model and ML function,
counts with DuckDB the rows the model would be sent (input rows with every
argument present, minus the cache's hits for cached functions) and divides by
the rows/s the last run measured for that function (target/run_results.json).
Nothing is written to the database; the counts read the tables as they are now
(a model whose inputs this run would rebuild first is counted on their current
rows).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from predsql.compiler import CompiledNode
from predsql.database import WORK_SCHEMA
from predsql.events import duration
from predsql.ml import cache
from predsql.ml.executor import make_plan
from predsql.ml.plan_cache import PlanCache
from predsql.ml.registry import Registry


@dataclass(frozen=True)
class Estimate:
    node: CompiledNode
    function: str
    rows_in: int | None  # rows whose arguments are all present (None: cannot count now)
    rows_to_score: int | None  # of those, not served by the cache
    sent: int | None  # what the model would be sent (distinct tuples for cached functions)
    rows_per_second: float | None  # measured by the last run
    note: str = ""

    @property
    def seconds(self) -> float | None:
        if self.sent is None or not self.rows_per_second:
            return None
        return self.sent / self.rows_per_second


def last_rates(target_dir: Path) -> dict[tuple[str, str], float]:
    """rows/s per (node, function) from the last run_results.json; ("", function) holds
    the function's best rate in any node."""
    try:
        results = json.loads((target_dir / "run_results.json").read_text())["results"]
    except (OSError, ValueError, KeyError):
        return {}
    rates: dict[tuple[str, str], float] = {}
    for entry in results:
        for name, stats in ((entry.get("predsql") or {}).get("ml_functions") or {}).items():
            rate = float(stats.get("rows_per_second") or 0)
            if rate > 0:
                rates[(entry["unique_id"], name)] = rate
                rates[("", name)] = max(rate, rates.get(("", name), 0.0))
    return rates


def estimate_node(cursor: duckdb.DuckDBPyConnection, node: CompiledNode, registry: Registry,
                  rates: dict[tuple[str, str], float], use_cache: bool,
                  plans: PlanCache | None = None) -> list[Estimate]:
    if not node.extra.get("ml_calls") or node.materialized == "ephemeral":
        return []
    try:
        plan = make_plan(cursor, node, registry, "dryrun", plans)
    except Exception as exc:  # an input not built yet, or a query it cannot plan now
        reason = "its inputs are not built yet" if "does not exist" in str(exc) else \
            f"cannot count now: {str(exc).splitlines()[0]}"
        return [Estimate(node, name, None, None, None, _rate(rates, node, name), reason)
                for name in sorted(node.extra.get("ml_functions") or {})]
    estimates = []
    for stage in plan.stages:
        for call in stage.calls:
            rate = _rate(rates, node, call.fn.name)
            if WORK_SCHEMA in stage.input_sql:  # reads an earlier stage (nested calls)
                estimates.append(Estimate(node, call.fn.name, None, None, None, rate,
                                          "reads the results of another ML call"))
                continue
            present = " AND ".join(f'"{c}" IS NOT NULL' for c in call.arg_columns)
            try:
                rows_in = int(cursor.execute(
                    f"SELECT count(*) FROM ({stage.input_sql}) WHERE {present}").fetchall()[0][0])
                if call.fn.cache and use_cache:
                    to_score, sent = cache.pending(cursor, stage, call)
                else:
                    to_score = sent = rows_in
            except duckdb.Error as exc:  # e.g. a value that does not cast: the run would say
                estimates.append(Estimate(node, call.fn.name, None, None, None, rate,
                                          f"cannot count: {str(exc).splitlines()[0]}"))
                continue
            estimates.append(Estimate(node, call.fn.name, rows_in, to_score, sent, rate))
    return estimates


def _rate(rates: dict[tuple[str, str], float], node: CompiledNode, function: str) -> float | None:
    return rates.get((node.unique_id, function)) or rates.get(("", function))


def describe(estimate: Estimate) -> str:
    head = f"{estimate.node.name}: {estimate.function}()"
    if estimate.rows_to_score is None:
        return f"{head}: rows unknown ({estimate.note})"
    cached = (estimate.rows_in or 0) - estimate.rows_to_score
    text = f"{head}: {estimate.rows_to_score:,} of {estimate.rows_in:,} rows to score"
    if cached:
        text += f" ({cached:,} from cache, {estimate.sent:,} distinct to infer)"
    seconds = estimate.seconds
    if seconds is not None:
        text += f", {about(seconds)} at {estimate.rows_per_second:,.0f} rows/s"
    elif estimate.sent:
        text += ", time unknown (no earlier run measured this function)"
    return text


def about(seconds: float) -> str:
    return "under 1s" if seconds < 1 else f"about {duration(seconds)}"


def as_fields(estimate: Estimate) -> dict[str, Any]:
    return {"node": estimate.node.unique_id, "name": estimate.node.name,
            "function": estimate.function, "rows_in": estimate.rows_in,
            "rows_to_score": estimate.rows_to_score, "rows_sent": estimate.sent,
            "rows_per_second": estimate.rows_per_second,
            "estimated_seconds": None if estimate.seconds is None else round(estimate.seconds, 1),
            "note": estimate.note or None}
