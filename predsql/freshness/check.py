"""One source's freshness: its criteria (warn_after / error_after / filter), the
`max(loaded_at_field)` query and the status its age gives, as dbt computes them."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import duckdb

from predsql.errors import ProjectError
from predsql.nodes import Source

PERIODS = {"minute": 60, "hour": 3600, "day": 86400}
# an empty table (max() is NULL) is as old as can be: dbt reports 0001-01-01
EMPTY_LOADED_AT = datetime(1, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Criteria:
    warn_after: dict[str, Any] | None
    error_after: dict[str, Any] | None
    filter: str | None
    nulls: tuple[str, ...] = ()  # thresholds set to null in the YAML (dbt writes null)

    def as_dict(self) -> dict[str, Any]:
        """As sources.json has it: an unset threshold is {count: null, period: null},
        one set to null in the YAML is null."""
        def shown(key: str, value: dict[str, Any] | None) -> dict[str, Any] | None:
            if value is None:
                return None if key in self.nulls else {"count": None, "period": None}
            return value

        return {"warn_after": shown("warn_after", self.warn_after),
                "error_after": shown("error_after", self.error_after), "filter": self.filter}


@dataclass(frozen=True)
class Freshness:
    """The outcome for one source table."""

    source: Source
    status: str  # pass | warn | error | runtime error
    max_loaded_at: datetime | None = None
    snapshotted_at: datetime | None = None
    age_seconds: float | None = None
    criteria: Criteria | None = None
    message: str = ""
    hint: str = ""
    started: float = 0.0
    completed: float = 0.0

    @property
    def name(self) -> str:
        return f"{self.source.source_name}.{self.source.name}"


def _threshold(value: Any, where: str, path: str) -> dict[str, Any] | None:
    """`{count, period}`; unset when either is missing (as dbt), an error when wrong."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ProjectError(f"{where}: a freshness threshold must be a mapping, not {value!r}",
                           path=path, hint="e.g. warn_after: {count: 12, period: hour}")
    count, period = value.get("count"), value.get("period")
    if count is None or period is None:
        return None
    if isinstance(count, bool) or not isinstance(count, int) or count < 0 \
            or period not in PERIODS:
        raise ProjectError(f"{where}: freshness thresholds need `count` (a whole number) and "
                           f"`period` ({', '.join(PERIODS)}), not {value!r}", path=path,
                           hint="e.g. warn_after: {count: 12, period: hour}")
    return {"count": count, "period": period}


def criteria_of(source: Source) -> Criteria | None:
    """The freshness of a source table; None when it has none (no threshold set, or
    `freshness: null`), which leaves it out of the check, as in dbt."""
    freshness = source.freshness
    if not freshness:
        return None
    where = f"source {source.source_name}.{source.name}"
    warn = _threshold(freshness.get("warn_after"), where, source.path)
    error = _threshold(freshness.get("error_after"), where, source.path)
    if warn is None and error is None:
        return None
    nulls = tuple(k for k in ("warn_after", "error_after")
                  if k in freshness and freshness[k] is None)
    return Criteria(warn, error, freshness.get("filter"), nulls)


def seconds(threshold: dict[str, Any] | None) -> float | None:
    return None if threshold is None else threshold["count"] * PERIODS[threshold["period"]]


def status_of(age: float, criteria: Criteria) -> str:
    """error past error_after, else warn past warn_after, else pass (strictly past)."""
    error, warn = seconds(criteria.error_after), seconds(criteria.warn_after)
    if error is not None and age > error:
        return "error"
    if warn is not None and age > warn:
        return "warn"
    return "pass"


def freshness_sql(source: Source, criteria: Criteria) -> str:
    where = f"\nwhere {criteria.filter}" if criteria.filter else ""
    return (f"select max({source.loaded_at_field})::timestamptz as max_loaded_at,\n"
            f"       now() as snapshotted_at\nfrom {source.relation}{where}")


def check(con: duckdb.DuckDBPyConnection, source: Source, criteria: Criteria) -> Freshness:
    """Query one source; a source that cannot be queried is a runtime error."""
    started = time.time()
    if not source.loaded_at_field:
        return Freshness(
            source, "runtime error", criteria=criteria, started=started, completed=time.time(),
            message="it has a freshness but no loaded_at_field (DuckDB has no "
                    "metadata-based freshness)",
            hint="add loaded_at_field: <a timestamp column> to the source or the table")
    try:
        cursor = con.cursor()
        try:
            cursor.execute("set TimeZone = 'UTC'")  # a TIMESTAMP without zone is UTC
            loaded, now = cursor.execute(freshness_sql(source, criteria)).fetchall()[0]
        finally:
            cursor.close()
    except duckdb.Error as exc:
        return Freshness(source, "runtime error", criteria=criteria, started=started,
                         completed=time.time(), message=str(exc).split("\n\nLINE")[0].strip(),
                         hint=f"check loaded_at_field and filter of source {source.source_name}"
                              f".{source.name}, and that {source.relation} exists")
    loaded = loaded if loaded is not None else EMPTY_LOADED_AT
    age = (now - loaded).total_seconds()
    note = "no rows (max(loaded_at_field) is NULL)" if loaded is EMPTY_LOADED_AT else ""
    return Freshness(source, status_of(age, criteria), loaded, now, age, criteria, note,
                     "", started, time.time())
