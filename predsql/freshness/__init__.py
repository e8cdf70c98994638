"""`predsql source freshness` and the `source_status:` selector, as dbt has them.

A source table with `loaded_at_field` and `freshness: {warn_after, error_after,
filter}` (on the source, the table's keys over it; `freshness: null` turns it
off) is checked with `max(loaded_at_field)`; its age decides pass / warn /
error. Results go to target/sources.json in dbt's format (sources/v3).

    check.py      thresholds, the query, the status of one source
    artifact.py   target/sources.json: written, and read back for `source_status:`
    selection.py  `-s source:NAME.TABLE` for the command; `source_status:fresher` for runs
    command.py    the command: events, the artifact, the exit code
"""
