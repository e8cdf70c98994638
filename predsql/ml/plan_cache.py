"""The ML call analysis and ML plan of each node, kept in target/ so that a run whose
models did not change never parses SQL (and never imports sqlglot, ~0.15 s).

One JSON file per node, `target/predsql_plans/<node>.json`, holds:

- `calls`: what ml/analysis.py found (the node's ML calls; the SQL with named
  arguments made positional), under a key of everything that analysis reads: the
  compiled and raw SQL, the names of every registered (and broken) function and of
  DuckDB's built-ins, and the signature of each registered function the SQL names
  (fingerprint, inputs, outputs, on_null, text);
- `plan`: the ml/plan.py Plan, under that key plus the work and stream relation
  names (the run id left as a slot, filled in on use), and valid only while each
  relation the model reads still has the same columns and types (read with DESCRIBE
  on every use).

Both keys also cover the versions of predsql, DuckDB and sqlglot and the source of
the modules that compute the results, so a changed planner never reads an old plan.
A file that cannot be read or does not match is ignored and rewritten.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from predsql.database import describe_columns, quote
from predsql.ml.plan import Plan, Stage, StageCall
from predsql.ml.registry import MlFunction, Registry

FORMAT = 1
PLAN_DIR = "predsql_plans"
RUN_ID_SLOT = "runidslot0"  # stands for the run id in a stored plan (ids are 10 characters)
# the modules whose code decides the cached results: a change to any of them is a miss
SOURCES = ("ml/analysis.py", "ml/arguments.py", "ml/plan.py", "ml/plan_build.py",
           "ml/plan_cache.py", "ml/executor.py", "text/config.py")
WORD_RE = re.compile(r"[a-z_][a-z0-9_]*")

Columns = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Relation:
    """A relation a model reads, with its columns and types as DESCRIBE gives them."""

    db: str
    name: str
    columns: Columns


@dataclass(frozen=True)
class CachedCalls:
    calls: tuple[dict[str, Any], ...]  # ml/analysis.py CallInfo fields
    positional_sql: str | None  # the SQL with named ML arguments placed by position


@dataclass(frozen=True)
class CachedPlan:
    key: str
    relations: tuple[Relation, ...]
    plan: dict[str, Any]  # plan_to_json(); its run id is RUN_ID_SLOT


def _sha(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def sqlglot_version() -> str:
    """sqlglot's version without importing it (that is what the cache avoids)."""
    spec = importlib.util.find_spec("sqlglot")
    if spec is None or not spec.submodule_search_locations:
        return ""
    folder = Path(next(iter(spec.submodule_search_locations)))
    for name in ("_version.py", "__init__.py"):
        try:
            return hashlib.sha256((folder / name).read_bytes()).hexdigest()
        except OSError:
            continue
    return ""


def code_digest() -> str | None:
    """predsql's, DuckDB's and sqlglot's versions and the source of SOURCES; None when
    the source cannot be read (then nothing is cached)."""
    from predsql import __version__

    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256(f"{FORMAT}|{__version__}|{duckdb.__version__}|"
                            f"{sqlglot_version()}".encode())
    for name in SOURCES:
        try:
            digest.update((root / name).read_bytes())
        except OSError:
            return None
    return digest.hexdigest()


def function_digest(fn: MlFunction) -> str:
    """Everything of a function that the analysis and the plan read."""
    return _sha([fn.name, fn.fingerprint, repr(fn.inputs), repr(fn.outputs), fn.on_null,
                 fn.struct, fn.text is not None, fn.arg_types(), fn.argument_names(),
                 fn.result_type])


def registry_digest(registry: Registry) -> str:
    return _sha([sorted(registry.functions), sorted(registry.broken),
                 sorted(registry.builtins)])


def calls_key(code: str, registry_part: str, functions: dict[str, str], compiled_sql: str,
              raw_sql: str) -> str:
    """`functions`: the digest of each registered function; those the SQL names count."""
    named = set(WORD_RE.findall(compiled_sql.lower())) & set(functions)
    return _sha([code, registry_part, {n: functions[n] for n in sorted(named)}, compiled_sql,
                 raw_sql])


def plan_key(calls: str, work_relation: str, stream_name: str) -> str:
    return _sha([calls, work_relation, stream_name])


def plan_to_json(plan: Plan) -> dict[str, Any]:
    stages = []
    for stage in plan.stages:
        fields = _fields(stage, skip="calls")
        fields["calls"] = [{**_fields(call, skip="fn"), "fn": call.fn.name}
                           for call in stage.calls]
        stages.append(fields)
    return {"stages": stages, "final_sql": plan.final_sql}


def _fields(obj: Any, skip: str) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj) if f.name != skip}


def plan_from_json(data: dict[str, Any], registry: Registry) -> Plan | None:
    """The plan, its functions resolved from `registry`; None when it does not fit."""
    try:
        stages = []
        for item in data["stages"]:
            calls = []
            for call in item["calls"]:
                fn = registry.get(call["fn"])
                if fn is None:
                    return None
                calls.append(StageCall(fn=fn, **_tuples(call, StageCall, skip="fn")))
            stages.append(Stage(calls=tuple(calls), **_tuples(item, Stage, skip="calls")))
        return Plan(stages, data["final_sql"])
    except (KeyError, TypeError, ValueError):
        return None


def _tuples(item: dict[str, Any], cls: type, skip: str) -> dict[str, Any]:
    """The dataclass fields of `item` (lists back to tuples); exactly those, else TypeError."""
    names = {f.name for f in dataclasses.fields(cls)} - {skip}
    if set(item) - {skip} != names:
        raise TypeError(f"fields of {cls.__name__} changed")
    return {k: tuple(v) if isinstance(v, list) else v for k, v in item.items() if k != skip}


def with_run_id(plan: Plan, run_id: str) -> Plan:
    """A stored plan with its run id slot filled in."""

    def fill(text: str) -> str:
        return text.replace(RUN_ID_SLOT, run_id)

    stages = [dataclasses.replace(s, input_sql=fill(s.input_sql), probe_sql=fill(s.probe_sql),
                                  relation=fill(s.relation)) for s in plan.stages]
    return Plan(stages, fill(plan.final_sql))


def describe(cursor: duckdb.DuckDBPyConnection, db: str, name: str) -> Columns:
    return tuple(describe_columns(cursor, f"{quote(db)}.{quote(name)}"))


def _relations_json(relations: tuple[Relation, ...]) -> list[Any]:
    return [[r.db, r.name, [list(c) for c in r.columns]] for r in relations]


def _relations_from_json(data: Any) -> tuple[Relation, ...]:
    return tuple(Relation(str(db), str(name), tuple((str(c), str(t)) for c, t in columns))
                 for db, name, columns in data)


class PlanCache:
    """The per-node files of target/predsql_plans/ for one command and one registry:
    read once per node, written when an entry changes. Thread-safe (nodes run in threads)."""

    def __init__(self, target_dir: Path | None, registry: Registry) -> None:
        code = code_digest()
        self.folder = target_dir / PLAN_DIR if target_dir is not None and code else None
        self.registry = registry
        self._code = code or ""
        self._registry = registry_digest(registry)
        self._functions = {name: function_digest(fn) for name, fn in registry.functions.items()}
        self._entries: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def cacheable(self, node: Any) -> bool:
        """Nodes whose SQL or name holds the run id slot are never cached."""
        return self.folder is not None and not any(
            RUN_ID_SLOT in text for text in (node.compiled_sql, node.alias, node.unique_id))

    def _key(self, node: Any) -> str:
        return calls_key(self._code, self._registry, self._functions, node.compiled_sql,
                         node.node.raw_sql)

    def calls(self, node: Any) -> CachedCalls | None:
        if not self.cacheable(node):
            return None
        entry = self._entry(node).get("calls")
        if not isinstance(entry, dict) or entry.get("key") != self._key(node):
            return None
        calls, positional = entry.get("calls"), entry.get("positional_sql")
        if not isinstance(calls, list) or not all(isinstance(c, dict) for c in calls):
            return None
        if positional is not None and not isinstance(positional, str):
            return None
        return CachedCalls(tuple(calls), positional)

    def store_calls(self, node: Any, found: CachedCalls) -> None:
        if not self.cacheable(node):
            return
        entry = {"key": self._key(node), "calls": list(found.calls),
                 "positional_sql": found.positional_sql}
        self._update(node, {"calls": entry, "plan": None})

    def plan(self, cursor: duckdb.DuckDBPyConnection, node: Any, work_relation: str,
             stream_name: str) -> Plan | None:
        """The stored plan (run id slot unfilled) if its key matches and every relation
        it reads still has the same columns; DESCRIBE errors propagate as a fresh plan's
        would (the relations are the same ones, in the same order)."""
        if not self.cacheable(node):
            return None
        stored = self._stored_plan(node)
        if stored is None or stored.key != plan_key(self._key(node), work_relation, stream_name):
            return None
        for relation in stored.relations:
            if describe(cursor, relation.db, relation.name) != relation.columns:
                return None
        return plan_from_json(stored.plan, self.registry)

    def store_plan(self, node: Any, work_relation: str, stream_name: str,
                   relations: tuple[Relation, ...], plan: Plan) -> None:
        if not self.cacheable(node):
            return
        try:
            data = json.loads(json.dumps(plan_to_json(plan)))
        except (TypeError, ValueError):
            return  # a field that is not plain data: not cached
        if any(c.get("cached") is not None for s in data["stages"] for c in s["calls"]):
            return  # prediction-cache columns belong to one run
        self._update(node, {"plan": {
            "key": plan_key(self._key(node), work_relation, stream_name),
            "relations": _relations_json(relations), "plan": data}})

    def _stored_plan(self, node: Any) -> CachedPlan | None:
        entry = self._entry(node).get("plan")
        if not isinstance(entry, dict) or not isinstance(entry.get("plan"), dict):
            return None
        try:
            return CachedPlan(str(entry["key"]), _relations_from_json(entry["relations"]),
                              entry["plan"])
        except (KeyError, TypeError, ValueError):
            return None

    def _path(self, node: Any) -> Path:
        assert self.folder is not None
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", node.unique_id)[:100]  # file names: 255 bytes
        return self.folder / f"{safe}-{_sha(node.unique_id)[:8]}.json"

    def _entry(self, node: Any) -> dict[str, Any]:
        with self._lock:
            entry = self._entries.get(node.unique_id)
            if entry is None:
                entry = self._entries[node.unique_id] = _read(self._path(node))
            return entry

    def _update(self, node: Any, changes: dict[str, Any]) -> None:
        with self._lock:
            entry = {**self._entries.get(node.unique_id, {}), **changes}
            self._entries[node.unique_id] = entry
            _write(self._path(node), entry)


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) and data.get("format") == FORMAT else {}


def _write(path: Path, entry: dict[str, Any]) -> None:
    temp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp.write_text(json.dumps({"format": FORMAT, **entry}), encoding="utf-8")
        os.replace(temp, path)  # atomic: a concurrent reader sees the old file or the new
    except OSError:
        temp.unlink(missing_ok=True)  # a read-only target/: the run works, uncached
