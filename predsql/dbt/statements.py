"""`{% call statement() %}`, `load_result`, `store_result`, `run_query`: SQL run while
rendering, with results shaped like the agate tables dbt returns."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any


class Row(Sequence[Any]):
    """A result row: by position (`row[0]`) or by column name (`row['id']`)."""

    __slots__ = ("_values", "_index")

    def __init__(self, values: tuple[Any, ...], index: dict[str, int]) -> None:
        self._values = values
        self._index = index

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return self._values[self._index[key]]
        return self._values[key]

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"<Row {self._values!r}>"

    def keys(self) -> list[str]:
        return list(self._index)

    def values(self) -> list[Any]:
        return list(self._values)

    def items(self) -> list[tuple[str, Any]]:
        return list(zip(self._index, self._values))

    def get(self, key: str, default: Any = None) -> Any:
        return self._values[self._index[key]] if key in self._index else default

    def dict(self) -> dict[str, Any]:
        return dict(self.items())


class TableColumn:
    """A column of a result table: `.name`, `.values()`."""

    __slots__ = ("name", "_values", "data_type")

    def __init__(self, name: str, values: list[Any], data_type: str) -> None:
        self.name = name
        self._values = values
        self.data_type = data_type

    def values(self) -> tuple[Any, ...]:
        return tuple(self._values)

    def values_distinct(self) -> tuple[Any, ...]:
        return tuple(dict.fromkeys(self._values))

    def values_without_nulls(self) -> tuple[Any, ...]:
        return tuple(v for v in self._values if v is not None)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __getitem__(self, index: int) -> Any:
        return self._values[index]


class Columns(Sequence[TableColumn]):
    """A table's columns: by position or by name."""

    __slots__ = ("_columns",)

    def __init__(self, columns: list[TableColumn]) -> None:
        self._columns = columns

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            for column in self._columns:
                if column.name == key:
                    return column
            raise KeyError(key)
        return self._columns[key]

    def __len__(self) -> int:
        return len(self._columns)

    def keys(self) -> list[str]:
        return [c.name for c in self._columns]

    def values(self) -> list[TableColumn]:
        return list(self._columns)

    def items(self) -> list[tuple[str, TableColumn]]:
        return [(c.name, c) for c in self._columns]


class Table:
    """What `run_query` returns: `.rows`, `.columns`, `.column_names`, iteration over rows."""

    def __init__(self, names: list[str], types: list[str], data: list[tuple[Any, ...]]) -> None:
        index = {name: i for i, name in enumerate(names)}
        self.column_names = tuple(names)
        self.column_types = tuple(types)
        self.rows = tuple(Row(tuple(row), index) for row in data)
        self.columns = Columns([
            TableColumn(name, [row[i] for row in data], types[i]) for i, name in enumerate(names)
        ])

    def __iter__(self) -> Iterator[Row]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __bool__(self) -> bool:
        return True

    def print_table(self, max_rows: int = 20, **_kwargs: Any) -> str:
        return ""

    def __repr__(self) -> str:
        return f"<Table {len(self.rows)} rows x {len(self.column_names)} columns>"


@dataclass(frozen=True)
class AdapterResponse:
    _message: str
    rows_affected: int | None = None
    code: str | None = None

    def __str__(self) -> str:
        return self._message


def empty_table() -> Table:
    return Table([], [], [])


class Statements:
    """The results of the statements run while rendering one node."""

    def __init__(self, run_sql: Callable[[str, bool], tuple[AdapterResponse, Table]],
                 executing: Callable[[], bool]) -> None:
        self._run_sql = run_sql
        self._executing = executing
        self.results: dict[str, dict[str, Any]] = {}

    def statement(self, name: str | None = None, fetch_result: bool = False,
                  auto_begin: bool = True, language: str = "sql",
                  caller: Callable[[], str] | None = None, **_kwargs: Any) -> str:
        if not self._executing():
            return ""
        sql = str(caller()) if caller is not None else ""
        if language != "sql":
            from predsql.errors import RenderError

            raise RenderError(f"statement language {language!r} is not supported",
                              hint="predsql runs SQL statements only")
        response, table = self._run_sql(sql, fetch_result)
        if name is not None:
            self.store_result(name, response, table if fetch_result else empty_table())
        return ""

    def store_result(self, name: str, response: Any = None, agate_table: Any = None) -> str:
        table = agate_table if agate_table is not None else empty_table()
        self.results[name] = {"response": response, "data": [tuple(r) for r in table.rows]
                              if isinstance(table, Table) else [], "table": table}
        return ""

    def store_raw_result(self, name: str, message: str | None = None, code: str | None = None,
                         rows_affected: int | None = None, agate_table: Any = None) -> str:
        return self.store_result(name, AdapterResponse(message or "", rows_affected, code),
                                 agate_table)

    def load_result(self, name: str) -> dict[str, Any] | None:
        """The stored result of statement `name`; None before it ran (or while parsing)."""
        return self.results.get(name)

    def run_query(self, sql: Any) -> Table | None:
        if not self._executing():
            return None
        response, table = self._run_sql(str(sql), True)
        self.store_result("run_query_statement", response, table)
        return table
