"""predsql's benchmark: throughput and peak memory against onnxruntime alone and the usual
alternatives, plus the fixed cost of compiling and running large projects.

    python benchmarks/run.py --rows 1000000 [--device cpu|cuda] [--repeats 1]

Every measurement runs in its own process (peak RSS from wait4); approaches are
interleaved. Results print as a table and are written as JSON (--out).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
APPROACHES = ("limit", "predsql", "udf", "pandas")
FEATURES = [f"f{i}" for i in range(16)]


def build_models(functions: Path) -> None:
    import numpy as np
    from skl2onnx import to_onnx
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.neural_network import MLPRegressor

    rng = np.random.default_rng(0)
    x = rng.random((20000, 16)).astype(np.float32)
    y = x @ rng.normal(size=16) + np.sin(x[:, 0] * 6)
    mlp = MLPRegressor(hidden_layer_sizes=(64, 32), max_iter=30, random_state=0).fit(x, y)
    gbt = GradientBoostingRegressor(n_estimators=100, max_depth=6, random_state=0).fit(
        x[:5000], y[:5000])
    functions.mkdir(parents=True, exist_ok=True)
    for name, model in (("mlp", mlp), ("gbt", gbt)):
        (functions / f"{name}.onnx").write_bytes(to_onnx(model, x[:1]).SerializeToString())


def build_project(work: Path, rows: int, device: str, memory_limit: str) -> Path:
    project = work / "bench"
    (project / "models").mkdir(parents=True, exist_ok=True)
    (project / "predsql_project.yml").write_text("name: bench\n")
    (project / "profiles.yml").write_text(
        "bench:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        f"      path: bench.duckdb\n      settings: {{memory_limit: '{memory_limit}'}}\n")
    build_models(project / "functions")
    (project / "functions" / "functions.yml").write_text(
        "functions:\n" + "".join(
            f"  - name: {name}\n    model: {name}.onnx\n    device: {device}\n"
            f"  - name: {name}_cached\n    model: {name}.onnx\n    device: {device}\n"
            "    cache: true\n"
            for name in ("mlp", "gbt")))
    args = ", ".join(FEATURES)
    for name in ("mlp", "gbt"):
        (project / "models" / f"score_{name}.sql").write_text(
            f"select id, {name}({args}) as score from features\n")
        (project / "models" / f"cached_{name}.sql").write_text(
            f"select id, {name}_cached({args}) as score from features\n")
    import duckdb

    db = project / "bench.duckdb"
    if db.exists():
        db.unlink()
    with duckdb.connect(str(db)) as con:
        columns = ", ".join(f"random() as {f}" for f in FEATURES)
        con.execute(f"create table features as select range as id, {columns} from range({rows})")
    return project


def measure(approach: str, model: str, work: Path, device: str, memory_limit: str,
            node: str = "score") -> dict:
    if approach == "predsql":  # predsql itself is the measured process
        command = [sys.executable, "-m", "predsql", "run", "-s", f"{node}_{model}", "--quiet",
                   "--device", device, "--project-dir", str(work / "bench")]
    else:
        command = [sys.executable, str(HERE / "approaches.py"), approach, model, str(work),
                   device, memory_limit]
    began = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    out = proc.stdout.read() if proc.stdout else ""
    err = proc.stderr.read() if proc.stderr else ""
    wall = time.perf_counter() - began
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{approach}/{model} failed:\n{out}\n{err}")
    if approach == "predsql":
        entry = json.loads((work / "bench/target/run_results.json").read_text())["results"][0]
        stats = next(iter(entry["predsql"]["ml_functions"].values()))
        result = {"seconds": entry["execution_time"],
                  "rows": entry["adapter_response"]["rows_affected"],
                  "provider": stats["provider"], "rows_inferred": stats["rows_inferred"],
                  "rows_from_cache": stats["rows_from_cache"],
                  "detail": f"model build time; whole process {wall:.2f}s"}
    else:
        result = json.loads(out.strip().splitlines()[-1])
    result["peak_rss_mb"] = usage.ru_maxrss / 1024
    result["rows_per_second"] = result["rows"] / result["seconds"]
    return result


def fixed_cost(work: Path, sizes: list[int]) -> list[dict]:
    """`predsql compile` and a no-op `predsql run` on generated chains of models."""
    results = []
    for size in sizes:
        project = work / f"gen{size}"
        (project / "models").mkdir(parents=True, exist_ok=True)
        (project / "predsql_project.yml").write_text(
            "name: gen\nmodels:\n  gen:\n    +materialized: view\n")
        for i in range(size):
            parent = (i - 1) // 2  # a binary tree: views nest about log2(size) deep
            sql = "select 1 as id" if i == 0 else f"select id from {{{{ ref('m{parent}') }}}}"
            (project / "models" / f"m{i}.sql").write_text(sql)
        row = {"models": size}
        for command in ("compile", "run"):
            began = time.perf_counter()
            subprocess.run([sys.executable, "-m", "predsql", command, "--quiet",
                            "--project-dir", str(project)], check=True)
            row[f"{command}_seconds"] = round(time.perf_counter() - began, 2)
        results.append(row)
    return results


def print_table(rows: int, results: dict[str, dict[str, list[dict]]]) -> None:
    print(f"\n{rows:,} rows, 16 float features "
          f"({platform.processor() or platform.machine()}, {os.cpu_count()} cores)")
    print(f"{'model':6} {'approach':9} {'rows/s':>12} {'ratio':>7} {'peak RSS MB':>12}  detail")
    for model, per in results.items():
        limit = best(per["limit"])["rows_per_second"] if per.get("limit") else None
        for approach, runs in per.items():
            r = best(runs)
            ratio = f"{r['rows_per_second'] / limit:.2f}" if limit else "-"
            print(f"{model:6} {approach:9} {r['rows_per_second']:>12,.0f} {ratio:>7} "
                  f"{max(x['peak_rss_mb'] for x in runs):>12.0f}  {r.get('detail', '')}")


def best(runs: list[dict]) -> dict:
    return max(runs, key=lambda r: r["rows_per_second"])


def setup(work: Path, rows: int, args: argparse.Namespace) -> None:
    """Build the project in a child: a forked child inherits its parent's peak RSS on
    Linux, so the parent stays small and each measurement is the child's own."""
    subprocess.run([sys.executable, __file__, "--setup-only", "--rows", str(rows),
                    "--device", args.device, "--workdir", str(work),
                    "--memory-limit", args.memory_limit], check=True)


def scale_check(work: Path, args: argparse.Namespace, models: list[str],
                results: dict[str, dict[str, list[dict]]]) -> list[dict]:
    """Peak RSS of `predsql run` at --scale-rows against the main run (flat memory)."""
    big = work.parent / f"scale{args.scale_rows}"
    setup(big, args.scale_rows, args)
    rows = []
    for model in models:
        small = max(r["peak_rss_mb"] for r in results[model]["predsql"])
        large = measure("predsql", model, big, args.device, args.memory_limit)
        rows.append({"model": model, "rows": args.scale_rows, "rows_per_second":
                     large["rows_per_second"], "peak_rss_mb": large["peak_rss_mb"],
                     "ratio_to_main_run": large["peak_rss_mb"] / small})
        print(f"{model}: {args.scale_rows:,} rows at {large['rows_per_second']:,.0f} rows/s, "
              f"peak RSS {large['peak_rss_mb']:.0f} MB = {large['peak_rss_mb'] / small:.2f}x "
              f"the {args.rows:,}-row run")
    return rows


def cache_check(work: Path, args: argparse.Namespace, models: list[str]) -> list[dict]:
    """A cached re-run after 1% of the rows changed, as a fraction of the full run."""
    import duckdb

    rows = []
    for model in models:
        full = measure("predsql", model, work, args.device, args.memory_limit, "cached")
        with duckdb.connect(str(work / "bench" / "bench.duckdb")) as con:
            con.execute(f"update features set f0 = f0 + 1 where id % 100 = {len(rows)}")
        rerun = measure("predsql", model, work, args.device, args.memory_limit, "cached")
        fraction = rerun["seconds"] / full["seconds"]
        rows.append({"model": model, "full_seconds": full["seconds"],
                     "rerun_seconds": rerun["seconds"], "fraction": fraction,
                     "rerun_rows_inferred": rerun["rows_inferred"],
                     "rerun_rows_from_cache": rerun["rows_from_cache"]})
        print(f"{model}: cached re-run with 1% changed rows took {rerun['seconds']:.2f}s = "
              f"{fraction:.2f} of the full run ({full['seconds']:.2f}s); "
              f"{rerun['rows_inferred']:,} rows inferred, {rerun['rows_from_cache']:,} from cache")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--models", default="mlp,gbt")
    parser.add_argument("--approaches", default=",".join(APPROACHES))
    parser.add_argument("--fixed-cost", default="100,500,2000",
                        help="model counts for the compile/no-op run timing ('' to skip)")
    parser.add_argument("--workdir", default=str(HERE / "results" / "work"))
    parser.add_argument("--memory-limit", default="128MB",
                        help="DuckDB memory_limit for every approach (its buffer pool caches "
                        "the table otherwise, which is DuckDB's memory, not the executor's)")
    parser.add_argument("--scale-rows", type=int, default=0,
                        help="also run predsql on this many rows and compare peak RSS")
    parser.add_argument("--no-cache-check", dest="cache_check", action="store_false",
                        help="skip the cached re-run measurement")
    parser.add_argument("--setup-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(HERE / "results" / "latest.json"))
    args = parser.parse_args()

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    if args.setup_only:
        build_project(work, args.rows, args.device, args.memory_limit)
        return
    # Set up in a child process: a forked child inherits the parent's peak RSS on Linux,
    # so the parent stays small for the measurements to be the children's own.
    setup(work, args.rows, args)
    models = args.models.split(",")
    approaches = args.approaches.split(",")
    results: dict[str, dict[str, list[dict]]] = {m: {a: [] for a in approaches} for m in models}
    for _ in range(args.repeats):
        for model in models:
            for approach in approaches:
                results[model][approach].append(
                    measure(approach, model, work, args.device, args.memory_limit))
    print_table(args.rows, results)
    scale = scale_check(work, args, models, results) if args.scale_rows else []
    cached = cache_check(work, args, models) if args.cache_check else []
    sizes = [int(s) for s in args.fixed_cost.split(",") if s]
    fixed = fixed_cost(work, sizes) if sizes else []
    for row in fixed:
        print(f"{row['models']:5} models: compile {row['compile_seconds']:.2f}s, "
              f"no-op run {row['run_seconds']:.2f}s")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({
        "rows": args.rows, "device": args.device, "machine": platform.platform(),
        "cores": os.cpu_count(), "duckdb_memory_limit": args.memory_limit,
        "results": results, "scale_check": scale, "cache_check": cached,
        "fixed_cost": fixed}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
