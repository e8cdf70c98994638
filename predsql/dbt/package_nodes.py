"""A package's models, seeds and tests, found as the project's are."""

from __future__ import annotations

from predsql.errors import ProjectError
from predsql.nodes import Node, Properties, discover_nodes, read_properties
from predsql.project import Project


def check_unique_names(nodes: list[Node]) -> None:
    seen: dict[str, Node] = {}
    for node in nodes:
        if node.resource_type in ("test", "analysis"):
            continue
        first = seen.setdefault(node.name.lower(), node)
        if first is not node:
            raise ProjectError(
                f"two nodes are named {node.name!r}: {first.unique_id} ({first.rel_path}) and "
                f"{node.unique_id} ({node.rel_path})", path=node.rel_path,
                hint="names are case-insensitive and unique across the project and its "
                     "packages; disable or rename one of them")


def package_nodes(view: Project, props: Properties) -> list[Node]:
    """A package's models, seeds and tests; its properties join the project's."""
    own = read_properties(view)
    for name, entry in [*own.models.items(), *own.seeds.items()]:
        target = props.models if name in own.models else props.seeds
        if name in target:
            raise ProjectError(f"package {view.name!r} describes {name!r}, which the "
                               f"project also describes ({target[name]['__path__']})",
                               path=view.root / entry["__path__"],
                               hint="model and seed names must be unique across packages")
        target[name] = entry
    props.sources.update(own.sources)
    props.docs.update({k: v for k, v in own.docs.items() if k not in props.docs})
    return discover_nodes(view, own)


