"""The SQL of the incremental strategies, as dbt-duckdb writes it.

- `append`: insert the new rows.
- `delete+insert`: delete the target rows whose `unique_key` is among the new rows
  (and that pass `incremental_predicates`), then insert the new rows. Without a key
  it appends, as in dbt-duckdb.
- `merge`: DuckDB `MERGE INTO target AS DBT_INTERNAL_DEST USING new AS
  DBT_INTERNAL_SOURCE ON keys AND predicates`: matched rows are updated (every
  column, `merge_update_columns`, or all but `merge_exclude_columns`; only where
  `merge_update_condition` holds), the rest inserted (where `merge_insert_condition`
  holds). Without a key nothing matches, so it appends.

Rows with a NULL key match nothing and are inserted, as in dbt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from predsql.compiler import CompiledNode
from predsql.database import quote
from predsql.errors import ProjectError

STRATEGIES = ("append", "delete+insert", "merge")
SIMPLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DEST, SOURCE = "DBT_INTERNAL_DEST", "DBT_INTERNAL_SOURCE"


@dataclass(frozen=True)
class StrategyConfig:
    strategy: str
    keys: tuple[str, ...]
    key_is_list: bool
    predicates: tuple[str, ...]
    update_columns: tuple[str, ...] | None
    exclude_columns: tuple[str, ...]
    update_condition: str | None
    insert_condition: str | None


def unique_key(node: CompiledNode) -> list[str]:
    """The key columns; None, '' and [] mean no key (dbt treats them alike)."""
    key = node.config.get("unique_key")
    if key is None or key == "":
        return []
    return [key] if isinstance(key, str) else [str(k) for k in key if str(k)]


def _strings(node: CompiledNode, key: str) -> tuple[str, ...]:
    value = node.config.get(key)
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, (list, tuple)):
        raise ProjectError(f"model {node.name!r}: `{key}` must be a list of strings",
                           path=node.node.rel_path)
    return tuple(str(v) for v in value)


def strategy_config(node: CompiledNode) -> StrategyConfig:
    keys = unique_key(node)
    strategy = str(node.config.get("incremental_strategy") or
                   ("delete+insert" if keys else "append"))
    if strategy == "default":
        strategy = "delete+insert" if keys else "append"
    if strategy not in STRATEGIES:
        raise ProjectError(f"model {node.name!r}: unknown incremental_strategy {strategy!r}",
                           path=node.node.rel_path, hint=f"use one of: {', '.join(STRATEGIES)}")
    update = _strings(node, "merge_update_columns")
    exclude = _strings(node, "merge_exclude_columns")
    if update and exclude:
        raise ProjectError(f"model {node.name!r} cannot specify merge_update_columns and "
                           "merge_exclude_columns", path=node.node.rel_path,
                           hint="keep one of the two")
    predicates = _strings(node, "incremental_predicates") or _strings(node, "predicates")
    return StrategyConfig(
        strategy, tuple(keys), isinstance(node.config.get("unique_key"), (list, tuple)),
        predicates, update or None, exclude, _condition(node, "merge_update_condition"),
        _condition(node, "merge_insert_condition"))


def _condition(node: CompiledNode, key: str) -> str | None:
    value = node.config.get(key)
    return None if value in (None, "") else str(value)


def _column(name: str, columns: list[str]) -> str:
    """A key or column as SQL: quoted when it names a column, else as written (dbt
    writes keys raw, so an expression works)."""
    return quote(name) if name in columns or SIMPLE_NAME.match(name) else name


def strategy_sql(config: StrategyConfig, target: str, temp: str, columns: list[str]) -> list[str]:
    """The statements that apply `temp` (the new rows) to `target`."""
    cols = ", ".join(quote(c) for c in columns)
    insert = f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {temp}"
    if config.strategy == "append" or (config.strategy == "delete+insert" and not config.keys):
        return [insert]
    if config.strategy == "delete+insert":
        return [_delete(config, target, temp, columns), insert]
    return [_merge(config, target, temp, columns)]


def _and_predicates(config: StrategyConfig) -> str:
    return "".join(f" AND ({p})" for p in config.predicates)


def _delete(config: StrategyConfig, target: str, temp: str, columns: list[str]) -> str:
    if not config.key_is_list:
        key = _column(config.keys[0], columns)
        return (f"DELETE FROM {target} WHERE ({key}) IN (SELECT ({key}) FROM {temp})"
                f"{_and_predicates(config)}")
    match = " AND ".join(f"{temp}.{_column(k, columns)} = DBT_INCREMENTAL_TARGET."
                         f"{_column(k, columns)}" for k in config.keys)
    return (f"DELETE FROM {target} AS DBT_INCREMENTAL_TARGET USING {temp} "
            f"WHERE ({match}){_and_predicates(config)}")


def update_columns(config: StrategyConfig, columns: list[str]) -> list[str]:
    if config.update_columns is not None:
        return list(config.update_columns)
    excluded = {c.lower() for c in config.exclude_columns}
    return [c for c in columns if c.lower() not in excluded]


def _merge(config: StrategyConfig, target: str, temp: str, columns: list[str]) -> str:
    joins = [f"{SOURCE}.{_column(k, columns)} = {DEST}.{_column(k, columns)}"
             for k in config.keys] or ["FALSE"]
    on = " AND ".join(f"({j})" for j in [*joins, *config.predicates])
    sets = ", ".join(f"{_column(c, columns)} = {SOURCE}.{_column(c, columns)}"
                     for c in update_columns(config, columns))
    matched = ""
    if sets:
        when = f" AND {config.update_condition}" if config.update_condition else ""
        matched = f" WHEN MATCHED{when} THEN UPDATE SET {sets}"
    when = f" AND {config.insert_condition}" if config.insert_condition else ""
    values = ", ".join(f"{SOURCE}.{quote(c)}" for c in columns)
    cols = ", ".join(quote(c) for c in columns)
    return (f"MERGE INTO {target} AS {DEST} USING {temp} AS {SOURCE} ON {on}{matched}"
            f" WHEN NOT MATCHED{when} THEN INSERT ({cols}) VALUES ({values})")


def describe(config: StrategyConfig) -> dict[str, Any]:
    return {"incremental_strategy": config.strategy}
