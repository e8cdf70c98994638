"""`predsql docs generate` / `docs serve`: catalog.json and a static lineage and model-card site.

catalog.py      target/catalog.json in dbt's shape, from DuckDB's information_schema
model_cards.py  ML function cards: ONNX file facts, signature, settings
run_stats.py    per-function figures of the last run_results.json
ml_columns.py   column-level lineage of columns computed by ML functions (sqlglot)
graph_nodes.py  the lineage graph: project nodes plus ONNX files and ML functions
site_data.py    everything the page shows, as one JSON document
site_files.py   writes target/index.html, its assets and the data script
generate.py     the `docs generate` command
server.py       the `docs serve` command
"""
