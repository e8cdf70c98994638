"""The names every dbt template may use besides macros: `modules`, `exceptions`, `log`,
`tojson`, `zip`, `flags`, ... (dbt's base context), built for one run."""

from __future__ import annotations

import datetime
import hashlib
import itertools
import json
import re
import types
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import yaml

from predsql.errors import RenderError
from predsql.jinja import MacroReturn

DBT_VERSION = "1.10.0"


class SafeModule:
    """A module seen through an allow-list: no path to other modules or to files."""

    def __init__(self, name: str, members: dict[str, Any]) -> None:
        self._name = name
        self._members = members

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in self._members:
            raise AttributeError(f"modules.{self._name} has no member {name!r}")
        return self._members[name]

    def __repr__(self) -> str:
        return f"<module {self._name}>"


def _public(module: types.ModuleType, names: Iterable[str] | None = None) -> dict[str, Any]:
    chosen = names if names is not None else [n for n in dir(module) if not n.startswith("_")]
    return {n: getattr(module, n) for n in chosen
            if hasattr(module, n) and not isinstance(getattr(module, n), types.ModuleType)}


def make_modules() -> SafeModule:
    """`modules`: datetime, re, itertools and pytz (when installed), as dbt offers."""
    members: dict[str, Any] = {
        "datetime": SafeModule("datetime", _public(datetime, (
            "date", "datetime", "time", "timedelta", "timezone", "tzinfo", "MINYEAR",
            "MAXYEAR", "UTC"))),
        "re": SafeModule("re", _public(re, (
            "compile", "search", "match", "fullmatch", "split", "findall", "finditer", "sub",
            "subn", "escape", "purge", "error", "Pattern", "Match", "A", "ASCII", "I",
            "IGNORECASE", "L", "LOCALE", "M", "MULTILINE", "S", "DOTALL", "X", "VERBOSE"))),
        "itertools": SafeModule("itertools", _public(itertools)),
    }
    try:
        import pytz
    except ImportError:
        pass
    else:
        members["pytz"] = SafeModule("pytz", _public(pytz, (
            "timezone", "utc", "UTC", "FixedOffset", "all_timezones", "all_timezones_set",
            "common_timezones", "common_timezones_set", "country_timezones", "country_names",
            "UnknownTimeZoneError", "AmbiguousTimeError", "NonExistentTimeError")))
    return SafeModule("modules", members)


class CompilerWarning(RenderError):
    """Raised by exceptions.warn when warnings are errors."""


class Exceptions:
    """`exceptions`: what macros raise to stop compilation, with dbt's names."""

    def __init__(self, warn: Callable[[str], None]) -> None:
        self._warn = warn

    def raise_compiler_error(self, msg: Any, node: Any = None) -> None:
        raise RenderError(f"Compilation Error: {msg}")

    def raise_not_implemented(self, msg: Any) -> None:
        raise RenderError(f"not implemented: {msg}")

    def raise_database_error(self, msg: Any) -> None:
        raise RenderError(f"Database Error: {msg}")

    def raise_fail_fast_error(self, msg: Any, node: Any = None) -> None:
        raise RenderError(f"Failing early: {msg}")

    def raise_contract_error(self, yaml_columns: Any, sql_columns: Any) -> None:
        raise RenderError(f"contract error: expected {yaml_columns}, got {sql_columns}")

    def column_type_missing(self, column_names: Any) -> None:
        raise RenderError(f"column types missing for {column_names}")

    def missing_config(self, model: Any, name: Any) -> None:
        raise RenderError(f"model is missing the required config {name!r}")

    def relation_wrong_type(self, relation: Any, expected_type: Any, model: Any = None) -> None:
        raise RenderError(f"{relation} is not a {expected_type}")

    def warn(self, msg: Any, node: Any = None) -> str:
        self._warn(str(msg))
        return ""


class Flags:
    """`flags`: the invocation's flags by dbt's upper-case names (unknown ones are None)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._values.get(name)

    def __getitem__(self, name: str) -> Any:
        return self._values.get(name)


def _return(value: Any = None) -> None:
    raise MacroReturn(value)


def _tojson(value: Any, sort_keys: bool = False) -> str:
    return json.dumps(value, sort_keys=sort_keys, default=str)


def _fromjson(string: Any, default: Any = None) -> Any:
    try:
        return json.loads(string)
    except (TypeError, ValueError):
        return default


def _toyaml(value: Any, default: Any = None, sort_keys: bool = False) -> Any:
    try:
        return yaml.safe_dump(value, sort_keys=sort_keys)
    except yaml.YAMLError:
        return default


def _fromyaml(value: Any, default: Any = None) -> Any:
    try:
        return yaml.safe_load(value)
    except (yaml.YAMLError, AttributeError):
        return default


def _set(value: Any, default: Any = None) -> Any:
    try:
        return set(value)
    except TypeError:
        return default


def _set_strict(value: Any) -> set[Any]:
    return set(value)


def _zip(*args: Any, default: Any = None) -> Any:
    try:
        return zip(*args)
    except TypeError:
        return default


def _zip_strict(*args: Any) -> Any:
    return zip(*args)


def _local_md5(value: Any) -> str:
    return hashlib.md5(str(value).encode("utf-8")).hexdigest()


def _diff_of_two_dicts(dict_a: dict[str, Any], dict_b: dict[str, Any]) -> dict[str, Any]:
    lowered = {k.lower(): v for k, v in dict_b.items()}
    return {k: v for k, v in dict_a.items()
            if k.lower() not in lowered or {x.lower() for x in v} - {x.lower() for x in lowered[k.lower()]}}


def _try_or_compiler_error(message_if_exception: str, func: Callable[..., Any], *args: Any,
                           **kwargs: Any) -> Any:
    try:
        return func(*args, **kwargs)
    except Exception as exc:
        raise RenderError(f"Compilation Error: {message_if_exception}") from exc


def base_context(*, log: Callable[[str, bool], None], flags: dict[str, Any],
                 run_started_at: datetime.datetime, invocation_id: str | None = None,
                 ) -> dict[str, Any]:
    """The run-wide names of dbt's context (no node, no macros)."""

    def log_fn(msg: Any, info: bool = False) -> str:
        log(str(msg), bool(info))
        return ""

    def print_fn(msg: Any) -> str:
        log(str(msg), True)
        return ""

    return {
        "return": _return,
        "modules": make_modules(),
        "exceptions": Exceptions(lambda msg: log(f"Warning: {msg}", True)),
        "log": log_fn,
        "print": print_fn,
        "tojson": _tojson,
        "fromjson": _fromjson,
        "toyaml": _toyaml,
        "fromyaml": _fromyaml,
        "set": _set,
        "set_strict": _set_strict,
        "zip": _zip,
        "zip_strict": _zip_strict,
        "local_md5": _local_md5,
        "diff_of_two_dicts": _diff_of_two_dicts,
        "try_or_compiler_error": _try_or_compiler_error,
        "flags": Flags(flags),
        "invocation_id": invocation_id or str(uuid.uuid4()),
        "run_started_at": run_started_at,
        "dbt_version": DBT_VERSION,
        "thread_id": "Thread-1",
    }
