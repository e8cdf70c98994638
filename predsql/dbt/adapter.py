"""`adapter`: dispatch and the DuckDB introspection macros call while rendering.

Introspective calls reach the database only while compiling (`execute` true) and
only when a connection is open; otherwise they return what dbt's parse pass
would (no relation, no columns). Each call is recorded, so a node that looked at
the database is compiled again just before it runs, as dbt compiles it then.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb

from predsql.dbt.relation import Column, Relation
from predsql.dbt.statements import AdapterResponse, Table
from predsql.errors import RenderError


@dataclass
class Database:
    """The connection the renderer may use, and whether this pass may use it."""

    cursor: duckdb.DuckDBPyConnection | None = None
    database: str = "memory"
    touched: bool = False
    # False while the project compiles ahead of a run: statements that change the
    # database wait for the node's own compile, just before it runs (so they run once)
    writes: bool = True
    lock: threading.RLock = field(default_factory=threading.RLock)

    def run(self, sql: str, fetch: bool) -> tuple[AdapterResponse, Table]:
        """Run one statement; an empty statement is skipped, as dbt-duckdb does."""
        self.touched = True
        if self.cursor is None:
            raise RenderError(
                "this macro runs SQL while compiling, but no database is open",
                hint="run the command against a target database (predsql run / build)")
        if not sql.strip() or not _has_statement(sql):
            return AdapterResponse("OK"), Table([], [], [])
        if not self.writes and not _reads_only(sql):
            return AdapterResponse("OK"), Table([], [], [])
        try:
            result = self.cursor.execute(sql)
            description = result.description or []
            rows = result.fetchall() if description else []
        except duckdb.TransactionException as exc:
            if "no transaction is active" not in str(exc):
                raise RenderError(f"database error while compiling: {exc}",
                                  hint="the SQL ran by a macro failed") from exc
            # `run_query('commit')` after statements: each statement has committed already
            return AdapterResponse("OK"), Table([], [], [])
        except duckdb.Error as exc:
            raise RenderError(f"database error while compiling: {exc}",
                              hint="the SQL ran by a macro (run_query / statement) failed") from exc
        names = [d[0] for d in description]
        types = [str(d[1]) for d in description]
        table = Table(names, types, rows if fetch else [])
        return AdapterResponse("OK", len(rows) if description else None), table

    def query(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        self.touched = True
        if self.cursor is None:
            return []
        return self.cursor.execute(sql, params).fetchall()


def _has_statement(sql: str) -> bool:
    """False for text that is only whitespace, comments and semicolons."""
    text = sql
    while True:
        text = text.strip().lstrip(";").strip()
        if text.startswith("--"):
            text = text.split("\n", 1)[1] if "\n" in text else ""
        elif text.startswith("/*") and "*/" in text:
            text = text.split("*/", 1)[1]
        else:
            return bool(text)


def _reads_only(sql: str) -> bool:
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error:
        return False
    return all(s.type == duckdb.StatementType.SELECT for s in statements)


_KINDS = {"BASE TABLE": "table", "VIEW": "view", "LOCAL TEMPORARY": "table"}


class Adapter:
    """The `adapter` object of one macro namespace."""

    def __init__(self, db: Database, dispatcher: Callable[..., Any],
                 executing: Callable[[], bool]) -> None:
        self._db = db
        self._dispatcher = dispatcher
        self._executing = executing

    # -- dispatch and quoting -----------------------------------------------
    def dispatch(self, macro_name: str, macro_namespace: str | None = None,
                 packages: Any = None) -> Any:
        if packages is not None:
            raise RenderError("adapter.dispatch(): `packages` is no longer supported",
                              hint="use macro_namespace and the project's `dispatch:` config")
        return self._dispatcher(macro_name, macro_namespace)

    def type(self) -> str:
        return "duckdb"

    def quote(self, identifier: Any) -> str:
        return '"' + str(identifier).replace('"', '""') + '"'

    def quote_as_configured(self, identifier: Any, quote_key: str | None = None) -> str:
        return self.quote(identifier)

    def quote_seed_column(self, column: Any, quote_config: Any = None) -> str:
        return self.quote(column) if quote_config in (None, True) else str(column)

    # -- introspection --------------------------------------------------------
    def _ready(self) -> bool:
        return self._executing() and self._db.cursor is not None

    def get_columns_in_relation(self, relation: Any) -> list[Column]:
        if not self._executing():
            return []
        if self._db.cursor is None:
            self._db.touched = True
            return []
        schema, name = _parts(relation)
        database = getattr(relation, "database", None)
        sql = ("select column_name, data_type, character_maximum_length, numeric_precision, "
               "numeric_scale from information_schema.columns where table_name = ? "
               "and table_schema = ?")
        params = [name, schema]
        if database:
            sql += " and table_catalog = ?"
            params.append(database)
        sql += " order by ordinal_position"
        with self._db.lock:
            rows = self._db.query(sql, params)
        return [Column(n, t, c, p, s) for n, t, c, p, s in rows]

    def get_relation(self, database: Any = None, schema: Any = None,
                     identifier: Any = None) -> Relation | None:
        if not self._executing():
            return None
        if self._db.cursor is None:
            self._db.touched = True
            return None
        sql = ("select table_catalog, table_schema, table_name, table_type from "
               "information_schema.tables where lower(table_schema) = lower(?) "
               "and lower(table_name) = lower(?)")
        params = [str(schema), str(identifier)]
        if database:
            sql += " and lower(table_catalog) = lower(?)"
            params.append(str(database))
        with self._db.lock:
            rows = self._db.query(sql, params)
        if not rows:
            return None
        catalog, found_schema, name, kind = rows[0]
        return Relation.create(database=catalog, schema=found_schema, identifier=name,
                               type=_KINDS.get(kind, "table"))

    def load_relation(self, relation: Any) -> Relation | None:
        return self.get_relation(getattr(relation, "database", None), *_parts(relation))

    def list_relations_without_caching(self, schema_relation: Any) -> list[Relation]:
        if not self._ready():
            return []
        sql = ("select table_catalog, table_schema, table_name, table_type from "
               "information_schema.tables where lower(table_schema) = lower(?)")
        with self._db.lock:
            rows = self._db.query(sql, [str(getattr(schema_relation, "schema", ""))])
        return [Relation.create(database=c, schema=s, identifier=n, type=_KINDS.get(k, "table"))
                for c, s, n, k in rows]

    def list_schemas(self, database: Any = None) -> list[str]:
        if not self._ready():
            return []
        with self._db.lock:
            rows = self._db.query("select schema_name from information_schema.schemata", [])
        return [r[0] for r in rows]

    def check_schema_exists(self, database: Any = None, schema: Any = None) -> bool:
        return str(schema).lower() in {s.lower() for s in self.list_schemas(database)}

    def already_exists(self, schema: Any, name: Any) -> bool:
        return self.get_relation(None, schema, name) is not None

    def get_missing_columns(self, from_relation: Any, to_relation: Any) -> list[Column]:
        target = {c.name.lower() for c in self.get_columns_in_relation(to_relation)}
        return [c for c in self.get_columns_in_relation(from_relation)
                if c.name.lower() not in target]

    # -- statements -------------------------------------------------------------
    def execute(self, sql: Any, auto_begin: bool = False, fetch: bool = False,
                limit: int | None = None) -> tuple[AdapterResponse, Table]:
        if not self._executing():
            return AdapterResponse(""), Table([], [], [])
        with self._db.lock:
            return self._db.run(str(sql), fetch)

    def _run_ddl(self, sql: str) -> str:
        if self._executing():
            with self._db.lock:
                self._db.run(sql, False)
        return ""

    def drop_relation(self, relation: Any) -> str:
        kind = "view" if getattr(relation, "type", None) == "view" else "table"
        return self._run_ddl(f"drop {kind} if exists {relation}")

    def truncate_relation(self, relation: Any) -> str:
        return self._run_ddl(f"delete from {relation}")

    def rename_relation(self, from_relation: Any, to_relation: Any) -> str:
        kind = "view" if getattr(from_relation, "type", None) == "view" else "table"
        return self._run_ddl(f"alter {kind} {from_relation} rename to "
                             f"{self.quote(getattr(to_relation, 'identifier', to_relation))}")

    def create_schema(self, relation: Any) -> str:
        return self._run_ddl(f"create schema if not exists {self.quote(_parts(relation)[0])}")

    def drop_schema(self, relation: Any) -> str:
        return self._run_ddl(f"drop schema if exists {self.quote(_parts(relation)[0])} cascade")

    def commit(self) -> str:
        return ""

    def begin(self) -> str:
        return ""

    def expand_target_column_types(self, from_relation: Any, to_relation: Any) -> str:
        return ""

    def cache_added(self, relation: Any) -> str:
        return ""

    def cache_dropped(self, relation: Any) -> str:
        return ""

    def cache_renamed(self, from_relation: Any, to_relation: Any) -> str:
        return ""


def _parts(relation: Any) -> tuple[str, str]:
    schema = getattr(relation, "schema", None)
    identifier = getattr(relation, "identifier", None)
    if schema is None or identifier is None:
        text = str(relation).replace('"', "")
        bits = text.split(".")
        if len(bits) < 2:
            return "main", bits[-1]
        return bits[-2], bits[-1]
    return str(schema), str(identifier)
