"""Which executor runs each ML function, and the Ray settings, from three places.

    profiles.yml target   executor: local | ray | {type: ray, address: ..., actors: ...}
    functions/*.yml       executor: local | ray | {type: ray, actors: ..., ...}  (one function)
    command line          --executor local|ray  (every function)

The command line wins over a function's `executor:`, which wins over the
target's. Ray settings (actors, CPUs/GPUs per actor, batch size, in-flight
batches) come from the target and may be overridden per function, except the
address: one run talks to one cluster.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, replace
from typing import Any

from predsql.errors import ProjectError, RegistryError

EXECUTORS = ("local", "ray")
RAY_KEYS = {"type", "address", "actors", "num_cpus_per_actor", "num_gpus_per_actor",
            "batch_size", "max_in_flight", "max_retries"}
FUNCTION_KEYS = RAY_KEYS - {"address"}
DEFAULT_BATCH = 65536
DEFAULT_RETRIES = 3


@dataclass(frozen=True)
class RaySettings:
    """How a function's batches run on Ray. `actors_max` None: as many as fit the cluster."""

    address: str = "auto"
    actors_min: int = 1
    actors_max: int | None = None
    num_cpus_per_actor: float = 1.0
    num_gpus_per_actor: float = 0.0
    batch_size: int = DEFAULT_BATCH
    max_in_flight: int | None = None  # default: 2 per actor
    max_retries: int = DEFAULT_RETRIES

    def in_flight(self, actors: int) -> int:
        return self.max_in_flight or max(2, 2 * actors)


@dataclass(frozen=True)
class ExecutorChoice:
    kind: str  # "local" | "ray"
    ray: RaySettings


@dataclass(frozen=True)
class ExecutorConfig:
    """The target's executor and settings, plus the command line's override."""

    default: str = "local"
    ray: RaySettings = RaySettings()
    override: str | None = None  # --executor

    def for_function(self, raw: Any, yml_path: str, name: str) -> ExecutorChoice:
        """The executor of one function, given its `executor:` entry (or None)."""
        kind, settings = self.default, self.ray
        if raw is not None:
            fail = _failer(RegistryError, yml_path, f"function {name!r}: ")
            kind, values = _split(raw, fail, FUNCTION_KEYS)
            kind = kind or "ray"
            settings = _settings(values, fail, settings)
        if self.override is not None:
            kind = self.override
        return ExecutorChoice(kind, settings)


def _failer(kind: type, path: str | None, prefix: str) -> Any:
    def fail(message: str, hint: str | None = None) -> Exception:
        return kind(f"{prefix}{message}", path=path, hint=hint)

    return fail


def _split(raw: Any, fail: Any, keys: set[str]) -> tuple[str | None, dict[str, Any]]:
    if isinstance(raw, str):
        raw = {"type": raw}
    if not isinstance(raw, dict):
        raise fail("`executor:` must be `local`, `ray`, or a mapping such as "
                   "{type: ray, actors: 2}")
    unknown = sorted(set(raw) - keys)
    if unknown:
        close = difflib.get_close_matches(unknown[0], sorted(keys), n=1)
        raise fail(f"unknown executor key `{unknown[0]}`",
                   f"did you mean `{close[0]}`?" if close else
                   f"the keys are: {', '.join(sorted(keys))}")
    kind = raw.get("type")
    if kind is not None and kind not in EXECUTORS:
        raise fail(f"executor type {kind!r} is not one of {', '.join(EXECUTORS)}")
    return kind, {k: v for k, v in raw.items() if k != "type"}


def _positive(value: Any, key: str, fail: Any, number: type = int, zero: bool = False) -> Any:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if number is int:
        ok = ok and float(value).is_integer()
    if not ok or value < 0 or (value == 0 and not zero):
        more = "zero or more" if zero else "positive"
        raise fail(f"executor `{key}` must be a {more} {'integer' if number is int else 'number'}, "
                   f"not {value!r}")
    return number(value)


def _actors(value: Any, fail: Any) -> tuple[int, int | None]:
    if isinstance(value, dict):
        unknown = sorted(set(value) - {"min", "max"})
        if unknown:
            raise fail(f"`actors:` takes `min` and `max`, not `{unknown[0]}`")
        low = _positive(value.get("min", 1), "actors.min", fail)
        high = value.get("max")
        high = None if high is None else _positive(high, "actors.max", fail)
        if high is not None and high < low:
            raise fail(f"`actors:` max ({high}) is below min ({low})")
        return low, high
    count = _positive(value, "actors", fail)
    return count, count


def _address(value: Any, fail: Any) -> str:
    if not isinstance(value, str) or not value:
        raise fail("executor `address` must be `auto`, `local`, ray://HOST:10001 or HOST:PORT")
    return value


def _settings(values: dict[str, Any], fail: Any, base: RaySettings) -> RaySettings:
    changes: dict[str, Any] = {}
    if "address" in values:
        changes["address"] = _address(values["address"], fail)
    if "actors" in values:
        changes["actors_min"], changes["actors_max"] = _actors(values["actors"], fail)
    for key in ("num_cpus_per_actor", "num_gpus_per_actor"):
        if key in values:
            changes[key] = _positive(values[key], key, fail, float, zero=True)
    for key in ("batch_size", "max_in_flight"):
        if key in values:
            changes[key] = _positive(values[key], key, fail)
    if "max_retries" in values:
        changes["max_retries"] = _positive(values["max_retries"], "max_retries", fail, zero=True)
    settings = replace(base, **changes)
    if settings.num_cpus_per_actor == 0 and settings.num_gpus_per_actor == 0:
        raise fail("an actor needs num_cpus_per_actor or num_gpus_per_actor above zero")
    return settings


def executor_config(raw: Any, profile_file: str | None, override: str | None) -> ExecutorConfig:
    """The target's `executor:` entry (None when absent) and the --executor flag."""
    if override is not None and override not in EXECUTORS:
        raise ProjectError(f"--executor {override!r} is not one of {', '.join(EXECUTORS)}")
    if raw is None:
        return ExecutorConfig(override=override)
    fail = _failer(ProjectError, profile_file, "target `executor:`: ")
    kind, values = _split(raw, fail, RAY_KEYS)
    return ExecutorConfig(kind or "ray", _settings(values, fail, RaySettings()), override)


def check_function_executor(raw: Any, fail: Any) -> None:
    """Check a function's `executor:` entry when the registry loads it (`fail` names the
    function, its file and line)."""
    kind, values = _split(raw, fail, FUNCTION_KEYS)
    if values:
        _settings(values, fail, RaySettings())
