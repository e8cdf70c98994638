"""`predsql.nearest(...)`: its parameters, the SQL it renders, and finding it again.

The macro renders a parenthesized SELECT that DuckDB can run as it is (a cross
join ranked with row_number(): exact, but O(N x M)); it is the definition of the
result. A comment before it carries the parameters as JSON, so predsql can find
the subquery in any compiled SQL (ephemeral CTEs included) and compute it with
a blocked matrix product instead.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Any

from predsql.errors import RenderError

METRICS = ("cosine", "ip", "l2")
METRIC_ALIASES = {"inner_product": "ip", "dot": "ip", "euclidean": "l2", "cos": "cosine"}
METHODS = ("exact", "hnsw")
START = "/* predsql.nearest "
END = "/* end predsql.nearest */"
MARK_RE = re.compile(r"\(\s*/\* predsql\.nearest (?P<json>\{.*?\}) \*/(?P<body>.*?)"
                     r"/\* end predsql\.nearest \*/\s*\)", re.DOTALL)
OUTPUT_COLUMNS = ("query_key", "item_key", "rank", "score")


@dataclass(frozen=True)
class NearestSpec:
    """One top-k search: for each query row, the k nearest item rows."""

    query: str  # a relation or a parenthesized SELECT
    query_column: str
    items: str
    item_column: str
    k: int
    query_key: str
    item_key: str
    metric: str = "cosine"
    query_partition: str | None = None
    item_partition: str | None = None
    exclude_self: bool = False
    exclude: str | None = None  # a relation of (query key, item key) pairs never returned
    exclude_keys: tuple[str, str] | None = None
    method: str = "exact"
    options: tuple[tuple[str, Any], ...] = ()  # method parameters (HNSW: m, ef_search, ...)

    @property
    def larger_is_closer(self) -> bool:
        return self.metric != "l2"

    def option(self, name: str, default: Any) -> Any:
        return dict(self.options).get(name, default)

    def to_json(self) -> str:
        data = asdict(self)
        data["options"] = dict(self.options)
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> NearestSpec:
        data = json.loads(text)
        data["options"] = tuple(sorted(data.get("options", {}).items()))
        if data.get("exclude_keys") is not None:
            data["exclude_keys"] = tuple(data["exclude_keys"])
        return cls(**data)


def column_name(value: Any) -> str:
    """A column name as given, or already quoted (generic tests pass `"col"`)."""
    text = str(value)
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1].replace('""', '"')
    return text


def _pair(value: Any, what: str) -> tuple[str, str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return column_name(value), column_name(value)
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, str) for v in value):
        return column_name(value[0]), column_name(value[1])
    raise RenderError(f"predsql.nearest(): `{what}` must be a column name or a pair "
                      "[query column, item column]")


def make_spec(query: Any, query_column: str, items: Any, item_column: str, k: int = 10,
              key: Any = None, query_key: str | None = None, item_key: str | None = None,
              metric: str = "cosine", partition_by: Any = None, exclude_self: bool = False,
              exclude: Any = None, exclude_keys: Any = None, method: str = "exact",
              **options: Any) -> NearestSpec:
    """Check the macro's arguments; every mistake is a RenderError saying what to write."""
    keys = _pair(key, "key")
    query_key = column_name(query_key) if query_key else (keys[0] if keys else None)
    item_key = column_name(item_key) if item_key else (keys[1] if keys else None)
    if not query_key or not item_key:
        raise RenderError("predsql.nearest() needs the key columns that identify rows",
                          hint="pass key='id' (same name in both relations) or "
                               "query_key='customer_id', item_key='product_id'")
    metric = METRIC_ALIASES.get(str(metric).lower(), str(metric).lower())
    if metric not in METRICS:
        raise RenderError(f"predsql.nearest(): unknown metric {metric!r}",
                          hint=f"use one of: {', '.join(METRICS)}")
    if method not in METHODS:
        raise RenderError(f"predsql.nearest(): unknown method {method!r}",
                          hint=f"use one of: {', '.join(METHODS)}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise RenderError(f"predsql.nearest(): k must be a positive integer, not {k!r}")
    unknown = set(options) - {"m", "ef_search", "ef_construction", "recall_sample"}
    if unknown:
        raise RenderError(f"predsql.nearest(): unknown argument `{sorted(unknown)[0]}`",
                          hint="see docs/text-and-vectors.md for the arguments")
    if options and method != "hnsw":
        raise RenderError(f"predsql.nearest(): `{sorted(options)[0]}` applies to method='hnsw'")
    parts = _pair(partition_by, "partition_by")
    pairs = _pair(exclude_keys, "exclude_keys") if exclude is not None else None
    for relation in (query, items, exclude):
        if relation is not None and START in str(relation):
            raise RenderError("predsql.nearest() cannot take another predsql.nearest() as input",
                              hint="build the inner one as its own model and ref() it")
    return NearestSpec(
        query=str(query), query_column=column_name(query_column), items=str(items),
        item_column=column_name(item_column),
        k=k, query_key=query_key, item_key=item_key, metric=metric,
        query_partition=parts[0] if parts else None, item_partition=parts[1] if parts else None,
        exclude_self=bool(exclude_self), exclude=None if exclude is None else str(exclude),
        exclude_keys=pairs or ((query_key, item_key) if exclude is not None else None),
        method=method, options=tuple(sorted(options.items())),
    )


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def score_sql(spec: NearestSpec, left: str, right: str) -> str:
    function = {"cosine": "list_cosine_similarity", "ip": "list_inner_product",
                "l2": "list_distance"}[spec.metric]
    return f"{function}({left}::FLOAT[], {right}::FLOAT[])"


def reference_sql(spec: NearestSpec) -> str:
    """The exact result as plain DuckDB SQL (what `predsql compile` shows)."""
    score = score_sql(spec, f"__q.{q(spec.query_column)}", f"__i.{q(spec.item_column)}")
    conditions = [f"__q.{q(spec.query_column)} IS NOT NULL",
                  f"__i.{q(spec.item_column)} IS NOT NULL"]
    if spec.query_partition:
        conditions.append(f"__q.{q(spec.query_partition)} = __i.{q(spec.item_partition or '')}")
    if spec.exclude_self:
        conditions.append(f"__q.{q(spec.query_key)} IS DISTINCT FROM __i.{q(spec.item_key)}")
    if spec.exclude is not None and spec.exclude_keys is not None:
        qk, ik = spec.exclude_keys
        conditions.append(
            f"NOT EXISTS (SELECT 1 FROM {spec.exclude} AS __x WHERE __x.{q(qk)} = "
            f"__q.{q(spec.query_key)} AND __x.{q(ik)} = __i.{q(spec.item_key)})")
    direction = "DESC" if spec.larger_is_closer else "ASC"
    return (
        "SELECT query_key, item_key, rank, score FROM (\n"
        f"  SELECT __q.{q(spec.query_key)} AS query_key, __i.{q(spec.item_key)} AS item_key, "
        f"{score} AS score,\n"
        f"    row_number() OVER (PARTITION BY __q.{q(spec.query_key)} "
        f"ORDER BY {score} {direction}, __i.{q(spec.item_key)}) AS rank\n"
        f"  FROM {spec.query} AS __q JOIN {spec.items} AS __i\n"
        f"    ON {' AND '.join(conditions)}\n"
        f"  WHERE NOT isnan({score})\n"
        f") WHERE rank <= {spec.k}"
    )


def render(spec: NearestSpec) -> str:
    payload = spec.to_json()
    if "*/" in payload:
        raise RenderError("predsql.nearest(): an argument contains `*/`")
    return f"({START}{payload} */\n{reference_sql(spec)}\n{END})"


@dataclass(frozen=True)
class Found:
    start: int
    end: int
    spec: NearestSpec


def has_nearest(node: Any) -> bool:
    """Whether a compiled node calls predsql.nearest()."""
    return bool(find_nearest(node.compiled_sql))


def find_nearest(sql: str) -> list[Found]:
    """Every predsql.nearest() subquery in `sql`, in order."""
    if START not in sql:
        return []
    return [Found(m.start(), m.end(), NearestSpec.from_json(m.group("json")))
            for m in MARK_RE.finditer(sql)]


def replace_nearest(sql: str, found: list[Found], tables: list[str]) -> str:
    """`sql` with each found subquery reading its computed table instead."""
    out, last = [], 0
    for item, table in zip(found, tables):
        out.append(sql[last:item.start])
        out.append(f"(SELECT query_key, item_key, CAST(rank AS BIGINT) AS rank, "
                   f"CAST(score AS FLOAT) AS score FROM {table})")
        last = item.end
    out.append(sql[last:])
    return "".join(out)


class PredsqlNamespace:
    """`predsql` in templates: `{{ predsql.nearest(ref('a'), 'emb', ref('b'), 'emb', k=5, key='id') }}`."""

    def nearest(self, query: Any, query_column: str, items: Any, item_column: str,
                k: int = 10, **kwargs: Any) -> str:
        return render(make_spec(query, query_column, items, item_column, k, **kwargs))
