"""predsql: dbt-style batch inference in SQL on DuckDB and onnxruntime."""

__version__ = "0.1.0"
