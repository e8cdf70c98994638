"""Executors: where the ML work of a map stage runs.

`local` (the default) runs onnxruntime in this process; `ray` sends each batch's
argument arrays to a pool of Ray actors and gets the result columns back, while
DuckDB keeps the relational work here. Ray is imported only by `raypool` and
`raycluster`, and only when a function runs on it.
"""
