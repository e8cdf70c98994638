"""The events predsql reports while it works, and their fields (docs/events.md).

An `Event` is what one line of output says: a name, a level, the human line
(`msg`, never empty) and structured fields. The console prints `msg` in text
mode and the whole record in `--log-format json`; the Python API hands the
same records to callbacks. This module builds events and their text; it prints
nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

LEVELS = ("debug", "info", "warn", "error")
STATUS_LEVEL = {"success": "info", "pass": "info", "skipped": "info", "warn": "warn",
                "fail": "error", "error": "error"}
STATUS_STYLE = {"success": "green", "pass": "green", "warn": "yellow", "error": "red",
                "fail": "red", "skipped": "yellow"}
LINE_WIDTH = 80
ML_FIELDS = ("rows_inferred", "rows_from_cache", "rows_null", "nan_outputs", "rows_per_second",
             "provider", "batches", "inference_seconds", "distinct_tuples", "fingerprint",
             "executor", "actors", "per_actor", "actor_restarts", "retried_batches")


@dataclass(frozen=True)
class Event:
    name: str
    level: str
    msg: str
    data: dict[str, Any] = field(default_factory=dict)
    summary: bool = False  # part of the final summary: printed with --quiet too
    style: str | None = None
    stamped: bool = False  # text mode prefixes the local time, as dbt's node lines
    indented: bool = False  # text mode indents it under the node line above

    def record(self) -> dict[str, Any]:
        """The JSON object of this event (without `ts` and `invocation_id`)."""
        return {"event": self.name, "level": self.level, "msg": self.msg, **self.data}


def plural(count: int, word: str, many: str | None = None) -> str:
    """`1 node`, `2 nodes`, `12,345 rows`."""
    return f"{count:,} {word if count == 1 else (many or word + 's')}"


def log(level: str, msg: str, **data: Any) -> Event:
    style = {"warn": "yellow", "error": "red", "debug": "dim"}.get(level)
    return Event("log", level, msg, data, style=style)


def _dotted(left: str, right: str) -> str:
    """`left ..... [right]` with the bracket at a fixed column, as dbt aligns it."""
    dots = "." * max(3, LINE_WIDTH - len(left) - 2)
    return f"{left} {dots} {right}"


def describe(resource_type: str, materialized: str, schema: str, alias: str, name: str) -> str:
    """dbt's node description: `sql table model main.x`, `seed file main.s`, `test t`."""
    if resource_type == "model":
        return f"sql {materialized} model {schema}.{alias}"
    if resource_type == "seed":
        return f"seed file {schema}.{alias}"
    if resource_type == "snapshot":
        return f"snapshot {schema}.{alias}"
    return f"test {name}"


def _node_fields(node: Any) -> dict[str, Any]:
    return {"node": node.unique_id, "name": node.name, "resource_type": node.resource_type,
            "materialized": node.materialized,
            "relation": node.relation if node.resource_type != "test" else None,
            "file": node.node.rel_path}


def node_started(index: int, total: int, node: Any) -> Event:
    what = describe(node.resource_type, node.materialized, node.schema, node.alias, node.name)
    return Event("node_started", "info", _dotted(f"{index} of {total} START {what}", "[RUN]"),
                 {**_node_fields(node), "index": index, "total": total}, stamped=True)


def node_finished(index: int, total: int, node: Any, result: Any) -> Event:
    """The line of a node that ended: OK / PASS / WARN / FAIL / ERROR / SKIP."""
    what = describe(node.resource_type, node.materialized, node.schema, node.alias, node.name)
    status = result.status
    seconds = f"in {result.execution_time:.2f}s"
    if status == "success":
        verb = {"seed": "loaded", "snapshot": "snapshotted"}.get(node.resource_type, "created")
        rows = f"{result.rows_affected:,} " if result.rows_affected is not None else ""
        left, right = f"OK {verb} {what}", f"[OK {rows}{seconds}]"
    elif status in ("pass", "warn", "fail"):
        label = "PASS" if status == "pass" else f"{status.upper()} {result.failures:,}"
        left, right = f"{label} {what.removeprefix('test ')}", f"[{label} {seconds}]"
    elif status == "skipped":
        left = f"SKIP relation {node.schema}.{node.alias}" if node.resource_type != "test" \
            else f"SKIP {what}"
        right = "[SKIP]"
    else:
        left = f"ERROR creating {what}" if node.resource_type != "test" else f"ERROR {what}"
        right = f"[ERROR {seconds}]"
    data = {**_node_fields(node), "index": index, "total": total, "status": status,
            "execution_time": round(result.execution_time, 4), "rows": result.rows_affected,
            "failures": result.failures,
            "message": result.message if status != "success" and result.message else None,
            "ml_functions": None}
    functions = (result.extra or {}).get("ml_functions")
    if functions:
        data["ml_functions"] = {name: _ml_fields(stats) for name, stats in functions.items()}
    return Event("node_finished", STATUS_LEVEL.get(status, "info"),
                 _dotted(f"{index} of {total} {left}", right), data,
                 style=STATUS_STYLE.get(status), stamped=True)


def _ml_fields(stats: Mapping[str, Any]) -> dict[str, Any]:
    return {key: round(stats[key], 1) if key == "rows_per_second" else stats[key]
            for key in ML_FIELDS if key in stats}


def ml_function(node: Any, function: str, stats: Mapping[str, Any]) -> Event:
    """One ML function's work in one node."""
    text = (f"{function}: {plural(stats['rows_inferred'], 'row')} inferred, "
            f"{stats['rows_from_cache']:,} from cache, {plural(stats['batches'], 'batch', 'batches')}, "
            f"{stats['rows_per_second']:,.0f} rows/s on {stats['provider']}")
    if stats.get("rows_null"):
        text += f", {plural(stats['rows_null'], 'NULL row')} not scored"
    if stats.get("nan_outputs"):
        text += f", {plural(stats['nan_outputs'], 'NaN output')}"
    if stats.get("executor") == "ray":
        text += f", on ray with {plural(stats['actors'], 'actor')}"
        if stats.get("retried_batches"):
            text += f" ({plural(stats['retried_batches'], 'batch', 'batches')} retried)"
    return Event("ml_function", "info", text,
                 {"node": node.unique_id, "name": node.name, "function": function,
                  **_ml_fields(stats)}, indented=True)


def node_error(node: Any, result: Any) -> Event:
    """The error of a failed node: where, what and how to fix it."""
    detail = (result.extra or {}).get("error") or {}
    return Event("node_error", "error", result.message,
                 {"node": node.unique_id, "name": node.name,
                  "resource_type": node.resource_type,
                  "file": detail.get("file") or node.node.rel_path, "line": detail.get("line"),
                  "message": detail.get("message") or result.message,
                  "hint": detail.get("hint")})


def node_note(node: Any, text: str, level: str = "info") -> Event:
    """A detail line under a node line (why it was skipped, what a test found)."""
    return Event("node_note", level, text, {"node": node.unique_id, "name": node.name},
                 indented=True)


def error(message: str, *, file: str | None = None, line: int | None = None,
          hint: str | None = None, text: str | None = None, **data: Any) -> Event:
    """An error of the whole command (the project, the command line, a held database)."""
    return Event("error", "error", text or message,
                 {"file": file, "line": line, "message": message, "hint": hint, **data})


def run_started(command: str, nodes: int, threads: int, database: str) -> Event:
    return Event("run_started", "info",
                 f"Running {plural(nodes, 'node')} with {plural(threads, 'thread')} on {database}",
                 {"command": command, "nodes": nodes, "threads": threads, "database": database})


def progress(node: Any, functions: Iterable[str], rows_done: int, rows_total: int | None,
             elapsed: float) -> Event:
    """A running ML stage: rows done (of the total when known), rows/s and ETA."""
    rate = rows_done / elapsed if elapsed > 0 else 0.0
    eta = (rows_total - rows_done) / rate if rows_total is not None and rate > 0 else None
    names = ", ".join(f"{f}()" for f in functions)
    of = f" of {rows_total:,} ({100 * rows_done / rows_total:.0f}%)" if rows_total else ""
    text = f"{node.name}: {names}: {rows_done:,}{of} rows, {rate:,.0f} rows/s"
    text += f", ETA {duration(eta)}" if eta is not None else f", {duration(elapsed)} elapsed"
    return Event("progress", "info", text,
                 {"node": node.unique_id, "name": node.name, "functions": list(functions),
                  "rows_done": rows_done, "rows_total": rows_total,
                  "rows_per_second": round(rate, 1), "elapsed_seconds": round(elapsed, 1),
                  "eta_seconds": None if eta is None else round(eta, 1)}, stamped=True)


def duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _took(seconds: float) -> str:
    return f"{seconds:.2f}s" if seconds < 60 else f"{duration(seconds)} ({seconds:.2f}s)"


def run_finished(results: list[Any], elapsed: float, interrupted: str = "") -> list[Event]:
    """The final summary: what ran, the totals, and the errors counted."""
    counts: dict[str, int] = {}
    kinds: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
        kind = r.resource_type if r.resource_type != "model" else f"{r.materialized} model"
        kinds[kind] = kinds.get(kind, 0) + 1
    ok = counts.get("success", 0) + counts.get("pass", 0)
    errors = counts.get("error", 0) + counts.get("fail", 0)
    what = ", ".join(plural(n, kind) for kind, n in sorted(kinds.items())) or "0 nodes"
    totals = {"pass": ok, "warn": counts.get("warn", 0), "error": errors,
              "skip": counts.get("skipped", 0), "total": len(results)}
    events = [Event(
        "run_finished", "info",
        f"Finished running {what} in {_took(elapsed)}. PASS={ok:,} WARN={totals['warn']:,} "
        f"ERROR={errors:,} SKIP={totals['skip']:,} TOTAL={len(results):,}",
        {"elapsed": round(elapsed, 4), "counts": counts, "totals": totals,
         "interrupted": interrupted or None},
        summary=True)]
    if errors:
        events.append(Event("run_errors", "error", f"Completed with {plural(errors, 'error')}.",
                            {"errors": errors}, summary=True, style="red"))
    return events


def preview(what: str, columns: list[str], rows: list[list[Any]]) -> Event:
    """`predsql show`: the first rows of a model or an inline query."""
    return Event("preview", "info", f"{what}: {plural(len(rows), 'row')}",
                 {"what": what, "columns": columns, "rows": rows})


def compiled_node(node: Any, sql: str) -> Event:
    """`predsql compile -s x`: the compiled SQL of the one selected node."""
    return Event("compiled_node", "info", f"Compiled node '{node.name}' is:\n{sql}",
                 {"node": node.unique_id, "name": node.name, "compiled_code": sql})


def _source_fields(source: Any, index: int, total: int) -> dict[str, Any]:
    return {"node": source.unique_id, "name": f"{source.source_name}.{source.name}",
            "resource_type": "source", "file": source.path, "index": index, "total": total}


def freshness_started(index: int, total: int, source: Any) -> Event:
    """`predsql source freshness`: `1 of 3 START freshness of raw.events ... [RUN]`."""
    return Event("freshness_started", "info",
                 _dotted(f"{index} of {total} START freshness of "
                         f"{source.source_name}.{source.name}", "[RUN]"),
                 _source_fields(source, index, total), stamped=True)


FRESHNESS_LABEL = {"pass": "PASS", "warn": "WARN", "error": "ERROR STALE",
                   "runtime error": "ERROR"}


def freshness_finished(index: int, total: int, result: Any) -> Event:
    """A source checked: PASS, WARN, ERROR STALE (past error_after) or ERROR (the
    query failed); the age and the criteria as fields."""
    label = FRESHNESS_LABEL[result.status]
    seconds = result.completed - result.started
    level = {"pass": "info", "warn": "warn"}.get(result.status, "error")
    style = {"pass": "green", "warn": "yellow"}.get(result.status, "red")
    loaded = result.max_loaded_at
    return Event("freshness_finished", level,
                 _dotted(f"{index} of {total} {label} freshness of {result.name}",
                         f"[{label} in {seconds:.2f}s]"),
                 {**_source_fields(result.source, index, total), "status": result.status,
                  "max_loaded_at": None if loaded is None else loaded.isoformat(),
                  "age_seconds": None if result.age_seconds is None
                  else round(result.age_seconds, 3),
                  "criteria": result.criteria.as_dict() if result.criteria else None,
                  "message": result.message or None, "execution_time": round(seconds, 4)},
                 style=style, stamped=True)


def freshness_error(result: Any) -> Event:
    """Why a source could not be checked (a runtime error), under its line."""
    source = result.source
    return Event("node_error", "error",
                 f"{source.path}: runtime error in source {result.name}: {result.message}"
                 + (f"\n  hint: {result.hint}" if result.hint else ""),
                 {"node": source.unique_id, "name": result.name, "resource_type": "source",
                  "file": source.path, "line": None, "message": result.message,
                  "hint": result.hint or None})


def freshness_summary(counts: Mapping[str, int], elapsed: float) -> Event:
    total = sum(counts.values())
    text = (f"Finished checking the freshness of {plural(total, 'source')} in {elapsed:.2f}s. "
            f"PASS={counts.get('pass', 0)} WARN={counts.get('warn', 0)} "
            f"ERROR STALE={counts.get('error', 0)} ERROR={counts.get('runtime error', 0)}")
    return Event("freshness_summary", "info", text,
                 {"counts": dict(counts), "total": total, "elapsed": round(elapsed, 4)},
                 summary=True)
