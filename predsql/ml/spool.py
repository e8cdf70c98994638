"""New prediction-cache entries, spooled to a temporary Arrow file while a stage streams.

The stage infers the tuples its cache lacks and writes them here as it goes (flat
memory, no second DuckDB statement while the stage's own statement runs); once that
statement is done, the cache is filled from the file in one INSERT (ml/cache.py: store).
"""

from __future__ import annotations

import os
import tempfile

import pyarrow as pa


class TupleSpool:
    """Argument tuples and their results: columns a0 .. ak, result."""

    def __init__(self) -> None:
        self.path: str | None = None
        self.rows = 0
        self._sink: pa.NativeFile | None = None
        self._writer: pa.ipc.RecordBatchStreamWriter | None = None

    def write(self, arrays: list[pa.Array], result: pa.Array) -> None:
        if not len(result):
            return
        names = [f"a{i}" for i in range(len(arrays))] + ["result"]
        batch = pa.RecordBatch.from_arrays([*arrays, result], names=names)
        if self._writer is None:
            handle, self.path = tempfile.mkstemp(prefix="predsql_cache_", suffix=".arrows")
            os.close(handle)
            self._sink = pa.OSFile(self.path, "wb")
            self._writer = pa.ipc.new_stream(self._sink, batch.schema)
        self._writer.write_batch(batch)
        self.rows += len(result)

    def reader(self) -> pa.RecordBatchReader | None:
        """What was written (None when nothing was); writing ends."""
        self._finish()
        if self.path is None or not self.rows:
            return None
        return pa.ipc.open_stream(pa.OSFile(self.path, "rb"))

    def _finish(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._sink is not None:
            self._sink.close()
            self._sink = None

    def close(self) -> None:
        self._finish()
        if self.path is not None:
            try:
                os.unlink(self.path)
            except OSError:
                pass
            self.path = None
