"""The files of dbt-duckdb's `external` materialization: where a model is written, the
`COPY` options, and the read its view makes, as dbt-duckdb 1.10 derives them.

    {{ config(materialized='external', format='csv', delimiter='|',
              location='out/orders.csv', options={'partition_by': 'region'}) }}

`location` defaults to `<external_root>/<alias>.<format>` (no extension when the
options partition the files); the format is `format`, else the location's extension,
else parquet. `options` become `COPY ... TO` options; `parquet_read_options`,
`csv_read_options` and `json_read_options` the arguments of the view's read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from predsql.errors import CompileError

FORMATS = ("csv", "parquet", "json")
READ_DEFAULTS = {"parquet": {"union_by_name": False}, "json": {"auto_detect": True},
                 "csv": {"auto_detect": True}}
QUOTED_OPTIONS = {"delimiter", "quote", "escape", "null"}


@dataclass(frozen=True)
class ExternalPlan:
    location: str
    format: str  # how the view reads the files
    write_options: str  # inside COPY ... TO '<location>' (...)
    read_location: str  # a glob over the files when they are partitioned

    def copy_sql(self, relation: str) -> str:
        return f"COPY {relation} TO {_text(self.location)} ({self.write_options})"


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _value(value: Any) -> str:
    """A config value as dbt's Jinja writes it into SQL (True, 1, text)."""
    return str(value)


def _fail(node_name: str, path: str, message: str, hint: str) -> CompileError:
    return CompileError(f"external model {node_name!r}: {message}", path=path, hint=hint)


def plan(config: dict[str, Any], alias: str, external_root: str, node_name: str,
         path: str) -> ExternalPlan:
    options = config.get("options") or {}
    if not isinstance(options, dict):
        raise _fail(node_name, path, "the options argument must be a dictionary",
                    "e.g. options: {partition_by: region, codec: zstd}")
    options = {str(k): _value(v) for k, v in options.items()}
    if config.get("format"):
        options["format"] = _value(config["format"])
    if config.get("delimiter"):
        options["delimiter"] = _value(config["delimiter"])
    location = str(config.get("location") or _default_location(config, options, alias,
                                                                external_root))
    return ExternalPlan(location, _read_format(config, location, node_name, path),
                        _write_options(location, options), _read_location(location, options))


def _default_location(config: dict[str, Any], options: dict[str, str], alias: str,
                      external_root: str) -> str:
    if options.get("partition_by") is None:
        return f"{external_root}/{alias}.{config.get('format', 'parquet')}"
    return f"{external_root}/{alias}"


def _read_format(config: dict[str, Any], location: str, node_name: str, path: str) -> str:
    fmt = config.get("format")
    if fmt:
        if fmt not in FORMATS:
            raise _fail(node_name, path, f"invalid format: {fmt}",
                        f"allowed formats are: {', '.join(FORMATS)}")
        return str(fmt)
    fmt = location.split(".")[-1].lower() if "." in location else "parquet"
    return fmt if fmt in FORMATS else "parquet"


def _write_options(location: str, options: dict[str, str]) -> str:
    if "format" not in options:
        extension = os.path.splitext(location)[1].lower()
        if extension:
            options["format"] = extension[1:]
        else:
            options["format"] = "csv" if "delimiter" in options else "parquet"
    if options["format"] == "csv" and "header" not in options:
        options["header"] = "1"
    partition_by = options.get("partition_by")
    if partition_by and "," in partition_by and not partition_by.startswith("("):
        options["partition_by"] = f"({partition_by})"
    written = []
    for key, value in options.items():
        if key.lower() in QUOTED_OPTIONS and not value.startswith("'"):
            written.append(f"{key} {_text(value)}")
        else:
            written.append(f"{key} {value}")
    return ", ".join(written)


def _read_location(location: str, options: dict[str, str]) -> str:
    if options.get("partition_by") or options.get("per_thread_output"):
        globs = [location, "*"]
        if options.get("partition_by"):
            globs.extend(["*"] * len(options["partition_by"].split(",")))
        return ".".join(["/".join(globs), options.get("format", "parquet")])
    return location


def read_sql(plan_: ExternalPlan, config: dict[str, Any], columns: list[str] | None) -> str:
    """The view's query: the files read back; `columns` are given when the model had no
    rows (dbt-duckdb then writes one row of NULLs, which this filters out)."""
    read_options = config.get(f"{plan_.format}_read_options", READ_DEFAULTS[plan_.format])
    arguments = "".join(
        f", {key}={_text(value) if isinstance(value, str) else value}"
        for key, value in dict(read_options or {}).items())
    sql = f"SELECT * FROM read_{plan_.format}({_text(plan_.read_location)}{arguments})"
    if columns is not None:
        sql += " WHERE 1" + "".join(
            f' AND "{c.replace(chr(34), chr(34) * 2)}" IS NOT NULL' for c in columns)
    return sql
