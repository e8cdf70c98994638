"""Top-k similarity between two relations of vectors.

`spec.py` renders `{{ predsql.nearest(...) }}` as plain (slow, exact) SQL marked
with its parameters; `execute.py` finds those marks in a node's SQL, computes
each one with `exact.py` (blocked onnxruntime Gemm + TopK) or `approx.py`
(HNSW), and swaps the marked SQL for the computed work table.
"""
