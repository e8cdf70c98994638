"""Sources read from files, as dbt-duckdb renders them: a source table whose `meta` or
`config` has `external_location` renders as that location, formatted with the
table's names and meta, instead of `"schema"."identifier"`.

    sources:
      - name: raw
        meta: {external_location: "data/{name}.parquet"}     # -> 'data/orders.parquet'
        tables: [{name: orders}]

A location with a function call (`read_csv('x.csv', delim=';')`) or already quoted is
used as written; any other is quoted, so DuckDB reads the file by its path (relative to
the working directory). `formatter` picks the formatting: `newstyle` (`{name}`, the
default), `oldstyle` (`%(name)s`) or `template` (`${name}`).
"""

from __future__ import annotations

from string import Template
from typing import Any

from predsql.errors import ProjectError

FORMATTERS = ("newstyle", "oldstyle", "template")


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def source_options(project_config: dict[str, Any], source: dict[str, Any],
                   table: dict[str, Any]) -> dict[str, Any]:
    """dbt-duckdb's view of a source table: its meta (project, source, table, their
    `config.meta`, in that order) updated with the other keys of its config."""
    source_config, table_config = _mapping(source.get("config")), _mapping(table.get("config"))
    meta = {**_mapping(project_config.get("meta")), **_mapping(source.get("meta")),
            **_mapping(source_config.get("meta")), **_mapping(table.get("meta")),
            **_mapping(table_config.get("meta"))}
    extra = {k: v for k, v in {**project_config, **source_config, **table_config}.items()
             if k not in ("meta", "tags", "enabled")}
    return {**meta, **extra}


def external_location(options: dict[str, Any], names: dict[str, Any],
                      path: str) -> str | None:
    """The SQL a source renders as, or None when it is a table of the database."""
    template = options.get("external_location")
    if template is None:
        return None
    values = {**names, **options}
    formatter = options.get("formatter", "newstyle")
    try:
        if formatter == "newstyle":
            location = str(template).format_map(values)
        elif formatter == "oldstyle":
            location = str(template) % values
        elif formatter == "template":
            location = Template(str(template)).substitute(values)
        else:
            raise ProjectError(
                f"source {names['name']!r}: formatter {formatter!r} is not one of "
                f"{', '.join(FORMATTERS)}", path=path,
                hint="dbt-duckdb formats external_location with newstyle ({name}), "
                     "oldstyle (%(name)s) or template (${name})")
    except (KeyError, ValueError, TypeError) as exc:
        raise ProjectError(
            f"source {names['name']!r}: cannot format external_location {template!r} "
            f"({type(exc).__name__}: {exc})", path=path,
            hint="name, identifier, schema, database, tags and the meta keys can be used",
        ) from exc
    if "(" not in location and not location.startswith("'"):
        location = "'" + location + "'"
    return location
