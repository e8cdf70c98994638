"""Database errors met while a node runs, explained with what to do."""

from __future__ import annotations

import difflib
import re

from predsql.compiler import CompiledNode, CompiledProject
from predsql.errors import ExecutionError

_MISSING = re.compile(r"Table with name (?P<name>\S+?) does not exist")


def missing_relation(exc: Exception, node: CompiledNode,
                     compiled: CompiledProject) -> ExecutionError | None:
    """"Table does not exist" for a seed, model or source this node reads: which
    one, and the command that creates it."""
    match = _MISSING.search(str(exc))
    if match is None:
        return None
    name = match.group("name").strip('"').lower()
    for uid in node.depends_on:
        upstream = compiled.nodes.get(uid)
        if upstream is None or upstream.alias.lower() != name:
            continue
        if upstream.resource_type == "seed":
            hint = (f"{upstream.name} is a seed that has not been loaded yet: run `predsql seed "
                    f"-s {upstream.name}` (or `predsql build`, which loads seeds first)")
        else:
            hint = (f"{upstream.name} has not been built yet: run `predsql run -s "
                    f"{upstream.name}`, or `predsql build -s +{node.name}` for everything "
                    f"{node.name} needs")
        return ExecutionError(f"{node.name!r} reads {upstream.relation}, which does not exist "
                              "yet", path=node.node.rel_path, hint=hint)
    for source_id in node.extra.get("source_ids", []):
        source = next((s for s in compiled.sources.values() if s.unique_id == source_id), None)
        if source is not None and source.identifier.lower() == name:
            return ExecutionError(
                f"{node.name!r} reads source {source.source_name}.{source.name} "
                f"({source.relation}), which does not exist in the database",
                path=node.node.rel_path,
                hint=f"load that table, or fix the source's schema/identifier in {source.path}")
    return None


def closest_name(name: str, compiled: CompiledProject) -> str | None:
    """The model or seed name closest to a misspelt one."""
    names = [n.name for n in compiled.nodes.values() if n.resource_type in ("model", "seed")]
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    return close[0] if close else None
