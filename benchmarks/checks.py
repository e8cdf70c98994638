"""The benchmark's other checks: fixed cost, cached and incremental re-runs, peak RSS,
large projects. Each measured command runs in its own process (see measure.py)."""

from __future__ import annotations

import compileall
import subprocess
import sys
import time
from pathlib import Path

from measure import measure, predsql_command, process

IMPORTS = [sys.executable, "-c", "import duckdb, onnxruntime"]


def _best(runs: list[dict], key: str) -> float:
    return min(r[key] for r in runs)


def fixed_cost(tiny: Path, models: list[str], repeats: int, device: str) -> dict:
    """`predsql run` of one ML model on a 1,000-row table, against a process that only
    imports duckdb and onnxruntime; interleaved, best of `repeats`. predsql's bytecode
    is compiled first, as `pip install` does: an editable install under
    PYTHONDONTWRITEBYTECODE=1 otherwise compiles every module from source on each run."""
    import predsql

    compileall.compile_dir(str(Path(predsql.__file__).parent), quiet=1)
    runs: dict[str, list[dict]] = {"imports": [], **{m: [] for m in models}}
    for _ in range(repeats):
        runs["imports"].append(process(IMPORTS)[1])
        for model in models:
            runs[model].append(measure("predsql", model, tiny, device, ""))
    base_wall = _best(runs["imports"], "process_seconds")
    base_cpu = _best(runs["imports"], "process_cpu_seconds")
    result: dict = {"imports_seconds": base_wall, "imports_cpu_seconds": base_cpu, "runs": runs}
    print(f"\nFixed cost (best of {repeats}): python -c 'import duckdb, onnxruntime' "
          f"{base_wall:.2f}s wall, {base_cpu:.2f}s CPU")
    for model in models:
        wall = _best(runs[model], "process_seconds")
        cpu = _best(runs[model], "process_cpu_seconds")
        result[model] = {"seconds": wall, "cpu_seconds": cpu, "above_imports": wall - base_wall,
                         "cpu_above_imports": cpu - base_cpu}
        print(f"  predsql run, one {model} model on 1,000 rows: {wall:.2f}s wall "
              f"(+{wall - base_wall:.2f}s), {cpu:.2f}s CPU (+{cpu - base_cpu:.2f}s)")
    return result


def scale_check(small: Path, big: Path, models: list[str], device: str) -> list[dict]:
    """Peak RSS of `predsql run` on the large table against the small one, with the
    profile's memory_limit (target dev) and with none (target nolimit: predsql's default)."""
    rows = []
    print()
    for target in ("dev", "nolimit"):
        for model in models:
            one = measure("predsql", model, small, device, "", target=target)
            many = measure("predsql", model, big, device, "", target=target)
            ratio = many["peak_rss_mb"] / one["peak_rss_mb"]
            rows.append({"model": model, "target": target, "small": one, "large": many,
                         "rss_ratio": ratio})
            print(f"{model} ({target}): peak RSS {one['peak_rss_mb']:.0f} MB -> "
                  f"{many['peak_rss_mb']:.0f} MB = {ratio:.2f}x "
                  f"({one['rows']:,} -> {many['rows']:,} rows)")
    return rows


def _sql(work: Path, sql: str) -> list[tuple]:
    import duckdb

    with duckdb.connect(str(work / "bench" / "bench.duckdb")) as con:
        return con.execute(sql).fetchall()


def _changed(work: Path, every: int, residue: int) -> int:
    """Change the features of 1/every of the rows and bump their version v."""
    _sql(work, f"update features set f0 = f0 + 1, v = (select max(v) from features) + 1 "
         f"where id % {every} = {residue}")
    return _sql(work, f"select count(*) from features where id % {every} = {residue}")[0][0]


def _identical(work: Path, table: str, model: str, device: str) -> bool:
    """The cached result against a --no-cache run of the same model, row for row."""
    _sql(work, f"create or replace table cache_result as select * from {table}")
    measure("predsql", model, work, device, "", node="cached", extra=("--no-cache",))
    diff = _sql(work, f"select (select count(*) from (from cache_result except all from {table}))"
                f" + (select count(*) from (from {table} except all from cache_result))")[0][0]
    _sql(work, "drop table cache_result")
    return diff == 0


def cache_check(work: Path, models: list[str], device: str) -> list[dict]:
    """Cached re-run after 1% of the rows changed, as a fraction of the cold-cache run;
    then an incremental model after 1% and 10% changed, against its full build."""
    rows = []
    print()
    for i, model in enumerate(models):
        subprocess.run(predsql_command(work, "cache clear"), check=True)
        cold = measure("predsql", model, work, device, "", node="cached")
        changed = _changed(work, 100, i)
        warm = measure("predsql", model, work, device, "", node="cached")
        same = _identical(work, f"cached_{model}", model, device)
        row = {"model": model, "kind": "cache", "changed_rows": changed, "cold": cold,
               "rerun": warm, "fraction": warm["seconds"] / cold["seconds"],
               "process_fraction": warm["process_seconds"] / cold["process_seconds"],
               "cpu_fraction": warm["process_cpu_seconds"] / cold["process_cpu_seconds"],
               "identical_to_no_cache": same}
        rows.append(row)
        print(f"{model}: cached re-run, {changed:,} rows changed: build {warm['seconds']:.2f}s = "
              f"{row['fraction']:.3f} of the cold-cache build ({cold['seconds']:.2f}s); whole "
              f"process {row['process_fraction']:.3f} (wall), {row['cpu_fraction']:.3f} (CPU); "
              f"{warm['rows_inferred']:,} inferred, {warm['rows_from_cache']:,} from cache; "
              f"identical to --no-cache: {same}")
    for i, model in enumerate(models):
        full = measure("predsql", model, work, device, "", node="incr", extra=("--full-refresh",))
        for every, residue in ((100, 50 + i), (10, 5 + i)):
            changed = _changed(work, every, residue)
            rerun = measure("predsql", model, work, device, "", node="incr")
            row = {"model": model, "kind": "incremental", "changed_rows": changed,
                   "full": full, "rerun": rerun, "fraction": rerun["seconds"] / full["seconds"],
                   "cpu_fraction": rerun["process_cpu_seconds"] / full["process_cpu_seconds"]}
            rows.append(row)
            print(f"{model}: incremental re-run, {changed:,} rows changed: build "
                  f"{rerun['seconds']:.2f}s = {row['fraction']:.3f} of the full build "
                  f"({full['seconds']:.2f}s); whole process CPU {row['cpu_fraction']:.3f}; "
                  f"{rerun['rows_inferred']:,} inferred")
    return rows


def project_fixed_cost(work: Path, sizes: list[int]) -> list[dict]:
    """`predsql compile` and a no-op `predsql run` on generated trees of view models."""
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
        print(f"{size:5} models: compile {row['compile_seconds']:.2f}s, "
              f"no-op run {row['run_seconds']:.2f}s")
    return results
