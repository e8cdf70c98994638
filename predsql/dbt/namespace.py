"""Macro namespaces as dbt builds them, and `adapter.dispatch`.

A name used in a template resolves, as in dbt, to (first match wins): a macro of
the package the node belongs to, a macro of the root project, a package by
name (`dbt_utils.star`), `dbt` (the internal namespace), an internal macro
(`date_trunc`), then the context's own names (`ref`, `this`, ...) — a macro
named `ref` in the root project overrides `ref`, as dbt allows.

One `Namespace` exists per package whose nodes are rendered; its `context`
dict is live: the renderer sets the node-specific names in it before each render.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from predsql.dbt.adapter import Adapter, Database
from predsql.dbt.crossdb import internal_macros
from predsql.dbt.macros import MacroDef, MacroFunction, TemplateCache
from predsql.dbt.relation import Api
from predsql.errors import RenderError

INTERNAL = "dbt"
ADAPTER_PREFIXES = ("duckdb", "default")


@dataclass(frozen=True)
class MacroSet:
    """Every macro of a run, by package, with the root project's dispatch config."""

    root: str
    by_package: dict[str, dict[str, MacroDef]]
    dispatch: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def packages(self) -> list[str]:
        return [p for p in self.by_package if p != self.root]

    def find(self, name: str) -> MacroDef | None:
        for package in [self.root, *self.packages]:
            macro = self.by_package.get(package, {}).get(name)
            if macro is not None:
                return macro
        return None


class PackageMacros(Mapping[str, Any]):
    """`dbt_utils` in a template: the package's macros by attribute or by key."""

    def __init__(self, name: str, functions: dict[str, Any],
                 undefined: Callable[..., Any]) -> None:
        self._name = name
        self._functions = functions
        self._undefined = undefined

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        function = self._functions.get(name)
        if function is None:
            return self._undefined(
                hint=f"macro {name!r} is not defined in package {self._name!r}", name=name)
        return function

    def __getitem__(self, name: str) -> Any:
        return self._functions[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._functions)

    def __len__(self) -> int:
        return len(self._functions)

    def __repr__(self) -> str:
        return f"<package {self._name}>"


class Namespace:
    """Every macro as seen from one package, in one live context dict."""

    def __init__(self, macros: MacroSet, package: str, cache: TemplateCache,
                 base: dict[str, Any], db: Database, executing: Callable[[], bool]) -> None:
        self.macros = macros
        self.package = package
        self.context: dict[str, Any] = dict(base)
        env = cache.env
        self.adapter = Adapter(db, self.dispatch, executing)
        self.context["adapter"] = self.adapter
        self.context["api"] = Api()
        self.packages: dict[str, PackageMacros] = {}
        internal = internal_macros(self.context)
        self.packages[INTERNAL] = PackageMacros(INTERNAL, internal, env.undefined)
        for name, defs in macros.by_package.items():
            functions = {n: MacroFunction(d, cache, self.context) for n, d in defs.items()}
            self.packages[name] = PackageMacros(name, functions, env.undefined)
        self.user_names: set[str] = set()
        self.context.update(internal)
        self.context[INTERNAL] = self.packages[INTERNAL]
        for name in macros.by_package:
            self.context[name] = self.packages[name]
        for name in (macros.root, package):
            functions = self.packages[name]._functions if name in self.packages else {}
            self.context.update(functions)
            self.user_names.update(functions)

    def set_node_names(self, values: dict[str, Any]) -> None:
        """Names that change per node; a user macro of the same name keeps precedence."""
        for key, value in values.items():
            if key not in self.user_names:
                self.context[key] = value

    def lookup(self, name: str) -> Any:
        for scope in (self.package, self.macros.root):
            functions = self.packages.get(scope)
            if functions is not None and name in functions:
                return functions[name]
        if name in self.packages[INTERNAL]:
            return self.packages[INTERNAL][name]
        return None

    def from_package(self, package: str | None, name: str) -> Any:
        if package is None:
            return self.lookup(name)
        functions = self.packages.get(package)
        if functions is None:
            raise RenderError(
                f"dispatch: no package named {package!r}",
                hint="check the project's `dispatch:` search_order and the installed packages")
        return functions.get(name)

    def search_packages(self, namespace: str | None) -> list[str | None]:
        if namespace is None:
            return [None]
        if not isinstance(namespace, str):
            raise RenderError(f"dispatch: macro_namespace must be a string, not {namespace!r}")
        order = self.macros.dispatch.get(namespace)
        if order:
            return list(order)
        if namespace in self.packages:
            return [self.macros.root, namespace]
        return [None]

    def dispatch(self, macro_name: str, macro_namespace: str | None = None) -> Any:
        if "." in macro_name:
            space, _, name = macro_name.partition(".")
            raise RenderError(
                f"dispatch: {macro_name!r} contains a dot",
                hint=f"use adapter.dispatch('{name}', macro_namespace='{space}')")
        attempts = []
        for package in self.search_packages(macro_namespace):
            for prefix in ADAPTER_PREFIXES:
                search = f"{prefix}__{macro_name}"
                found = self.from_package(package, search)
                attempts.append(search if package is None else f"{package}.{search}")
                if found is not None:
                    return found
        raise RenderError(
            f"In dispatch: No macro named {macro_name!r} found within namespace: "
            f"{macro_namespace!r}; searched for: {', '.join(attempts)}",
            hint="install the package that defines it (predsql deps) or define the macro")


def macro_set(root: str, macros: dict[str, list[MacroDef]],
              dispatch: Any) -> MacroSet:
    """Group macro definitions by package and read the `dispatch:` config."""
    by_package = {package: {m.name: m for m in defs} for package, defs in macros.items()}
    by_package.setdefault(root, {})
    orders: dict[str, tuple[str, ...]] = {}
    for entry in dispatch or []:
        if isinstance(entry, dict) and entry.get("macro_namespace"):
            orders[str(entry["macro_namespace"])] = tuple(
                str(p) for p in entry.get("search_order") or [])
    return MacroSet(root, by_package, orders)


