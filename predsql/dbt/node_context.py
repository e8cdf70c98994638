"""What a node's Jinja sees of the node: `ref`, `source`, `config`, `var`, `this`,
`model`, `is_incremental`, `builtins` (RenderState and its helpers)."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from predsql.dbt.loading import vars_for_package
from predsql.dbt.relation import Relation
from predsql.errors import CompileError, RenderError
from predsql.nodes import Node, Properties
from predsql.project import Project

_MISSING = object()


@dataclass
class Capture:
    """What one render of a node recorded."""

    refs: list[str] = field(default_factory=list)
    sources: list[tuple[str, str]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    introspected: bool = False


class ConfigProxy:
    """`config`: callable as `config(...)`, readable as `config.get('key')`."""

    def __init__(self, state: RenderState) -> None:
        self._state = state

    def __call__(self, *args: Any, **kwargs: Any) -> str:
        return self._state.config(*args, **kwargs)

    def _current(self) -> dict[str, Any]:
        node = self._state.node
        base = dict(node.config) if node is not None else {}
        base.update(self._state.capture.config)
        return base

    def get(self, name: str, default: Any = None, validator: Any = None) -> Any:
        return self._current().get(name, default)

    def require(self, name: str, validator: Any = None) -> Any:
        current = self._current()
        if name not in current:
            raise RenderError(f"config {name!r} is required but not set")
        return current[name]

    def set(self, name: str, value: Any) -> str:
        self._state.capture.config[name] = value
        return ""

    def persist_relation_docs(self) -> bool:
        return False

    def persist_column_docs(self) -> bool:
        return False


class Builtins:
    """`builtins`: the context's own ref/source/config, even where a macro overrides them."""

    def __init__(self, state: RenderState) -> None:
        self.ref = state.ref
        self.source = state.source
        self.config = ConfigProxy(state)


class RenderState:
    """The node being rendered, and how names resolve in this pass."""

    def __init__(
        self,
        project: Project,
        props: Properties,
        resolve_ref: Callable[[str], Relation],
        relation_of: Callable[[Node], tuple[str, str]],
        incremental: Callable[[Node], bool],
    ) -> None:
        self.project = project
        self.props = props
        self.resolve_ref = resolve_ref
        self.relation_of = relation_of
        self.incremental = incremental
        self.node: Node | None = None
        self.capture = Capture()
        self.parsing = False
        self.full_refresh = False
        self.empty = False
        self.database = str(project.target.as_context()["database"])

    def relation(self, schema: str, identifier: str, kind: str | None = None) -> Relation:
        return Relation.in_target(self.database, schema, identifier, kind)

    def this_relation(self) -> Relation | None:
        if self.node is None:
            return None
        schema, name = self.relation_of(self.node)
        materialized = self.node.materialized
        kind = ("view" if materialized in ("view", "external") else "cte"
                if materialized == "ephemeral" else "table")
        if kind == "cte":  # renders as the CTE's name; schema and database as dbt's `this`
            return replace(self.relation(schema, name, kind),
                           identifier=Relation.add_ephemeral_prefix(self.node.name))
        return self.relation(schema, name, kind)

    # -- functions exposed to templates ---------------------------------
    def ref(self, *args: str, **_kwargs: Any) -> Relation:
        if len(args) not in (1, 2):
            raise RenderError("ref() takes a model name, or a package and a model name")
        name = str(args[-1])
        if name not in self.capture.refs:
            self.capture.refs.append(name)
        return self._limited(self.resolve_ref(name))

    def _limited(self, relation: Relation) -> Relation:
        """`--empty`: refs and sources read zero rows (dbt 1.8, dbt-duckdb's rendering)."""
        return replace(relation, limit=0, require_alias=False) if self.empty else relation

    def source(self, source_name: str, table_name: str) -> Relation:
        key = (source_name, table_name)
        if key not in self.capture.sources:
            self.capture.sources.append(key)
        source = self.props.sources.get(key)
        if source is None:
            known = [f"{s}.{t}" for s, t in self.props.sources]
            close = difflib.get_close_matches(f"{source_name}.{table_name}", known, n=1)
            raise CompileError(
                f"source('{source_name}', '{table_name}') is not defined",
                hint=(f"did you mean {close[0]!r}? " if close else "")
                + "declare it under `sources:` in a properties .yml file",
            )
        relation = Relation.create(
            database=source.database or self.project.target.as_context()["database"],
            schema=source.schema, identifier=source.identifier, type="table")
        relation = replace(relation if source.database else relation.include(database=False),
                           external=source.external)
        return self._limited(relation)

    def config(self, *args: Any, **kwargs: Any) -> str:
        if args and isinstance(args[0], dict):
            kwargs = {**args[0], **kwargs}
        for hook in ("pre", "post"):
            if f"{hook}_hook" in kwargs and f"{hook}-hook" in kwargs:
                raise CompileError(
                    f'Invalid config, has conflicting keys "{hook}_hook" and "{hook}-hook"',
                    hint=f"{hook}_hook and {hook}-hook are one key: write it once")
        self.capture.config.update(kwargs)
        return ""

    def vars(self) -> dict[str, Any]:
        package = self.node.fqn[0] if self.node is not None and self.node.fqn else None
        if package is None or package == self.project.name:
            return self.project.vars
        return vars_for_package(self.project, package)

    def var(self, name: str, default: Any = _MISSING) -> Any:
        values = self.vars()
        if name in values:
            return values[name]
        if default is _MISSING:
            if self.parsing:
                return None
            raise RenderError(
                f"required var {name!r} is not set",
                hint=f"pass --vars '{{{name}: ...}}', set it under `vars:` in the project "
                f"file, or give a default: var('{name}', ...)",
            )
        return default

    def is_incremental(self) -> bool:
        return self.node is not None and self.incremental(self.node)

    def should_full_refresh(self) -> bool:
        node = self.node
        if node is not None and node.config.get("full_refresh") is not None:
            return bool(node.config.get("full_refresh"))
        return self.full_refresh

    def doc(self, name: str) -> str:
        if name not in self.props.docs:
            raise RenderError(
                f"doc({name!r}) names no {{% docs %}} block",
                hint="define it in a .md file under the model paths",
            )
        return self.props.docs[name]


def model_context(node: Node, relation: tuple[str, str] | None = None) -> dict[str, Any]:
    """`model` (and the `node` argument of generate_*_name): a node as a dict."""
    config = dict(node.config)
    config.setdefault("materialized", node.materialized)
    schema, alias = relation if relation else (None, None)
    return {
        "name": node.name,
        "unique_id": node.unique_id,
        "resource_type": node.resource_type,
        "package_name": node.fqn[0] if node.fqn else None,
        "path": node.rel_path,
        "original_file_path": node.rel_path,
        "fqn": list(node.fqn),
        "config": config,
        "tags": list(config.get("tags") or []),
        "meta": dict(config.get("meta") or {}),
        "description": node.description,
        "columns": node.columns,
        "raw_code": node.raw_sql,
        "raw_sql": node.raw_sql,
        "schema": schema,
        "alias": alias,
        "database": None,
        "version": None,
    }


class LazyModel(Mapping[str, Any]):
    """`model`: the node as a dict, built only if a template reads it."""

    __slots__ = ("_node", "_relation_of", "_value")

    def __init__(self, node: Node, relation_of: Callable[[Node], tuple[str, str]]) -> None:
        self._node = node
        self._relation_of = relation_of
        self._value: dict[str, Any] | None = None

    def _dict(self) -> dict[str, Any]:
        if self._value is None:
            self._value = model_context(self._node, self._relation_of(self._node))
        return self._value

    def __getitem__(self, key: str) -> Any:
        return self._dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict())

    def __len__(self) -> int:
        return len(self._dict())
