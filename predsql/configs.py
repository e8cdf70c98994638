"""Node configuration: the project config tree, properties YAML and config().

Precedence, lowest first, as in dbt: project file tree (a deeper folder wins)
-> properties YAML `config:` -> `{{ config(...) }}` in the file. `tags` add up
along the way; `meta` mappings merge.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

SUPPORTED_KEYS = frozenset(
    {
        "materialized", "schema", "alias", "tags", "enabled", "database",
        "unique_key", "incremental_strategy", "on_schema_change", "full_refresh",
        "column_types", "quote_columns", "delimiter", "meta",
        "severity", "store_failures", "warn_if", "error_if", "limit", "where",
        "fail_calc", "ml_metadata", "pre-hook", "post-hook", "pre_hook", "post_hook",
        "incremental_predicates", "predicates", "merge_update_columns",
        "merge_exclude_columns", "merge_update_condition", "merge_insert_condition",
        "strategy", "updated_at", "check_cols", "invalidate_hard_deletes", "hard_deletes",
        "dbt_valid_to_current", "target_schema", "target_database", "snapshot_meta_column_names",
        "contract", "constraints", "sql_header",
        # dbt-duckdb: external models and sources read from files
        "location", "format", "options", "parquet_read_options", "csv_read_options",
        "json_read_options", "external_location", "formatter",
    }
)
# dbt keys predsql accepts and ignores (a --debug note says so).
IGNORED_KEYS = frozenset(
    {
        "docs", "persist_docs", "grants", "access", "group",
        "quoting", "on_configuration_change", "packages", "event_time",
        "batch_size", "lookback", "begin", "concurrent_batches",
        "store_failures_as", "meta_columns", "copy_grants", "file_format",
        "location_root", "plugin", "glue_register", "glue_database", "partition_columns",
    }
)
ADDITIVE_KEYS = ("tags",)
# keys whose value is a mapping, not a sub-folder of the tree
MAPPING_KEYS = ("meta", "column_types", "docs", "options", "parquet_read_options",
                "csv_read_options", "json_read_options", "contract")
# hooks add up along the tree and config() as in dbt; both spellings are one key
HOOK_KEYS = {"pre_hook": "pre-hook", "post_hook": "post-hook", "pre-hook": "pre-hook",
             "post-hook": "post-hook"}


def normalize_key(key: str) -> str:
    key = key[1:] if key.startswith("+") else key
    return HOOK_KEYS.get(key, key)


def config_keys_of_level(level: dict[str, Any]) -> dict[str, Any]:
    """The config entries of one level of the tree (the rest are sub-folders)."""
    result = {}
    for key, value in level.items():
        if not isinstance(key, str):
            continue
        if key.startswith("+"):
            result[key[1:]] = value
        elif key in SUPPORTED_KEYS or key in IGNORED_KEYS:
            if not isinstance(value, dict) or key in MAPPING_KEYS:
                result[key] = value
    return result


def tree_config(tree: dict[str, Any], fqn: Iterable[str]) -> dict[str, Any]:
    """Walk the project's `models:`/`seeds:` tree along a node's fqn."""
    config: dict[str, Any] = {}
    merge_into(config, config_keys_of_level(tree))
    level: Any = tree
    for part in fqn:
        if not isinstance(level, dict):
            break
        level = level.get(part)
        if not isinstance(level, dict):
            break
        merge_into(config, config_keys_of_level(level))
    return config


def merge_into(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """dbt's merge: tags accumulate, meta merges, everything else replaces."""
    for raw_key, value in update.items():
        key = normalize_key(raw_key)
        if key in ADDITIVE_KEYS:
            existing = list(base.get(key) or [])
            for tag in [value] if isinstance(value, str) else list(value or []):
                if tag not in existing:
                    existing.append(tag)
            base[key] = existing
        elif key in ("pre-hook", "post-hook"):
            existing = list(base.get(key) or [])
            existing += list(value) if isinstance(value, (list, tuple)) else [value]
            base[key] = existing
        elif key == "meta" and isinstance(value, dict):
            base[key] = {**(base.get(key) or {}), **value}
        else:
            base[key] = value
    return base


def unknown_keys(config: dict[str, Any]) -> list[tuple[str, str | None]]:
    """Keys predsql does not know, each with the closest known key."""
    known = sorted(SUPPORTED_KEYS | IGNORED_KEYS)
    result = []
    for key in config:
        if key in SUPPORTED_KEYS or key in IGNORED_KEYS:
            continue
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        result.append((key, close[0] if close else None))
    return result


def ignored_keys(config: dict[str, Any]) -> list[str]:
    return [key for key in config if key in IGNORED_KEYS]
