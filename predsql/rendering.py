"""Jinja rendering of models, tests, hooks and macros with dbt's context.

Each node is rendered twice from one compiled template: a *parse* pass
(`execute` false, undefined names tolerated) that records `config()`, `ref()`
and `source()` calls, and a *compile* pass where refs are real relations and
macros may look at the database. Macros come from the project and its packages
through `predsql.dbt` namespaces.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

import jinja2

from predsql.dbt.adapter import Database
from predsql.dbt.context import base_context
from predsql.dbt.expressions import ExpressionTemplate, Fallback, evaluate, parse_template
from predsql.dbt.loading import load_macro_set
from predsql.dbt.macros import TemplateCache
from predsql.dbt.namespace import MacroSet, Namespace
from predsql.dbt.node_context import (
    Builtins,
    Capture,
    ConfigProxy,
    LazyModel,
    RenderState,
    model_context,
)
from predsql.dbt.render_errors import as_render_error, located, run_template
from predsql.dbt.statements import Statements
from predsql.errors import PredsqlError
from predsql.jinja import (
    PARSING,
    DbtUndefined,
    MacroReturn,
    compile_named,
    make_env_var,
    make_environment,
)
from predsql.nodes import Node, Properties
from predsql.project import Project
from predsql.vectors.spec import PredsqlNamespace
from predsql.yamlio import render_native

_MISSING = object()
__all__ = ["Capture", "RenderState", "Renderer", "as_render_error", "model_context",
           "run_template"]


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


def dbt_thread_name() -> str:
    """`thread_id` as dbt names its threads: `Thread-N (worker)` for the node threads
    (predsql's pool threads are `ThreadPoolExecutor-M_K`, K from 0), else the name."""
    name = threading.current_thread().name
    if name.startswith("ThreadPoolExecutor-") and "_" in name:
        return f"Thread-{int(name.rsplit('_', 1)[1]) + 1} (worker)"
    return name


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
            "thread_id": dbt_thread_name(),
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

    def hook_refs(self, node: Node) -> list[str]:
        """The models a node's pre-/post-hooks ref, rendered as at parse time: dbt makes
        them the node's parents. A hook that cannot render yet adds none."""
        from predsql.dbt.hooks import node_hooks

        refs: list[str] = []
        for which in ("pre-hook", "post-hook"):
            for hook in node_hooks(node.config, which):
                with self.scope(node) as space:
                    try:
                        run_template(self._text_template(hook.sql, node.rel_path),
                                     space.context, node.rel_path, node)
                    except PredsqlError:
                        continue
                    refs += [r for r in self.state.capture.refs if r not in refs]
        return refs

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


