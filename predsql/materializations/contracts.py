"""Model contracts (`contract: {enforced: true}`), as dbt-duckdb enforces them.

Before a contracted model is built, the columns its SQL returns are compared with
the columns of its properties YAML: same number, same names, same types (the YAML
types as DuckDB reads them, so `int` is INTEGER and `text` VARCHAR). A mismatch
fails the model with dbt's table of differences. A contracted table is created
with the YAML columns, in YAML order, and their constraints (`not_null`, `unique`,
`primary_key`, `check`, `foreign_key`, `custom`, and model-level ones), which
DuckDB enforces; then the rows are inserted. Views are only checked.
"""

from __future__ import annotations

from typing import Any

import duckdb

from predsql.compiler import CompiledNode, strip_sql
from predsql.database import describe_columns, quote
from predsql.errors import ExecutionError


def enforced(node: CompiledNode) -> bool:
    contract = node.config.get("contract")
    return isinstance(contract, dict) and bool(contract.get("enforced"))


def _columns(node: CompiledNode) -> list[dict[str, Any]]:
    return list(node.node.columns.values())


def _name(column: dict[str, Any]) -> str:
    return quote(str(column["name"])) if column.get("quote") else str(column["name"])


def _fail(node: CompiledNode, rows: list[tuple[str, str, str, str]]) -> ExecutionError:
    header = ("column_name", "definition_type", "contract_type", "mismatch_reason")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(4)]
    lines = ["| " + " | ".join(str(v).ljust(w) for v, w in zip(row, widths)) + " |"
             for row in [header, tuple("-" * w for w in widths), *rows]]
    return ExecutionError(
        "This model has an enforced contract that failed.\nPlease ensure the name, data_type, "
        "and number of columns in your contract match the columns in your model's "
        "definition.\n\n" + "\n".join(lines),
        path=node.node.rel_path,
        hint=f"compare the SQL's columns with the contract in {node.node.properties_path}")


def check(cursor: duckdb.DuckDBPyConnection, node: CompiledNode,
          actual: list[tuple[str, str]]) -> None:
    """Raise dbt's contract error when `actual` (name, type) differs from the YAML."""
    columns = _columns(node)
    if not columns:
        raise _fail(node, [])
    untyped = [str(c["name"]) for c in columns if not c.get("data_type")]
    if untyped:
        raise ExecutionError(f"model {node.name!r} has an enforced contract but column "
                             f"{untyped[0]!r} has no data_type", path=node.node.properties_path,
                             hint="give every column of a contracted model a `data_type`")
    select = ", ".join(f"CAST(NULL AS {c['data_type']}) AS {_name(c)}" for c in columns)
    try:
        contract = describe_columns(cursor, f"SELECT {select}")
    except duckdb.Error as exc:
        raise ExecutionError(f"model {node.name!r}: a contract data_type is not a DuckDB "
                             f"type: {exc}", path=node.node.properties_path) from exc
    by_name = dict(contract)
    defined = dict(actual)
    mismatches = [(name, kind, by_name[name], "data type mismatch")
                  for name, kind in actual if name in by_name and by_name[name] != kind]
    mismatches += [(name, kind, "", "missing in contract")
                   for name, kind in actual if name not in by_name]
    mismatches += [(name, "", kind, "missing in definition")
                   for name, kind in contract if name not in defined]
    if mismatches or len(actual) != len(contract):
        raise _fail(node, mismatches)


def _target(item: dict[str, Any], resolved: dict[str, str]) -> Any:
    """A foreign key's `to`: the relation of its `ref(...)` / `source(...)` (the compiler
    resolves them), else as written."""
    to = item.get("to")
    return resolved.get(to, to) if isinstance(to, str) else to


def _constraint(item: dict[str, Any], resolved: dict[str, str]) -> str | None:
    kind = str(item.get("type", ""))
    expression = str(item.get("expression") or "")
    if kind == "check":
        return f"check ({expression})" if expression else None
    if kind in ("not_null", "unique", "primary_key"):
        return f"{kind.replace('_', ' ')} {expression}".strip()
    if kind == "foreign_key":
        to, to_columns = _target(item, resolved), item.get("to_columns")
        if to and to_columns:
            return f"references {to} ({', '.join(map(str, to_columns))})"
        return f"references {expression}" if expression else None
    if kind == "custom":
        return expression or None
    return None


def _model_constraint(item: dict[str, Any], resolved: dict[str, str]) -> str | None:
    kind = str(item.get("type", ""))
    prefix = f"constraint {item['name']} " if item.get("name") else ""
    columns = ", ".join(map(str, item.get("columns") or []))
    expression = str(item.get("expression") or "")
    if kind == "check":
        return f"{prefix}check ({expression})" if expression else None
    if kind in ("unique", "primary_key"):
        extra = f" {expression}" if expression else ""
        return f"{prefix}{kind.replace('_', ' ')}{extra} ({columns})"
    if kind == "foreign_key":
        to, to_columns = _target(item, resolved), item.get("to_columns")
        if to and to_columns:
            return (f"{prefix}foreign key ({columns}) references {to} "
                    f"({', '.join(map(str, to_columns))})")
        return f"{prefix}foreign key ({columns}) references {expression}" if expression else None
    if kind == "custom":
        return f"{prefix}{expression}" if expression else None
    return None


def table_definition(node: CompiledNode) -> str:
    """`(col type constraints, ..., model constraints)` for CREATE TABLE."""
    resolved = node.extra.get("constraint_to") or {}
    parts = []
    for column in _columns(node):
        pieces = [f"{_name(column)} {column['data_type']}"]
        pieces += [c for c in (_constraint(i, resolved) for i in column.get("constraints") or [])
                   if c]
        parts.append(" ".join(pieces))
    parts += [c for c in (_model_constraint(i, resolved)
                          for i in node.config.get("constraints") or []) if c]
    return "(" + ", ".join(parts) + ")"


def column_list(node: CompiledNode) -> str:
    return ", ".join(_name(c) for c in _columns(node))


def describe_sql(cursor: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[str, str]]:
    return describe_columns(cursor, strip_sql(sql))

