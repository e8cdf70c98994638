"""Jinja rendering of models, tests, hooks and macros with dbt's context.

Each node is rendered twice from one compiled template: a *parse* pass
(`execute` false, undefined names tolerated) that records `config()`, `ref()`
and `source()` calls, and a *compile* pass where refs are real relations and
macros may look at the database. Macros come from the project and its packages
through `predsql.dbt` namespaces.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import jinja2

from predsql.dbt.adapter import Database
from predsql.dbt.context import base_context
from predsql.dbt.expressions import ExpressionTemplate, Fallback, evaluate, parse_template
from predsql.dbt.loading import load_macro_set, vars_for_package
from predsql.dbt.macros import TemplateCache
from predsql.dbt.namespace import MacroSet, Namespace
from predsql.dbt.relation import Relation
from predsql.dbt.statements import Statements
from predsql.errors import CompileError, PredsqlError, RenderError
from predsql.jinja import (
    PARSING,
    DbtUndefined,
    MacroReturn,
    compile_named,
    make_env_var,
    make_environment,
    template_location,
)
from predsql.nodes import Node, Properties
from predsql.project import Project
from predsql.vectors.spec import PredsqlNamespace
from predsql.yamlio import render_native

_MISSING = object()
UNDEFINED_HINT = ("this can happen when calling a macro that does not exist: check for typos, "
                  "or install the package that defines it (predsql deps)")


@dataclass
class Capture:
    """What one render of a node recorded."""

    refs: list[str] = field(default_factory=list)
    sources: list[tuple[str, str]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    introspected: bool = False


def template_cache(project: Project) -> jinja2.BytecodeCache | None:
    """Compiled templates kept in target/ between runs (keyed by file and text), as dbt
    keeps its parse results: a second compile of an unchanged project skips Jinja's
    compiler. None when target/ cannot be written."""
    folder = project.target_dir / f"jinja-{jinja2.__version__}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return jinja2.FileSystemBytecodeCache(str(folder))


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
        self.database = str(project.target.as_context()["database"])

    def relation(self, schema: str, identifier: str, kind: str | None = None) -> Relation:
        return Relation.in_target(self.database, schema, identifier, kind)

    def this_relation(self) -> Relation | None:
        if self.node is None:
            return None
        schema, name = self.relation_of(self.node)
        materialized = self.node.materialized
        kind = "view" if materialized == "view" else "cte" if materialized == "ephemeral" else "table"
        if kind == "cte":
            return Relation(identifier=Relation.add_ephemeral_prefix(self.node.name), type="cte")
        return self.relation(schema, name, kind)

    # -- functions exposed to templates ---------------------------------
    def ref(self, *args: str, **_kwargs: Any) -> Relation:
        if len(args) not in (1, 2):
            raise RenderError("ref() takes a model name, or a package and a model name")
        name = str(args[-1])
        if name not in self.capture.refs:
            self.capture.refs.append(name)
        return self.resolve_ref(name)

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
        return relation if source.database else relation.include(database=False)

    def config(self, *args: Any, **kwargs: Any) -> str:
        if args and isinstance(args[0], dict):
            kwargs = {**args[0], **kwargs}
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


class Renderer:
    """Renders every node of a project with one environment and its macro namespaces."""

    def __init__(self, project: Project, props: Properties, state: RenderState, *,
                 db: Database | None = None, log: Callable[[str, bool], None] | None = None,
                 flags: dict[str, Any] | None = None, macros: MacroSet | None = None) -> None:
        self.project = project
        self.state = state
        self.env = make_environment(DbtUndefined, mutable=True)
        self.env.bytecode_cache = template_cache(project)
        self.cache = TemplateCache(self.env)
        self.macros = macros or load_macro_set(project)
        self.db = db or Database(database=str(project.target.as_context()["database"]))
        self.lock = threading.RLock()
        self.graph: dict[str, Any] = {"nodes": {}, "sources": {}, "exposures": {},
                                      "metrics": {}, "groups": {}, "semantic_models": {},
                                      "saved_queries": {}, "macros": {}}
        self.selected: list[str] = []
        self._flags = dict(flags or {})
        self._log = log or (lambda _msg, _info: None)
        self._base = self._base_context()
        self._namespaces: dict[str, Namespace] = {}
        self._templates: dict[str, jinja2.Template] = {}
        self.last_introspected = False

    def _base_context(self) -> dict[str, Any]:
        state = self.state
        target = self.project.target.as_context()
        context = dict(self.env.globals)
        context.update(base_context(log=lambda m, i: self._log(m, i), flags=self._flags,
                                    run_started_at=datetime.now(timezone.utc)))
        context.update({
            "ref": state.ref,
            "source": state.source,
            "config": ConfigProxy(state),
            "builtins": Builtins(state),
            "var": state.var,
            "env_var": make_env_var(),
            "is_incremental": state.is_incremental,
            "should_full_refresh": state.should_full_refresh,
            "should_store_failures": lambda: bool(ConfigProxy(state).get("store_failures")),
            "doc": state.doc,
            "target": target,
            "project_name": self.project.name,
            "database": target["database"],
            "schema": target["schema"],
            "graph": self.graph,
            "selected_resources": self.selected,
            "invocation_args_dict": {"which": self._flags.get("WHICH")},
            "execute": True,
            "this": None,
            "model": None,
            "render": self._render_in_context,
            "predsql": PredsqlNamespace(),
        })
        return context

    # -- namespaces -------------------------------------------------------
    def namespace(self, package: str | None) -> Namespace:
        name = package if package in self.macros.by_package else self.macros.root
        space = self._namespaces.get(name)
        if space is None:
            space = Namespace(self.macros, name, self.cache, self._base, self.db,
                              lambda: not self.state.parsing)
            self._namespaces[name] = space
        return space

    def _node_names(self, node: Node | None, statements: Statements) -> dict[str, Any]:
        state = self.state
        names: dict[str, Any] = {
            "execute": not state.parsing,
            "statement": statements.statement,
            "noop_statement": statements.store_raw_result,
            "load_result": statements.load_result,
            "store_result": statements.store_result,
            "store_raw_result": statements.store_raw_result,
            "run_query": statements.run_query,
        }
        if node is not None:
            names["this"] = state.this_relation()
            names["model"] = LazyModel(node, state.relation_of)
        else:
            names["this"] = None
            names["model"] = None
        return names

    @contextmanager
    def scope(self, node: Node | None, extra: dict[str, Any] | None = None,
              package: str | None = None) -> Iterator[Namespace]:
        """Make `node` current in its package's namespace for the duration."""
        with self.lock:
            state = self.state
            saved = (state.node, state.capture)
            state.node = node
            state.capture = Capture()
            space = self.namespace(package or (node.fqn[0] if node is not None else None))
            statements = Statements(self.db.run, lambda: not state.parsing)
            names = {**self._node_names(node, statements), **(extra or {})}
            previous = {k: space.context.get(k, _MISSING) for k in names}
            space.set_node_names(names)
            touched = self.db.touched
            self.db.touched = False
            token = PARSING.set(state.parsing)
            try:
                yield space
            finally:
                PARSING.reset(token)
                state.capture.introspected = self.db.touched
                self.last_introspected = self.db.touched
                self.db.touched = touched or self.db.touched
                state.node, state.capture = saved
                for key, value in previous.items():
                    if value is _MISSING:
                        space.context.pop(key, None)
                    elif key not in space.user_names:
                        space.context[key] = value

    # -- rendering --------------------------------------------------------
    def template(self, node: Node) -> Any:
        template = self._templates.get(node.unique_id)
        if template is None:
            template = parse_template(node.raw_sql) or compile_named(
                self.env, node.raw_sql, node.rel_path)
            self._templates[node.unique_id] = template
        return template

    def _jinja_template(self, node: Node) -> jinja2.Template:
        template = compile_named(self.env, node.raw_sql, node.rel_path)
        self._templates[node.unique_id] = template
        return template

    def render(self, node: Node) -> tuple[str, Capture]:
        """Render a node in the current pass; errors name the file and line."""
        template = self.template(node)
        if isinstance(template, ExpressionTemplate):
            if template.simple and not {"ref", "source", "this"} & self.namespace(
                    node.fqn[0]).user_names:
                return self._render_simple(template, node)
            with self.scope(node) as space:
                try:
                    return self._render_expressions(template, space.context, node), \
                        self.state.capture
                except Fallback:
                    self.state.capture = Capture()
            template = self._jinja_template(node)
        with self.scope(node) as space:
            sql = run_template(template, space.context, node.rel_path, node)
            capture = self.state.capture
        return sql, capture

    def _render_expressions(self, template: ExpressionTemplate, context: dict[str, Any],
                            node: Node) -> str:
        out: list[str] = []
        for part in template.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            try:
                value = evaluate(part.tree, context, self.env)
            except Fallback:
                raise
            except MacroReturn as ret:
                value = ret.value
            except Exception as exc:
                error = as_render_error(exc, node.rel_path, node)
                if error.path == node.rel_path and error.line is None:
                    error.line = part.line
                raise error from exc
            out.append("" if isinstance(value, jinja2.Undefined) else str(value))
        return "".join(out)

    def _render_simple(self, template: ExpressionTemplate, node: Node) -> tuple[str, Capture]:
        """ref / source / this only: no namespace, no statements, no database."""
        state = self.state
        context = {"ref": state.ref, "source": state.source}
        with self.lock:
            saved = (state.node, state.capture)
            state.node, state.capture = node, Capture()
            try:
                context["this"] = state.this_relation()
                sql = self._render_expressions(template, context, node)
                self.last_introspected = False
                return sql, state.capture
            finally:
                state.node, state.capture = saved

    def render_text(self, text: str, path: str, node: Node | None = None,
                    extra: dict[str, Any] | None = None) -> str:
        """Render a hook or another string in a node's context (or the project's)."""
        template = self._text_template(text, path)
        with self.scope(node, extra) as space:
            return run_template(template, space.context, path, node)

    def render_value(self, text: str, path: str, node: Node | None = None,
                     extra: dict[str, Any] | None = None) -> Any:
        """Render a string natively: one expression keeps its type (a relation, a list)."""
        with self.scope(node, extra) as space:
            try:
                return render_native(self.env, text, space.context, path)
            except PredsqlError as exc:
                raise located(exc, path, node) from exc

    def call_macro(self, macro: Any, *args: Any, node: Node | None = None,
                   package: str | None = None, path: str = "", **kwargs: Any) -> Any:
        """Call a macro (e.g. generate_schema_name) in a node's context."""
        with self.scope(node, package=package):
            try:
                return macro(*args, **kwargs)
            except Exception as exc:
                raise as_render_error(exc, path or (node.rel_path if node else ""), node) from exc

    def _text_template(self, text: str, path: str) -> jinja2.Template:
        key = f"text:{path}:{text}"
        template = self._templates.get(key)
        if template is None:
            template = compile_named(self.env, text, path)
            self._templates[key] = template
        return template

    def _render_in_context(self, text: Any) -> str:
        template = self._text_template(str(text), "<render>")
        space = self.namespace(self.state.node.fqn[0] if self.state.node else None)
        return run_template(template, space.context, "<render>", self.state.node)


def run_template(template: jinja2.Template, context: dict[str, Any], path: str,
                 node: Node | None) -> str:
    """Render with the live namespace dict as the template's globals."""
    try:
        ctx = template.new_context(context, shared=True)
        return template.environment.concat(template.root_render_func(ctx))  # type: ignore[attr-defined]
    except MacroReturn as ret:
        return "" if ret.value is None else str(ret.value)
    except Exception as exc:
        raise as_render_error(exc, path, node) from exc


def located(exc: PredsqlError, path: str, node: Node | None) -> PredsqlError:
    where, line = template_location(exc)
    if exc.path is None:
        exc.path = where or path
        exc.line = exc.line or line
    if node is not None and exc.path != node.rel_path and "while compiling" not in exc.message:
        exc.message += f" (while compiling {node.resource_type} {node.name!r}, {node.rel_path})"
    return exc


def as_render_error(exc: BaseException, path: str, node: Node | None) -> PredsqlError:
    """Any failure while rendering as a RenderError with the template file and line."""
    if isinstance(exc, PredsqlError):
        return located(exc, path, node)
    where, line = template_location(exc)
    if isinstance(exc, jinja2.exceptions.SecurityError):
        error = RenderError(f"unsafe Jinja refused by the sandbox: {exc}",
                            hint="templates may not reach into Python internals")
    elif isinstance(exc, jinja2.UndefinedError):
        message = getattr(exc, "message", None) or str(exc)
        if "unsafe" in message:
            error = RenderError(f"unsafe Jinja refused by the sandbox: {message}",
                                hint="templates may not reach into Python internals")
        else:
            error = RenderError(message, hint=UNDEFINED_HINT)
    elif isinstance(exc, jinja2.TemplateError):
        error = RenderError(f"Jinja error: {getattr(exc, 'message', None) or exc}")
    elif isinstance(exc, (TypeError, ValueError, AttributeError, KeyError, IndexError,
                          ZeroDivisionError, ArithmeticError, RecursionError)):
        error = RenderError(f"error while rendering: {type(exc).__name__}: {exc}")
    else:
        raise exc
    error.path = where or path
    error.line = line
    return located(error, path, node)
