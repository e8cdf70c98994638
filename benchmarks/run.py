"""predsql's benchmark: marginal throughput against onnxruntime alone and the usual
alternatives, fixed cost, cached and incremental re-runs, and peak memory.

    python benchmarks/run.py [--rows 1000000,4000000] [--repeats 2] [--device cpu|cuda]

Every measurement runs in its own process (peak RSS and CPU seconds from wait4);
approaches and sizes are interleaved within each repeat, and the best of the repeats
is kept per (model, approach, size). Throughput is the *marginal* rate between the
smallest and the largest size, (rows_large - rows_small) / (t_large - t_small), so
that interpreter start, imports, project loading and session creation do not count
as per-row cost; the fixed cost is reported separately (the intercept, and a direct
measurement against `python -c "import duckdb, onnxruntime"`).

Two clocks: wall seconds, and CPU seconds of every thread of the process. On a
machine shared with other work, wall time depends on what else runs; CPU seconds
measure the work each approach does and are the load-robust ratio. For `limit`
(onnxruntime alone) both clocks cover the inference section only (its set-up reads
the table, which scales with the rows); for the others, the whole process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import checks  # noqa: E402
from measure import measure  # noqa: E402

APPROACHES = ("limit", "predsql", "udf", "udf_flushed", "pandas")
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


def build_project(work: Path, rows: int, device: str, memory_limit: str,
                  models_from: Path | None = None, batch: int | None = None) -> Path:
    """The bench project: target `dev` sets DuckDB's memory_limit, target `nolimit` sets
    none (predsql's default applies). Models: score_<m> (plain), cached_<m> (cache: true),
    incr_<m> (incremental on the version column v)."""
    project = work / "bench"
    (project / "models").mkdir(parents=True, exist_ok=True)
    (project / "predsql_project.yml").write_text("name: bench\n")
    # an absolute path: a relative one starts at the working directory, as in dbt
    location = json.dumps(str((project / "bench.duckdb").resolve()))
    (project / "profiles.yml").write_text(
        "bench:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        f"      path: {location}\n      settings: {{memory_limit: '{memory_limit}'}}\n"
        f"    nolimit:\n      type: duckdb\n      path: {location}\n")
    functions = project / "functions"
    if models_from is not None:
        functions.mkdir(parents=True, exist_ok=True)
        for name in ("mlp", "gbt"):
            shutil.copyfile(models_from / f"{name}.onnx", functions / f"{name}.onnx")
    else:
        build_models(functions)
    size = f"    batch_size: {batch}\n" if batch else ""
    (functions / "functions.yml").write_text(
        "functions:\n" + "".join(
            f"  - name: {name}\n    model: {name}.onnx\n    device: {device}\n{size}"
            f"  - name: {name}_cached\n    model: {name}.onnx\n    device: {device}\n{size}"
            "    cache: true\n"
            for name in ("mlp", "gbt")))
    args = ", ".join(FEATURES)
    for name in ("mlp", "gbt"):
        models = project / "models"
        (models / f"score_{name}.sql").write_text(
            f"select id, {name}({args}) as score from features\n")
        (models / f"cached_{name}.sql").write_text(
            f"select id, {name}_cached({args}) as score from features\n")
        (models / f"incr_{name}.sql").write_text(
            "{{ config(materialized='incremental', unique_key='id') }}\n"
            f"select id, v, {name}({args}) as score from features\n"
            "{% if is_incremental() %} where v > (select max(v) from {{ this }}) {% endif %}\n")
    import duckdb

    db = project / "bench.duckdb"
    if db.exists():
        db.unlink()
    with duckdb.connect(str(db)) as con:
        columns = ", ".join(f"random() as {f}" for f in FEATURES)
        con.execute(f"create table features as select range as id, {columns}, 0 as v "
                    f"from range({rows})")
    return project


def basis(approach: str) -> tuple[str, str]:
    """Which clocks the marginal rate uses (see the module's docstring)."""
    if approach == "limit":
        return "seconds", "cpu_seconds"
    return "process_seconds", "process_cpu_seconds"


def marginal(runs: dict[int, list[dict]], approach: str) -> dict:
    sizes = sorted(runs)
    small, large = sizes[0], sizes[-1]
    wall_key, cpu_key = basis(approach)
    out = {}
    for clock, key in (("wall", wall_key), ("cpu", cpu_key)):
        t_small = min(r[key] for r in runs[small])
        t_large = min(r[key] for r in runs[large])
        delta = t_large - t_small
        out[f"{clock}_rows_per_second"] = (large - small) / delta if delta > 0 else float("inf")
        out[f"{clock}_fixed_seconds"] = t_small - small * delta / (large - small)
    out["peak_rss_mb"] = {n: max(r["peak_rss_mb"] for r in runs[n]) for n in sizes}
    return out


def summarize(results: dict) -> dict:
    summary: dict = {}
    for model, per in results.items():
        summary[model] = {a: marginal(runs, a) for a, runs in per.items()}
        for clock in ("wall", "cpu"):
            key = f"{clock}_rows_per_second"
            for ref in ("limit", "udf"):
                if ref not in summary[model]:
                    continue
                base = summary[model][ref][key]
                for row in summary[model].values():
                    row[f"{clock}_ratio_to_{ref}"] = row[key] / base
    return summary


def print_summary(sizes: list[int], summary: dict) -> None:
    print(f"\nMarginal throughput between {sizes[0]:,} and {sizes[-1]:,} rows, 16 float "
          f"features ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)")
    print(f"{'model':5} {'approach':11} {'wall rows/s':>12} {'/limit':>7} {'/udf':>6} "
          f"{'cpu rows/s':>12} {'/limit':>7} {'/udf':>6} {'fixed s':>8} {'RSS MB':>8}")
    for model, per in summary.items():
        for approach, row in per.items():
            print(f"{model:5} {approach:11} {row['wall_rows_per_second']:>12,.0f} "
                  f"{row.get('wall_ratio_to_limit', 0):>7.2f} {row.get('wall_ratio_to_udf', 0):>6.2f} "
                  f"{row['cpu_rows_per_second']:>12,.0f} {row.get('cpu_ratio_to_limit', 0):>7.2f} "
                  f"{row.get('cpu_ratio_to_udf', 0):>6.2f} {row['wall_fixed_seconds']:>8.2f} "
                  f"{max(row['peak_rss_mb'].values()):>8.0f}")
    print("(cpu rows/s: rows per CPU-second of all the process's threads; fixed s: the wall "
          "intercept of the marginal line)")


def setup(work: Path, rows: int, args: argparse.Namespace, models_from: Path | None) -> None:
    """Build a project in a child: a forked child inherits its parent's peak RSS on
    Linux, so the parent stays small and each measurement is the child's own."""
    command = [sys.executable, __file__, "--setup-only", "--rows", str(rows), "--device",
               args.device, "--workdir", str(work), "--memory-limit", args.memory_limit]
    if models_from is not None:
        command += ["--models-from", str(models_from)]
    if args.batch:
        command += ["--batch", str(args.batch)]
    subprocess.run(command, check=True)


def versions() -> dict:
    import duckdb
    import numpy
    import onnxruntime
    import pyarrow

    return {"python": platform.python_version(), "duckdb": duckdb.__version__,
            "onnxruntime": onnxruntime.__version__, "pyarrow": pyarrow.__version__,
            "numpy": numpy.__version__}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", default="1000000,4000000",
                        help="comma-separated sizes; the marginal rate is taken between the "
                        "smallest and the largest")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--models", default="mlp,gbt")
    parser.add_argument("--approaches", default=",".join(APPROACHES))
    parser.add_argument("--batch", type=int, default=None,
                        help="rows per onnxruntime call for predsql (batch_size) and, on "
                        "CUDA, for onnxruntime alone")
    parser.add_argument("--fixed-cost-repeats", type=int, default=5,
                        help="`predsql run` on a 1,000-row project against importing duckdb "
                        "and onnxruntime (0 to skip)")
    parser.add_argument("--project-sizes", default="",
                        help="model counts for the compile / no-op run timing of large "
                        "generated projects, e.g. 100,500,2000")
    parser.add_argument("--workdir", default=str(HERE / "results" / "work"))
    parser.add_argument("--memory-limit", default="128MB",
                        help="DuckDB memory_limit of the `dev` target, used by every approach "
                        "(the `nolimit` target sets none, so predsql's default applies)")
    parser.add_argument("--scale-rows", type=int, default=0,
                        help="also run predsql on this many rows and compare peak RSS")
    parser.add_argument("--check-models", default=None,
                        help="models of the RSS and cache checks (default: --models)")
    parser.add_argument("--no-cache-check", dest="cache_check", action="store_false",
                        help="skip the cached and incremental re-run measurements")
    parser.add_argument("--setup-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--models-from", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(HERE / "results" / "latest.json"))
    args = parser.parse_args()

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    if args.setup_only:
        build_project(work, int(args.rows), args.device, args.memory_limit,
                      Path(args.models_from) if args.models_from else None, args.batch)
        return
    sizes = sorted(int(s) for s in args.rows.split(","))
    works = {n: work / f"rows{n}" for n in sizes}
    first = None
    for n in sizes:
        setup(works[n], n, args, first)
        first = first or works[n] / "bench" / "functions"
    models = args.models.split(",")
    check_models = (args.check_models or args.models).split(",")
    approaches = args.approaches.split(",")
    results: dict = {m: {a: {n: [] for n in sizes} for a in approaches} for m in models}
    for _ in range(args.repeats):
        for n in sizes:
            for model in models:
                for approach in approaches:
                    results[model][approach][n].append(measure(
                        approach, model, works[n], args.device, args.memory_limit,
                        batch=args.batch))
    summary = summarize(results) if len(sizes) > 1 and args.repeats else {}
    if summary:
        print_summary(sizes, summary)
    report: dict = {"sizes": sizes, "device": args.device, "machine": platform.platform(),
                    "processor": platform.processor(), "cores": os.cpu_count(),
                    "load_average": os.getloadavg(), "versions": versions(),
                    "duckdb_memory_limit": args.memory_limit, "results": results,
                    "summary": summary}
    small, large = works[sizes[0]], works[sizes[-1]]
    if args.fixed_cost_repeats:
        tiny = work / "rows1000"
        if 1000 not in sizes:  # else built above
            setup(tiny, 1000, args, first)
        report["fixed_cost"] = checks.fixed_cost(tiny, models, args.fixed_cost_repeats,
                                                 args.device)
    if args.scale_rows:
        big = work / f"rows{args.scale_rows}"
        setup(big, args.scale_rows, args, first)
        report["scale_check"] = checks.scale_check(small, big, check_models, args.device)
    if args.cache_check:
        report["cache_check"] = checks.cache_check(large, check_models, args.device)
    sizes_gen = [int(s) for s in args.project_sizes.split(",") if s]
    if sizes_gen:
        report["project_fixed_cost"] = checks.project_fixed_cost(work, sizes_gen)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2, default=str))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
