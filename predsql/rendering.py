"""Jinja rendering of models, tests and macros with a deliberate dbt-like context.

Each node is rendered twice from one compiled template: a *parse* pass that
records `config()`, `ref()` and `source()` calls (refs render as placeholders),
and a *compile* pass where refs render as the real relation names.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jinja2

from predsql.errors import CompileError, RenderError
from predsql.jinja import (
    MacroReturn,
    compile_template,
    make_env_var,
    make_environment,
    render_compiled,
)
from predsql.nodes import Node, Properties, iter_files
from predsql.project import Project
from predsql.vectors.spec import PredsqlNamespace

TEST_BLOCK_RE = re.compile(r"({%-?\s*)test\s+([A-Za-z_]\w*)")
END_TEST_RE = re.compile(r"({%-?\s*)endtest\b")
MACRO_RE = re.compile(r"{%-?\s*macro\s")


@dataclass
class Capture:
    """What one render of a node recorded."""

    refs: list[str] = field(default_factory=list)
    sources: list[tuple[str, str]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)


class RelationProxy:
    """`{{ this }}`: renders as the current node's relation."""

    def __init__(self, state: RenderState) -> None:
        self._state = state

    def __str__(self) -> str:
        return self._state.this_relation()

    def __html__(self) -> str:
        return str(self)

    @property
    def schema(self) -> str:
        return self._state.this_parts()[0]

    @property
    def identifier(self) -> str:
        return self._state.this_parts()[1]

    name = identifier


class RenderState:
    """The node being rendered, and how names resolve in this pass."""

    def __init__(
        self,
        project: Project,
        props: Properties,
        resolve_ref: Callable[[str], str],
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

    def this_parts(self) -> tuple[str, str]:
        assert self.node is not None
        return self.relation_of(self.node)

    def this_relation(self) -> str:
        schema, name = self.this_parts()
        return f'"{schema}"."{name}"'

    # -- functions exposed to templates ---------------------------------
    def ref(self, *args: str, **_kwargs: Any) -> str:
        if len(args) not in (1, 2):
            raise RenderError("ref() takes a model name, or a package and a model name")
        name = args[-1]
        if name not in self.capture.refs:
            self.capture.refs.append(name)
        return self.resolve_ref(name)

    def source(self, source_name: str, table_name: str) -> str:
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
        return source.relation

    def config(self, *args: Any, **kwargs: Any) -> str:
        if args and isinstance(args[0], dict):
            kwargs = {**args[0], **kwargs}
        self.capture.config.update(kwargs)
        return ""

    def var(self, name: str, default: Any = None) -> Any:
        if name in self.project.vars:
            return self.project.vars[name]
        if default is None:
            raise RenderError(
                f"required var {name!r} is not set",
                hint=f"pass --vars '{{{name}: ...}}', set it under `vars:` in the project "
                f"file, or give a default: var('{name}', ...)",
            )
        return default

    def is_incremental(self) -> bool:
        return self.node is not None and self.incremental(self.node)

    def doc(self, name: str) -> str:
        if name not in self.props.docs:
            raise RenderError(
                f"doc({name!r}) names no {{% docs %}} block",
                hint="define it in a .md file under the model paths",
            )
        return self.props.docs[name]


def _wrap_macro(macro: Any) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return macro(*args, **kwargs)
        except MacroReturn as ret:
            return ret.value

    return call


class Renderer:
    """Renders every node of a project with one shared environment."""

    def __init__(self, project: Project, props: Properties, state: RenderState) -> None:
        self.project = project
        self.state = state
        self.env = make_environment()
        self.env.globals.update(self._base_context())
        self._templates: dict[str, jinja2.Template] = {}
        self.load_macros()

    def _base_context(self) -> dict[str, Any]:
        state = self.state
        return {
            "ref": state.ref,
            "source": state.source,
            "config": state.config,
            "var": state.var,
            "env_var": make_env_var(),
            "is_incremental": state.is_incremental,
            "this": RelationProxy(state),
            "target": self.project.target.as_context(),
            "doc": state.doc,
            "project_name": self.project.name,
            "log": lambda *a, **k: "",
            "run_started_at": None,
            "execute": True,
            "flags": {},
            "predsql": PredsqlNamespace(),
        }

    def load_macros(self) -> None:
        paths = iter_files(self.project.root, self.project.macro_paths, ".sql")
        paths += iter_files(self.project.root, self.project.test_paths, ".sql")
        for path in paths:
            text = TEST_BLOCK_RE.sub(r"\1macro test_\2", path.read_text(encoding="utf-8"))
            text = END_TEST_RE.sub(r"\1endmacro", text)
            if not MACRO_RE.search(text):
                continue
            rel = path.relative_to(self.project.root)
            template = self._compile(text, str(rel))
            try:
                module = template.make_module()
            except jinja2.TemplateError as exc:
                raise RenderError(f"Jinja error in macro file: {exc}", path=rel) from exc
            for name in dir(module):
                value = getattr(module, name)
                if isinstance(value, jinja2.runtime.Macro):
                    self.env.globals[name] = _wrap_macro(value)

    def _compile(self, source: str, path: str) -> jinja2.Template:
        return compile_template(self.env, source, path)

    def template(self, node: Node) -> jinja2.Template:
        if node.unique_id not in self._templates:
            self._templates[node.unique_id] = self._compile(node.raw_sql, node.rel_path)
        return self._templates[node.unique_id]

    def render(self, node: Node) -> tuple[str, Capture]:
        self.state.node = node
        self.state.capture = Capture()
        try:
            sql = render_compiled(self.template(node), {"model": _model_context(node)}, node.rel_path)
        except CompileError as exc:
            if exc.path is None:
                exc.path = node.rel_path
            raise
        return sql, self.state.capture


def _model_context(node: Node) -> dict[str, Any]:
    return {
        "name": node.name,
        "unique_id": node.unique_id,
        "resource_type": node.resource_type,
        "path": node.rel_path,
        "config": dict(node.config),
        "description": node.description,
    }
