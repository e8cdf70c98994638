"""`api.Relation` and `api.Column` as dbt macros use them (DuckDB flavour).

A Relation renders as its quoted path and is also a read-only mapping (dbt's
relations are), which is how `dbt_utils._is_relation` recognises one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

EPHEMERAL_PREFIX = "__dbt__cte__"
_PARTS = ("database", "schema", "identifier")


def _policy(value: Any, default: bool) -> dict[str, bool]:
    base = dict.fromkeys(_PARTS, default)
    if isinstance(value, Mapping):
        base.update({k: bool(v) for k, v in value.items() if k in _PARTS and v is not None})
    return base


_ALL_QUOTED = dict.fromkeys(_PARTS, True)
_WITHOUT_DATABASE = {"database": False, "schema": True, "identifier": True}


@dataclass(frozen=True)
class Relation(Mapping[str, Any]):
    """A database relation: `"database"."schema"."identifier"` with dbt's policies."""

    database: str | None = None
    schema: str | None = None
    identifier: str | None = None
    type: str | None = None
    quote_policy: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(_PARTS, True))
    include_policy: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(_PARTS, True))
    limit: int | None = None
    require_alias: bool = True
    external: str | None = None  # dbt-duckdb: a source read from files renders as this

    # -- construction ------------------------------------------------------
    @classmethod
    def create(cls, database: str | None = None, schema: str | None = None,
               identifier: str | None = None, type: str | None = None,
               **kwargs: Any) -> Relation:
        return cls(
            database=database, schema=schema, identifier=identifier, type=type,
            quote_policy=_policy(kwargs.get("quote_policy"), True),
            include_policy=_policy(kwargs.get("include_policy"), True),
        )

    @classmethod
    def in_target(cls, database: str, schema: str, identifier: str,
                  type: str | None = None) -> Relation:
        """A relation of the target database, rendered without it (predsql's refs)."""
        return cls(database, schema, identifier, type, _ALL_QUOTED, _WITHOUT_DATABASE)

    @staticmethod
    def add_ephemeral_prefix(name: str) -> str:
        return f"{EPHEMERAL_PREFIX}{name}"

    # -- rendering ---------------------------------------------------------
    def _quote(self, part: str, value: str) -> str:
        if self.quote_policy.get(part, True):
            return '"' + value.replace('"', '""') + '"'
        return value

    def render(self) -> str:
        if self.external:
            return self.external
        if self.type == "cte":
            return str(self.identifier)
        parts = [
            self._quote(part, str(getattr(self, part)))
            for part in _PARTS
            if self.include_policy.get(part, True) and getattr(self, part)
        ]
        return ".".join(parts)

    def __str__(self) -> str:
        return self.render() if self.limit is None else self.render_limited()

    def __html__(self) -> str:
        return str(self)

    # -- the methods macros call -------------------------------------------
    @property
    def name(self) -> str | None:
        return self.identifier

    @property
    def table(self) -> str | None:
        return self.identifier

    @property
    def path(self) -> dict[str, str | None]:
        return {part: getattr(self, part) for part in _PARTS}

    @property
    def is_table(self) -> bool:
        return self.type == "table"

    @property
    def is_view(self) -> bool:
        return self.type == "view"

    @property
    def is_cte(self) -> bool:
        return self.type == "cte"

    @property
    def is_materialized_view(self) -> bool:
        return self.type == "materialized_view"

    def include(self, database: bool | None = None, schema: bool | None = None,
                identifier: bool | None = None) -> Relation:
        policy = dict(self.include_policy)
        for part, value in zip(_PARTS, (database, schema, identifier)):
            if value is not None:
                policy[part] = bool(value)
        return replace(self, include_policy=policy)

    def quote(self, database: bool | None = None, schema: bool | None = None,
              identifier: bool | None = None) -> Relation:
        policy = dict(self.quote_policy)
        for part, value in zip(_PARTS, (database, schema, identifier)):
            if value is not None:
                policy[part] = bool(value)
        return replace(self, quote_policy=policy)

    def incorporate(self, path: Mapping[str, Any] | None = None, type: str | None = None,
                    **_kwargs: Any) -> Relation:
        changes: dict[str, Any] = {}
        for key, value in (path or {}).items():
            if key in _PARTS:
                changes[key] = value
        if type is not None:
            changes["type"] = type
        return replace(self, **changes)

    def replace_path(self, **kwargs: Any) -> Relation:
        return replace(self, **{k: v for k, v in kwargs.items() if k in _PARTS})

    def without_identifier(self) -> Relation:
        return self.include(identifier=False)

    def matches(self, database: str | None = None, schema: str | None = None,
                identifier: str | None = None) -> bool:
        for part, value in zip(_PARTS, (database, schema, identifier)):
            mine = getattr(self, part)
            if value is not None and (mine or "").lower() != value.lower():
                return False
        return True

    def render_limited(self) -> str:
        """dbt-duckdb's: `--empty` renders refs and sources as a read of zero rows."""
        if self.limit is None:
            return self.render()
        alias = " _dbt_limit_subq" if self.require_alias else ""
        if self.limit == 0:
            return f"(select * from {self.render()} where false limit 0){alias}"
        return f"(select * from {self.render()} limit {self.limit}){alias}"

    # -- Mapping (dbt relations are dictionaries too) ------------------------
    def _as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path, "type": self.type, "quote_policy": dict(self.quote_policy),
            "include_policy": dict(self.include_policy),
            "metadata": {"type": "DuckDBRelation"},
        }

    def __getitem__(self, key: str) -> Any:
        return self._as_dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._as_dict())

    def __len__(self) -> int:
        return len(self._as_dict())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Relation):
            return (self.database, self.schema, self.identifier) == (
                other.database, other.schema, other.identifier)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.database, self.schema, self.identifier))


TYPE_LABELS = {"STRING": "TEXT"}
_STRING_TYPES = ("text", "character varying", "character", "varchar")
_FLOAT_TYPES = ("real", "float", "float4", "float8", "double", "double precision")
_INTEGER_TYPES = ("tinyint", "smallint", "integer", "bigint", "hugeint", "utinyint",
                  "usmallint", "uinteger", "ubigint", "uhugeint", "int1", "int2", "int4",
                  "int8", "int", "long", "short", "signed", "serial", "bigserial", "smallserial")


@dataclass(frozen=True)
class Column:
    """A column as `adapter.get_columns_in_relation` returns it (dbt's Column API)."""

    column: str
    dtype: str
    char_size: int | None = None
    numeric_precision: Any = None
    numeric_scale: Any = None

    @classmethod
    def translate_type(cls, dtype: str) -> str:
        return TYPE_LABELS.get(str(dtype).upper(), dtype)

    @classmethod
    def create(cls, name: str, label_or_dtype: str) -> Column:
        return cls(name, cls.translate_type(label_or_dtype))

    @classmethod
    def string_type(cls, size: int) -> str:
        return f"character varying({size})"

    @classmethod
    def numeric_type(cls, dtype: str, precision: Any, scale: Any) -> str:
        if precision is None or scale is None:
            return dtype
        return f"{dtype}({precision},{scale})"

    @property
    def name(self) -> str:
        return self.column

    @property
    def quoted(self) -> str:
        return f'"{self.column}"'

    @property
    def data_type(self) -> str:
        if self.is_string():
            return self.string_type(self.string_size())
        if self.is_numeric():
            return self.numeric_type(self.dtype, self.numeric_precision, self.numeric_scale)
        return self.dtype

    def is_string(self) -> bool:
        return self.dtype.lower() in _STRING_TYPES

    def is_float(self) -> bool:
        return self.dtype.lower() in _FLOAT_TYPES

    def is_integer(self) -> bool:
        return self.dtype.lower() in _INTEGER_TYPES

    def is_numeric(self) -> bool:
        return self.dtype.lower() in ("numeric", "decimal")

    def is_number(self) -> bool:
        return self.is_integer() or self.is_numeric() or self.is_float()

    def string_size(self) -> int:
        if self.dtype == "text" or self.char_size is None:
            return 256
        return int(self.char_size)

    def can_expand_to(self, other: Column) -> bool:
        return self.is_string() and other.is_string() and self.string_size() < other.string_size()

    def literal(self, value: Any) -> str:
        return f"{value}::{self.data_type}"

    def __str__(self) -> str:
        return self.column


class Api:
    """`api`: the Relation and Column classes."""

    Relation = Relation
    Column = Column
