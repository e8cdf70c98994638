"""One benchmark measurement, run in its own process so its peak RSS is its own.

    python benchmarks/approaches.py APPROACH MODEL WORKDIR DEVICE MEMORY_LIMIT [BATCH]

Prints one JSON line: {"seconds": ..., "cpu_seconds": ..., "rows": ..., "detail": ...}:
the wall and CPU seconds (all threads of the process) of the measured section only.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import numpy as np
import onnxruntime as ort
import pyarrow as pa

from predsql.ml.devices import preload_cuda_libraries

FEATURES = [f"f{i}" for i in range(16)]
MEMORY_LIMIT = "128MB"


def connect(db: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(db), read_only=read_only)
    con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
    return con


def cores() -> int:
    return len(os.sched_getaffinity(0))


def providers(device: str) -> list[str]:
    return ["CUDAExecutionProvider", "CPUExecutionProvider"] if device == "cuda" else [
        "CPUExecutionProvider"]


def flushed(path: Path) -> bytes | None:
    """The model with its subnormal weights set to zero, as predsql loads it (None when
    it has none)."""
    import onnx

    from predsql.ml.onnx_files import subnormal_weights

    model = onnx.load(str(path))
    return model.SerializeToString() if subnormal_weights(model, flush=True) else None


def session(path: Path | bytes, threads: int, device: str) -> ort.InferenceSession:
    if device == "cuda":
        preload_cuda_libraries()  # the cuda extra's libraries, as predsql loads them
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    model = path if isinstance(path, bytes) else str(path)
    sess = ort.InferenceSession(model, options, providers=providers(device))
    if device == "cuda" and sess.get_providers()[0] != "CUDAExecutionProvider":
        raise SystemExit(f"onnxruntime cannot run on CUDA here: {sess.get_providers()}")
    return sess


class Section:
    """Wall and CPU seconds (every thread of this process) of one block."""

    def __enter__(self) -> Section:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def load_matrix(db: Path) -> np.ndarray:
    with connect(db, read_only=True) as con:
        table = con.sql(f"select {', '.join(FEATURES)} from features").to_arrow_table()
    matrix = np.empty((table.num_rows, len(FEATURES)), dtype=np.float32)
    for j, name in enumerate(FEATURES):
        matrix[:, j] = table.column(name).to_numpy()
    return matrix


def _run_cpu(sess: ort.InferenceSession, x: np.ndarray, workers: int, batch: int) -> None:
    name = sess.get_inputs()[0].name
    starts = range(0, len(x), batch)
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda s: sess.run(None, {name: x[s:s + batch]}), starts))
    else:
        for s in starts:
            sess.run(None, {name: x[s:s + batch]})


def _run_bound(sess: ort.InferenceSession, x: np.ndarray, batch: int) -> None:
    """I/O binding: the input copied to the device by onnxruntime, the output kept there
    and copied back once per call (what predsql's CUDA path does)."""
    binding = sess.io_binding()
    name, out = sess.get_inputs()[0].name, sess.get_outputs()[0].name
    for s in range(0, len(x), batch):
        binding.bind_cpu_input(name, x[s:s + batch])
        binding.bind_output(out, "cuda")
        sess.run_with_iobinding(binding)
        binding.copy_outputs_to_cpu()


def run_limit(model: Path, db: Path, device: str, batch: int | None) -> dict:
    """onnxruntime alone on a contiguous float32 array: best of a few settings (on CUDA:
    at predsql's batch, plain and with I/O binding), on the model as it is and, when it
    has subnormal weights, with them flushed (as predsql runs it)."""
    x = load_matrix(db)
    models: list[tuple[str, Path | bytes]] = [("", model)]
    if (data := flushed(model)) is not None:
        models.append((" subnormal weights flushed", data))
    if device == "cuda":
        batch = batch or 65536
        settings = [(1, 1, batch, False), (1, 1, batch, True)]
    else:
        settings = [(1, cores(), 2048, False), (1, cores(), 8192, False),
                    (cores(), 1, 8192, False), (cores(), 1, 65536, False)]
    best, cpu = None, None
    for (label, source), (intra, workers, size, bound) in (
            (m, s) for m in models for s in settings):
        sess = session(source, intra, device)
        sess.run(None, {sess.get_inputs()[0].name: x[:size]})  # warm up
        with Section() as section:
            if bound:
                _run_bound(sess, x, size)
            else:
                _run_cpu(sess, x, workers, size)
        detail = f"intra_op={intra} workers={workers} batch={size}" + (
            " io_binding" if bound else "") + label
        if best is None or section.wall < best["seconds"]:
            best = {"seconds": section.wall, "rows": len(x), "detail": detail}
        if cpu is None or section.cpu < cpu[0]:
            cpu = (section.cpu, detail)
    # the fastest setting by each clock (spinning intra-op threads cost CPU, not wall)
    return {**best, "cpu_seconds": cpu[0], "cpu_detail": cpu[1]}


def run_udf(model: Path, db: Path, device: str, flush: bool = False) -> dict:
    """DuckDB arrow UDF wrapping one onnxruntime session (1 intra-op thread); with
    `flush`, on the model with its subnormal weights flushed (as predsql runs it)."""
    sess = session((flushed(model) or model) if flush else model, 1, device)
    name = sess.get_inputs()[0].name

    def predict_columns(columns: list[pa.Array]) -> pa.Array:
        matrix = np.empty((len(columns[0]), len(columns)), dtype=np.float32)
        for j, column in enumerate(columns):
            matrix[:, j] = column.to_numpy(zero_copy_only=False)
        (out,) = sess.run(None, {name: matrix})[:1]
        return pa.array(np.asarray(out, dtype=np.float32).reshape(-1))

    def predict(f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15):  # noqa: ANN001
        return predict_columns([f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14,
                                f15])

    with connect(db) as con:
        con.create_function("f", predict, [duckdb.sqltype("DOUBLE")] * 16,
                            duckdb.sqltype("FLOAT"), type="arrow")
        con.execute("drop table if exists udf_out")
        with Section() as section:
            con.execute(f"create table udf_out as select id, f({', '.join(FEATURES)}) as score "
                        "from features")
        rows = con.execute("select count(*) from udf_out").fetchone()[0]
        con.execute("drop table udf_out")
    return {"seconds": section.wall, "cpu_seconds": section.cpu, "rows": rows,
            "detail": "arrow UDF, 1 intra-op thread" + (", subnormals flushed" if flush else "")}


def run_pandas(model: Path, db: Path, device: str) -> dict:
    """What a dbt Python model does: .df(), onnxruntime on the values, table from the frame."""
    sess = session(model, cores(), device)
    name = sess.get_inputs()[0].name
    with connect(db) as con:
        con.execute("drop table if exists pandas_out")
        with Section() as section:
            frame = con.sql(f"select id, {', '.join(FEATURES)} from features").df()
            x = frame[FEATURES].to_numpy(dtype=np.float32)
            out = np.concatenate([np.asarray(sess.run(None, {name: x[s:s + 65536]})[0]).reshape(-1)
                                  for s in range(0, len(x), 65536)])
            result = frame[["id"]].assign(score=out.astype(np.float32))
            con.register("result", result)
            con.execute("create table pandas_out as select * from result")
        rows = con.execute("select count(*) from pandas_out").fetchone()[0]
        con.execute("drop table pandas_out")
    return {"seconds": section.wall, "cpu_seconds": section.cpu, "rows": rows,
            "detail": "pandas .df() round trip"}


def main() -> None:
    approach, model_name, workdir, device, memory_limit = sys.argv[1:6]
    batch = int(sys.argv[6]) if len(sys.argv) > 6 else None
    work = Path(workdir)
    db = work / "bench" / "bench.duckdb"
    model = work / "bench" / "functions" / f"{model_name}.onnx"
    threading.current_thread().name = approach
    global MEMORY_LIMIT
    MEMORY_LIMIT = memory_limit
    if approach == "limit":
        result = run_limit(model, db, device, batch)
    elif approach in ("udf", "udf_flushed"):
        result = run_udf(model, db, device, flush=approach == "udf_flushed")
    elif approach == "pandas":
        result = run_pandas(model, db, device)
    else:
        raise SystemExit(f"unknown approach {approach}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
