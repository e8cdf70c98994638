"""Running the predsql.nearest() subqueries of a node, then the node itself.

For each marked subquery: the item relation is read once (keys and vectors,
sorted by partition and key, so an item's position is its tie-break order),
the query relation streams through in Arrow batches, each batch is searched on
the worker threads, and the results stream into a work table. The node's SQL
then reads those work tables instead of the marked subqueries.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from predsql.compiler import CompiledNode
from predsql.database import WORK_SCHEMA, ensure_schema, quote
from predsql.errors import CompileError, ExecutionError
from predsql.ml.runtime import available_cores
from predsql.vectors.exact import NO_ITEM, ExactSearch, Exclusions
from predsql.vectors.spec import (  # noqa: F401 (has_nearest: re-exported)
    NearestSpec,
    find_nearest,
    has_nearest,
    q,
    replace_nearest,
)

READ_ROWS = 8192


@dataclass
class SearchStats:
    query: str
    items: str
    k: int
    metric: str
    method: str
    provider: str = ""
    query_rows: int = 0
    item_rows: int = 0
    result_rows: int = 0
    pairs_scored: int = 0
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "extra"}
        data["seconds"] = round(self.seconds, 4)
        return {**data, **self.extra}


class NearestRows:
    """A RowSource for a node whose SQL holds predsql.nearest() subqueries."""

    def __init__(self, node: CompiledNode, inner: Callable[[CompiledNode], Any],
                 device: str | None = None) -> None:
        self.node = node
        self.inner = inner
        self.device = device or "auto"
        self.found = find_nearest(node.compiled_sql)
        self.run_id = uuid.uuid4().hex[:10]
        self._stats: list[SearchStats] = []
        self._delegate: Any = None

    def view_sql(self) -> str:
        raise CompileError(
            f"model {self.node.name!r} uses predsql.nearest() and is materialized as a view",
            path=self.node.node.rel_path,
            hint="use materialized='table' (or 'incremental'): the search runs when the model "
                 "is built")

    def stats(self) -> dict[str, Any]:
        inner = self._delegate.stats() if self._delegate is not None else {}
        return {**inner, "nearest": [s.as_dict() for s in self._stats]}

    def create_table(self, cursor: duckdb.DuckDBPyConnection, target: str) -> int:
        ensure_schema(cursor, WORK_SCHEMA)
        tables: list[str] = []
        try:
            for i, found in enumerate(self.found):
                table = f"{quote(WORK_SCHEMA)}.{quote(f'nearest_{self.run_id}_{i}')}"
                tables.append(table)
                self._stats.append(compute(cursor, found.spec, table, self.device, self.node))
            sql = replace_nearest(self.node.compiled_sql, self.found, tables)
            self._delegate = self.inner(replace(self.node, compiled_sql=sql))
            return self._delegate.create_table(cursor, target)
        finally:
            for table in tables:
                _drop(cursor, table)


def _drop(cursor: duckdb.DuckDBPyConnection, table: str) -> None:
    try:
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
    except duckdb.Error:
        pass


@dataclass(frozen=True)
class Sides:
    """SQL fragments for one search, built from the spec."""

    spec: NearestSpec
    dim: int
    items_table: str  # (pos, key, part) of the usable item rows

    def vector(self, alias: str, column: str) -> str:
        return f"CAST({alias}.{q(column)} AS FLOAT[{self.dim}])"

    def usable(self, alias: str, column: str, partition: str | None) -> str:
        terms = [f"{alias}.{q(column)} IS NOT NULL"]
        if partition:
            terms.append(f"{alias}.{q(partition)} IS NOT NULL")
        if self.spec.metric == "cosine":  # a zero vector has no direction
            terms.append(f"list_inner_product({alias}.{q(column)}::FLOAT[], "
                         f"{alias}.{q(column)}::FLOAT[]) > 0")
        return " AND ".join(terms)


def compute(cursor: duckdb.DuckDBPyConnection, spec: NearestSpec, target: str, device: str,
            node: CompiledNode) -> SearchStats:
    stats = SearchStats(spec.query, spec.items, spec.k, spec.metric, spec.method)
    started = time.perf_counter()
    stem = target[:-1]  # work tables next to the target: "<schema>"."<name>_items"
    items_table = f'{stem}_items"'
    parts_table = f'{stem}_parts"'
    try:
        return _compute(cursor, spec, target, device, node, stats, items_table, parts_table)
    except duckdb.Error as exc:
        raise ExecutionError(
            f"{node.name!r}: predsql.nearest() over {spec.query} and {spec.items} failed: "
            f"{str(exc).splitlines()[0]}", path=node.node.rel_path,
            hint="check the column names and that both vector columns have the same length",
        ) from exc
    finally:
        stats.seconds = time.perf_counter() - started
        _drop(cursor, items_table)
        _drop(cursor, parts_table)


def _scalar(cursor: duckdb.DuckDBPyConnection, sql: str) -> Any:
    rows = cursor.execute(sql).fetchall()
    return rows[0][0] if rows else None


def _key_type(cursor: duckdb.DuckDBPyConnection, relation: str, column: str) -> str:
    return cursor.execute(f"DESCRIBE SELECT {q(column)} FROM {relation} AS __r").fetchall()[0][1]


def _check_unique(cursor: duckdb.DuckDBPyConnection, relation: str, key: str, where: str,
                  node: CompiledNode) -> None:
    duplicates = _scalar(cursor, f"SELECT count(*) - count(DISTINCT {q(key)}) FROM {relation} "
                                 f"AS __r WHERE {where}")
    if duplicates:
        raise ExecutionError(
            f"{node.name!r}: predsql.nearest() needs unique keys, but {q(key)} repeats "
            f"({duplicates} duplicate rows) in {relation}", path=node.node.rel_path,
            hint="pass a key column that identifies each row (key=, query_key=, item_key=)")


def _compute(cursor: duckdb.DuckDBPyConnection, spec: NearestSpec, target: str, device: str,
             node: CompiledNode, stats: SearchStats, items_table: str,
             parts_table: str) -> SearchStats:
    cursor.execute(
        f"CREATE TABLE {target} (query_key {_key_type(cursor, spec.query, spec.query_key)}, "
        f"item_key {_key_type(cursor, spec.items, spec.item_key)}, rank BIGINT, score FLOAT)")
    dim = _scalar(cursor, f"SELECT len({q(spec.item_column)}::FLOAT[]) FROM {spec.items} AS __i "
                          f"WHERE {q(spec.item_column)} IS NOT NULL LIMIT 1")
    if dim is None:
        return stats  # no items: no neighbours
    sides = Sides(spec, int(dim), items_table)
    usable_items = sides.usable("__i", spec.item_column, spec.item_partition)
    _check_unique(cursor, spec.items, spec.item_key, usable_items.replace("__i.", "__r."), node)
    part = f"__i.{q(spec.item_partition)}" if spec.item_partition else "NULL"
    order = f"{part}, __i.{q(spec.item_key)}" if spec.item_partition else f"__i.{q(spec.item_key)}"
    cursor.execute(
        f"CREATE TABLE {items_table} AS SELECT row_number() OVER (ORDER BY {order}) - 1 AS pos, "
        f"__i.{q(spec.item_key)} AS key, {part} AS part FROM {spec.items} AS __i "
        f"WHERE {usable_items}")
    loaded = cursor.sql(
        f"SELECT __i.{q(spec.item_key)} AS key, {sides.vector('__i', spec.item_column)} AS vec "
        f"FROM {spec.items} AS __i WHERE {usable_items} ORDER BY {order}").to_arrow_table()
    item_keys = loaded.column("key").combine_chunks()
    items = vectors(loaded.column("vec"), int(dim), spec.items)
    del loaded
    stats.item_rows = len(items)
    if not len(items):
        return stats
    cursor.execute(f"CREATE TABLE {parts_table} AS SELECT part, min(pos) AS lo, max(pos) + 1 AS hi "
                   f"FROM {items_table} GROUP BY part")
    search = make_search(spec, items, device)
    stats.provider = search.provider
    try:
        _stream(cursor, spec, sides, search, item_keys, target, parts_table, node, stats)
    finally:
        search.close()
    return stats


def make_search(spec: NearestSpec, items: np.ndarray, device: str) -> Any:
    if spec.method == "hnsw":
        from predsql.vectors.approx import HnswSearch

        return HnswSearch(items, spec.metric, dict(spec.options), workers=available_cores())
    search = ExactSearch(items, spec.metric, device, workers=available_cores())
    if search.device == "cuda":
        search.close()
        search = ExactSearch(items, spec.metric, device, workers=1, query_block=8192,
                             item_block=262144)
    return search


def vectors(column: pa.ChunkedArray | pa.Array, dim: int, relation: str) -> np.ndarray:
    """A FLOAT[dim] column as a C-contiguous (n, dim) float32 matrix, without per-row Python."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks else pa.array([], pa.list_(pa.float32(), dim))
    values = column.flatten()
    if values.null_count:
        raise ExecutionError(f"predsql.nearest(): vectors in {relation} contain NULL elements",
                             hint="fill or filter them (e.g. WHERE NOT list_contains(v, NULL))")
    return np.ascontiguousarray(values.to_numpy(zero_copy_only=False), dtype=np.float32).reshape(-1, dim)


def _exclusion_sql(spec: NearestSpec, sides: Sides, usable_queries: str) -> str | None:
    parts = []
    if spec.exclude_self:
        same_part = (f" AND __it.part = __q.{q(spec.query_partition)}"
                     if spec.query_partition else "")
        parts.append(f"SELECT __q.{q(spec.query_key)} AS qk, __it.pos FROM {spec.query} AS __q "
                     f"JOIN {sides.items_table} AS __it ON __it.key = __q.{q(spec.query_key)}"
                     f"{same_part} WHERE {usable_queries}")
    if spec.exclude is not None and spec.exclude_keys is not None:
        qk, ik = spec.exclude_keys
        parts.append(f"SELECT __x.{q(qk)} AS qk, __it.pos FROM {spec.exclude} AS __x "
                     f"JOIN {sides.items_table} AS __it ON __it.key = __x.{q(ik)}")
    if not parts:
        return None
    return (f"SELECT qk, list(DISTINCT pos ORDER BY pos) AS positions FROM ("
            f"{' UNION ALL '.join(parts)}) GROUP BY qk")


def _stream_sql(spec: NearestSpec, sides: Sides, parts_table: str, item_rows: int) -> str:
    usable = sides.usable("__q", spec.query_column, spec.query_partition)
    columns = [f"__q.{q(spec.query_key)} AS __key",
               f"{sides.vector('__q', spec.query_column)} AS __vec"]
    joins = []
    if spec.query_partition:
        joins.append(f"JOIN {parts_table} AS __p ON __p.part = __q.{q(spec.query_partition)}")
        columns += ["__p.lo AS __lo", "__p.hi AS __hi"]
        order = f"__p.lo, __q.{q(spec.query_key)}"
    else:
        columns += ["0::BIGINT AS __lo", f"{item_rows}::BIGINT AS __hi"]
        order = f"__q.{q(spec.query_key)}"
    exclusions = _exclusion_sql(spec, sides, usable)
    if exclusions:
        joins.append(f"LEFT JOIN ({exclusions}) AS __x ON __x.qk = __q.{q(spec.query_key)}")
        columns.append("__x.positions AS __excl")
    return (f"SELECT {', '.join(columns)} FROM {spec.query} AS __q {' '.join(joins)} "
            f"WHERE {usable} ORDER BY {order}")


def _stream(cursor: duckdb.DuckDBPyConnection, spec: NearestSpec, sides: Sides, search: Any,
            item_keys: pa.Array, target: str, parts_table: str, node: CompiledNode,
            stats: SearchStats) -> None:
    usable = sides.usable("__r", spec.query_column, spec.query_partition)
    _check_unique(cursor, spec.query, spec.query_key, usable, node)
    read = cursor.cursor()
    try:
        source = read.sql(_stream_sql(spec, sides, parts_table, len(item_keys))).to_arrow_reader(
            READ_ROWS)
        schema = pa.schema([pa.field("query_key", source.schema.field("__key").type),
                            pa.field("item_key", item_keys.type), pa.field("rank", pa.int64()),
                            pa.field("score", pa.float32())])
        batches = (_search_batch(batch, spec, sides.dim, search, item_keys, stats)
                   for batch in source)
        name = f"__predsql_nearest_{uuid.uuid4().hex[:8]}"
        cursor.register(name, pa.RecordBatchReader.from_batches(schema, batches))
        try:
            cursor.execute(f"INSERT INTO {target} SELECT * FROM {name}")
        finally:
            cursor.unregister(name)
    finally:
        read.close()
    stats.result_rows = int(_scalar(cursor, f"SELECT count(*) FROM {target}"))
    if hasattr(search, "report"):
        stats.extra.update(search.report())


def _exclusions(batch: pa.RecordBatch) -> Exclusions | None:
    if "__excl" not in batch.schema.names:
        return None
    column = batch.column("__excl")
    lengths = pc.fill_null(pc.list_value_length(column), 0).to_numpy(zero_copy_only=False)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    positions = pc.list_flatten(column).to_numpy(zero_copy_only=False).astype(np.int64)
    return Exclusions(offsets, positions)


def _search_batch(batch: pa.RecordBatch, spec: NearestSpec, dim: int, search: Any,
                  item_keys: pa.Array, stats: SearchStats) -> pa.RecordBatch:
    n = batch.num_rows
    queries = search.prepare(vectors(batch.column("__vec"), dim, spec.query))
    lo = batch.column("__lo").to_numpy(zero_copy_only=False)
    hi = batch.column("__hi").to_numpy(zero_copy_only=False)
    exclusions = _exclusions(batch)
    cuts = [0, *(np.flatnonzero(np.diff(lo) != 0) + 1).tolist(), n]
    scores = np.empty((n, spec.k), dtype=np.float32)
    index = np.empty((n, spec.k), dtype=np.int64)
    for start, stop in zip(cuts[:-1], cuts[1:]):  # one call per partition in this batch
        group = exclusions.rows(start, stop) if exclusions is not None else None
        s, i = search.search(queries[start:stop], spec.k, int(lo[start]), int(hi[start]), group)
        if spec.metric == "l2":
            s, i = _exact_l2(search, queries[start:stop], i)
        scores[start:stop], index[start:stop] = s, i
        stats.pairs_scored += (stop - start) * int(hi[start] - lo[start])
    stats.query_rows += n
    found = index >= 0
    rows = np.repeat(np.arange(n), spec.k).reshape(n, spec.k)[found]
    ranks = np.tile(np.arange(1, spec.k + 1, dtype=np.int64), n).reshape(n, spec.k)[found]
    return pa.RecordBatch.from_arrays(
        [batch.column("__key").take(pa.array(rows)), item_keys.take(pa.array(index[found])),
         pa.array(ranks), pa.array(scores[found], type=pa.float32())],
        names=["query_key", "item_key", "rank", "score"])


def _exact_l2(search: Any, queries: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """L2 distances recomputed directly for the found items, re-sorted (distance, position)."""
    distances = search.distances(queries, index)
    key = np.where(index >= 0, index, np.iinfo(np.int64).max)
    order = np.lexsort((key, distances), axis=-1)
    index = np.take_along_axis(index, order, axis=1)
    distances = np.take_along_axis(distances, order, axis=1)
    index[~np.isfinite(distances)] = NO_ITEM
    return distances, index



