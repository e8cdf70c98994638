"""Materializations as Python strategies: how a node's rows become a relation.

`base` holds tables, views and the atomic swap; `seeds`, `incremental` build on
it. `materialization_for` picks the strategy of a compiled node.
"""

from __future__ import annotations

from predsql.compiler import CompiledNode
from predsql.materializations.base import (
    BuildResult,
    Materialization,
    RowSource,
    SqlRows,
    TableMaterialization,
    ViewMaterialization,
    drop_quietly,
    replace_relation,
    swap_in,
    temp_name,
)
from predsql.materializations.external import ExternalMaterialization
from predsql.materializations.incremental import IncrementalMaterialization
from predsql.materializations.seeds import SeedMaterialization
from predsql.materializations.snapshot import SnapshotMaterialization

__all__ = [
    "BuildResult", "Materialization", "RowSource", "SqlRows", "TableMaterialization",
    "ViewMaterialization", "SeedMaterialization", "IncrementalMaterialization",
    "SnapshotMaterialization", "ExternalMaterialization",
    "drop_quietly", "replace_relation", "swap_in", "temp_name", "materialization_for",
]


def materialization_for(node: CompiledNode, external_root: str = ".") -> Materialization:
    """`external_root`: the profile's folder for `external` models' files."""
    if node.materialized == "external":
        return ExternalMaterialization(external_root)
    strategies: dict[str, Materialization] = {
        "table": TableMaterialization(),
        "view": ViewMaterialization(),
        "seed": SeedMaterialization(),
        "incremental": IncrementalMaterialization(),
        "snapshot": SnapshotMaterialization(),
    }
    return strategies[node.materialized]
