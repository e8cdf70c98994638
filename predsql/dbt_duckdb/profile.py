"""dbt-duckdb's profile keys applied to a new connection: `settings` (SET GLOBAL; the
few DuckDB keeps per connection also on every node's cursor), `extensions` (loaded;
predsql never downloads one, so an extension must be installed already), `attach`
(more databases, as dbt-duckdb attaches them). DuckDB's automatic extension install
is turned off unless the profile's settings turn it on: a run never reaches the
network."""

from __future__ import annotations

from typing import Any

import duckdb

from predsql.errors import ProjectError

NO_DOWNLOADS = "autoinstall_known_extensions"


def _fail(target: Any, message: str, hint: str) -> ProjectError:
    return ProjectError(message, path=target.profile_file, hint=hint)


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _setting_name(key: Any) -> str:
    name = str(key)
    if not name.replace("_", "").replace(".", "").isalnum():
        raise ProjectError(f"invalid DuckDB setting name {name!r}")
    return name


def _set(cursor: duckdb.DuckDBPyConnection, target: Any, key: Any, value: Any,
         scope: str) -> None:
    try:
        cursor.execute(f"SET {scope}{_setting_name(key)} = {_literal(value)}")
    except duckdb.Error as exc:
        raise _fail(target, f"invalid DuckDB setting {key}={value!r}: {exc}",
                    "see DuckDB's configuration options") from exc


def session_only(con: duckdb.DuckDBPyConnection, target: Any) -> dict[str, Any]:
    """The profile's settings DuckDB keeps per connection (`search_path`, ...): every
    node's cursor sets them again, as dbt-duckdb sets its settings on each cursor."""
    if not target.settings:
        return {}
    local = {r[0].lower() for r in con.execute(
        "SELECT name FROM duckdb_settings() WHERE scope = 'LOCAL'").fetchall()}
    return {k: v for k, v in target.settings.items() if str(k).lower() in local}


def apply_settings(con: duckdb.DuckDBPyConnection, target: Any,
                   defaults: dict[str, Any] | None = None) -> None:
    """The profile's `settings` (over predsql's `defaults`) for the database (GLOBAL, so
    every cursor has them) and for this connection where DuckDB keeps a setting per
    connection."""
    local = session_only(con, target)
    for key, value in {**(defaults or {}), **target.settings}.items():
        _set(con, target, key, value, "" if key in local else "GLOBAL ")


def apply_session_settings(cursor: duckdb.DuckDBPyConnection, target: Any,
                           settings: dict[str, Any]) -> None:
    for key, value in settings.items():
        _set(cursor, target, key, value, "")


def extension_name(entry: Any) -> str:
    return str(entry.get("name") if isinstance(entry, dict) else entry)


def load_extensions(con: duckdb.DuckDBPyConnection, target: Any) -> None:
    for entry in target.extensions:
        name = _identifier(extension_name(entry), target)
        try:
            con.execute(f"LOAD {name}")
        except duckdb.Error as exc:
            raise _fail(
                target, f"DuckDB extension {name!r} is not installed: "
                f"{str(exc).splitlines()[0]}",
                f"install it once where there is network (`INSTALL {name};` in DuckDB "
                f"{duckdb.__version__}, e.g. python -c \"import duckdb; duckdb.sql('INSTALL "
                f"{name}')\"); predsql loads installed extensions and never downloads one",
            ) from exc


def _identifier(name: str, target: Any) -> str:
    if not name.replace("_", "").isalnum():
        raise _fail(target, f"invalid extension name {name!r} in `extensions:`",
                    "name an extension, e.g. extensions: [httpfs, spatial]")
    return name


def _option(key: str, value: Any) -> str | None:
    """One ATTACH option as dbt-duckdb writes it: true flags bare, strings quoted."""
    if isinstance(value, bool):
        return key.upper() if value else None
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        quoted = len(text) > 1 and text[0] == text[-1] and text[0] in "'\""
        return f"{key.upper()} {value if quoted else _literal(value)}"
    return f"{key.upper()} {value}"


def attach_sql(entry: dict[str, Any]) -> str:
    """dbt-duckdb's ATTACH statement for one `attach:` entry (a relative path is relative
    to the working directory, as DuckDB reads it)."""
    path = str(entry["path"]).split("?", 1)[0].replace("'", "''")
    sql = f"ATTACH IF NOT EXISTS '{path}'"
    if entry.get("alias"):
        sql += f" AS \"{str(entry['alias']).replace(chr(34), chr(34) * 2)}\""
    extra = dict(entry.get("options") or {})
    options = []
    for key in ("type", "secret"):
        value = entry.get(key) or extra.get(key)
        if value:
            options.append(f"{key.upper()} {value}")
    if entry.get("read_only") or extra.get("read_only"):
        options.append("READ_ONLY")
    for key, value in extra.items():
        if key not in ("type", "secret", "read_only"):
            written = _option(str(key), value)
            if written:
                options.append(written)
    return sql + (f" ({', '.join(options)})" if options else "")


def attach(con: duckdb.DuckDBPyConnection, target: Any) -> None:
    for entry in target.attach:
        if not isinstance(entry, dict) or not entry.get("path"):
            raise _fail(target, f"every `attach:` entry needs a `path:` ({entry!r})",
                        "e.g. attach: [{path: other.duckdb, alias: other}]")
        try:
            con.execute(attach_sql(entry))
        except duckdb.Error as exc:
            raise _fail(target, f"cannot attach {entry['path']!r}: "
                        f"{str(exc).splitlines()[0]}",
                        "check the path (relative paths start at the working directory); "
                        "a `type:` other than duckdb needs its extension installed") from exc


def prepare(con: duckdb.DuckDBPyConnection, target: Any,
            defaults: dict[str, Any] | None = None) -> None:
    """Everything the profile asks of a new connection; closes it on error."""
    try:
        if NO_DOWNLOADS not in target.settings:
            con.execute(f"SET GLOBAL {NO_DOWNLOADS} = false")
        apply_settings(con, target, defaults)
        load_extensions(con, target)
        attach(con, target)
    except BaseException:
        con.close()
        raise
