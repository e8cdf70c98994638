"""One benchmark measurement, run in its own process so its peak RSS is its own.

    python benchmarks/approaches.py APPROACH MODEL WORKDIR DEVICE

Prints one JSON line: {"seconds": ..., "rows": ..., "detail": ...}.
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


def session(path: Path, threads: int, device: str) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=providers(device))


def load_matrix(db: Path) -> np.ndarray:
    with connect(db, read_only=True) as con:
        table = con.sql(f"select {', '.join(FEATURES)} from features").to_arrow_table()
    matrix = np.empty((table.num_rows, len(FEATURES)), dtype=np.float32)
    for j, name in enumerate(FEATURES):
        matrix[:, j] = table.column(name).to_numpy()
    return matrix


def run_limit(model: Path, db: Path, device: str) -> dict:
    """onnxruntime alone on a contiguous float32 array: best of a few settings."""
    x = load_matrix(db)
    n = len(x)
    if device == "cuda":
        settings = [(1, 1, 65536), (1, 1, 262144), (1, 1, 1048576)]
    else:
        settings = [(1, cores(), 2048), (1, cores(), 8192), (cores(), 1, 8192),
                    (cores(), 1, 65536)]
    best = None
    for intra, workers, batch in settings:
        sess = session(model, intra, device)
        name = sess.get_inputs()[0].name
        sess.run(None, {name: x[:batch]})  # warm up
        starts = range(0, n, batch)
        began = time.perf_counter()
        if workers > 1:
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(lambda s, b=batch, r=sess.run, n=name: r(None, {n: x[s:s + b]}),
                              starts))
        else:
            for s in starts:
                sess.run(None, {name: x[s:s + batch]})
        seconds = time.perf_counter() - began
        if best is None or seconds < best["seconds"]:
            best = {"seconds": seconds, "rows": n,
                    "detail": f"intra_op={intra} workers={workers} batch={batch}"}
    return best


def run_udf(model: Path, db: Path, device: str) -> dict:
    """DuckDB arrow UDF wrapping one onnxruntime session (1 intra-op thread)."""
    sess = session(model, 1, device)
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
        began = time.perf_counter()
        con.execute(f"create table udf_out as select id, f({', '.join(FEATURES)}) as score "
                    "from features")
        seconds = time.perf_counter() - began
        rows = con.execute("select count(*) from udf_out").fetchone()[0]
        con.execute("drop table udf_out")
    return {"seconds": seconds, "rows": rows, "detail": "arrow UDF, 1 intra-op thread"}


def run_pandas(model: Path, db: Path, device: str) -> dict:
    """What a dbt Python model does: .df(), onnxruntime on the values, table from the frame."""
    sess = session(model, cores(), device)
    name = sess.get_inputs()[0].name
    with connect(db) as con:
        con.execute("drop table if exists pandas_out")
        began = time.perf_counter()
        frame = con.sql(f"select id, {', '.join(FEATURES)} from features").df()
        x = frame[FEATURES].to_numpy(dtype=np.float32)
        out = np.concatenate([np.asarray(sess.run(None, {name: x[s:s + 65536]})[0]).reshape(-1)
                              for s in range(0, len(x), 65536)])
        result = frame[["id"]].assign(score=out.astype(np.float32))
        con.register("result", result)
        con.execute("create table pandas_out as select * from result")
        seconds = time.perf_counter() - began
        rows = con.execute("select count(*) from pandas_out").fetchone()[0]
        con.execute("drop table pandas_out")
    return {"seconds": seconds, "rows": rows, "detail": "pandas .df() round trip"}


def main() -> None:
    approach, model_name, workdir, device, memory_limit = sys.argv[1:6]
    work = Path(workdir)
    db = work / "bench" / "bench.duckdb"
    model = work / "bench" / "functions" / f"{model_name}.onnx"
    threading.current_thread().name = approach
    global MEMORY_LIMIT
    MEMORY_LIMIT = memory_limit
    if approach == "limit":
        result = run_limit(model, db, device)
    elif approach == "udf":
        result = run_udf(model, db, device)
    elif approach == "pandas":
        result = run_pandas(model, db, device)
    else:
        raise SystemExit(f"unknown approach {approach}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
