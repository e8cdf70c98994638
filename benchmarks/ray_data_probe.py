"""The design alternative, measured: Ray Data `map_batches` with an actor pool.

    python benchmarks/ray_data_probe.py MODEL PROJECT_DIR   (RAY_ADDRESS set)

Reads the features from DuckDB as Arrow batches, makes a dataset of them
(`ray.data.from_arrow`, which puts every batch in the object store first: Ray Data
has no source that streams from a process-local DuckDB cursor), maps them with an
actor pool of 2 onnxruntime sessions, and writes the results back to DuckDB from
`iter_batches` (order preserved). Prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

FEATURES = [f"f{i}" for i in range(16)]
BATCH = 65536


class Scorer:
    def __init__(self, model: bytes) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        self.session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        self.name = self.session.get_inputs()[0].name

    def __call__(self, batch: pa.Table) -> pa.Table:
        x = np.empty((batch.num_rows, len(FEATURES)), dtype=np.float32)
        for j, name in enumerate(FEATURES):
            x[:, j] = batch.column(name).to_numpy()
        out = np.asarray(self.session.run(None, {self.name: x})[0]).reshape(-1)
        return pa.table({"id": batch.column("id"), "score": out.astype(np.float32)})


def main() -> None:
    import ray

    model, project = sys.argv[1], Path(sys.argv[2])
    ray.init(address="auto", log_to_driver=False, configure_logging=False)
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False
    model_bytes = (project / "functions" / f"{model}.onnx").read_bytes()
    con = duckdb.connect(str(project / "bench.duckdb"))
    con.execute("SET memory_limit = '128MB'")
    began = time.perf_counter()
    reader = con.sql(f"select id, {', '.join(FEATURES)} from features").to_arrow_reader(BATCH)
    tables = [pa.Table.from_batches([b]) for b in reader]
    dataset = ray.data.from_arrow(tables).map_batches(
        Scorer, fn_constructor_args=(model_bytes,), batch_format="pyarrow", batch_size=BATCH,
        compute=ray.data.ActorPoolStrategy(size=2), num_cpus=1)
    con.execute("drop table if exists ray_data_out")
    first = True
    for batch in dataset.iter_batches(batch_format="pyarrow", batch_size=None):
        con.register("batch", batch)
        con.execute("create table ray_data_out as select * from batch" if first
                    else "insert into ray_data_out select * from batch")
        con.unregister("batch")
        first = False
    seconds = time.perf_counter() - began
    rows = con.execute("select count(*) from ray_data_out").fetchone()[0]
    con.execute("drop table ray_data_out")
    print(json.dumps({"seconds": seconds, "rows": rows,
                      "detail": "ray.data.from_arrow + map_batches(actor pool of 2)"}))


if __name__ == "__main__":
    main()
