"""The plan of a model with ML calls: DuckDB computes everything but the ML calls.

Each SELECT scope holding ML calls becomes a *map stage*:

    input relation (FROM, JOINs, WHERE conjuncts without ML calls)
      -> map (ML outputs appended batch by batch, in Python)
      -> the rest of the scope (projection, ML filters, GROUP BY, windows, ORDER BY)

The input query projects the columns the rest of the scope needs (`__c<i>`) and
the call arguments cast to the model's input types (`__a<i>`); the map appends
`__r<i>`; the scope is rewritten to read `__m.__c<i>` / `__m.__r<i>` from the
stage's relation. Scopes are processed innermost first (CTEs before their
readers, inner calls before outer calls), so nested calls become chained stages.

ml/plan_build.py builds a plan with sqlglot; ml/plan_cache.py keeps it in target/.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from predsql.ml.specs import MlFunction

MAP_ALIAS = "__m"


@dataclass(frozen=True)
class StageCall:
    """One distinct ML call of a stage: its arguments arrive as the input query's columns
    `arg_columns` (in the model's order, cast to its input types; NULL -> NaN for
    on_null: nan), its result leaves as `result_column` (a STRUCT for `outputs:`)."""

    fn: MlFunction
    arg_columns: tuple[str, ...]
    result_column: str
    sql: str
    cached: str | None = None  # prediction cache: the input column holding the cached result
    # (NULL where the tuple is not cached); only those rows are sent to the model


@dataclass(frozen=True)
class Stage:
    input_sql: str
    probe_sql: str  # the input query with uncast arguments, to read their types
    passthrough: tuple[str, ...]
    calls: tuple[StageCall, ...]
    relation: str  # what the rewritten scope reads: a work table or a stream name
    streamed: bool


@dataclass
class Plan:
    stages: list[Stage] = field(default_factory=list)
    final_sql: str = ""
