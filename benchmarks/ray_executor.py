"""The Ray executor against the local executor: overhead, driver memory, actors, Ray Data.

    python benchmarks/ray_executor.py --rows 1000000 --scale-rows 10000000

Uses the project of benchmarks/run.py (features(id, f0..f15), the MLP and the GBT).
This process starts one Ray instance (`ray.init(num_cpus=2)`, as a head node would) and
every measured `predsql run` connects to it (`address: auto`, RAY_ADDRESS), so Ray's
start-up is not in the figures while each run's actor start-up and model loading are.
Each measurement is its own process: peak RSS and CPU seconds (user + system) come
from wait4 and are the driver's own (Ray's workers are not its children). Approaches
are interleaved. Prints a table and writes JSON (--out).

Configurations (profile targets added to the project):
  local        the local executor (2 worker threads)
  ray1         1 actor x 1 CPU            ray2   2 actors x 1 CPU
  ray1x2       1 actor x 2 CPUs
  ray-data     Ray Data map_batches over an actor pool of 2 (not predsql: the design
               alternative, see docs/decisions.md)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import FEATURES, setup  # noqa: E402

TARGETS = {
    "ray1": "{type: ray, address: auto, actors: 1, num_cpus_per_actor: 1}",
    "ray2": "{type: ray, address: auto, actors: 2, num_cpus_per_actor: 1}",
    "ray1x2": "{type: ray, address: auto, actors: 1, num_cpus_per_actor: 2}",
}


def add_targets(project: Path, memory_limit: str) -> None:
    text = (project / "profiles.yml").read_text()
    # an absolute path: a relative one starts at the working directory, as in dbt
    location = json.dumps(str((project / "bench.duckdb").resolve()))
    for name, executor in TARGETS.items():
        if f"    {name}:" not in text:
            text += (f"    {name}:\n      type: duckdb\n      path: {location}\n"
                     f"      settings: {{memory_limit: '{memory_limit}'}}\n"
                     f"      executor: {executor}\n")
    (project / "profiles.yml").write_text(text)


def measure(config: str, model: str, work: Path) -> dict:
    project = work / "bench"
    if config == "ray-data":
        command = [sys.executable, str(HERE / "ray_data_probe.py"), model, str(project)]
    else:
        command = [sys.executable, "-m", "predsql", "run", "-s", f"score_{model}", "--quiet",
                   "--project-dir", str(project)]
        if config != "local":
            command += ["--target", config]
    began = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    out = proc.stdout.read() if proc.stdout else ""
    err = proc.stderr.read() if proc.stderr else ""
    wall = time.perf_counter() - began
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{config}/{model} failed:\n{out}\n{err}")
    result = {"config": config, "model": model, "wall_seconds": wall,
              "peak_rss_mb": usage.ru_maxrss / 1024,
              "driver_cpu_seconds": usage.ru_utime + usage.ru_stime}
    if config == "ray-data":
        result.update(json.loads(out.strip().splitlines()[-1]))
        return result
    entry = json.loads((project / "target/run_results.json").read_text())["results"][0]
    stats = next(iter(entry["predsql"]["ml_functions"].values()))
    result.update(seconds=entry["execution_time"],
                  rows=entry["adapter_response"]["rows_affected"],
                  inference_seconds=stats["inference_seconds"],
                  startup_seconds=stats.get("startup_seconds", 0.0),
                  per_actor={k: round(v["rows_per_second"]) for k, v in
                             (stats.get("per_actor") or {}).items()})
    return result


def start_ray() -> str:
    import ray

    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=512 * 2**20,
             log_to_driver=False, configure_logging=False)
    return ray.get_runtime_context().gcs_address


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--scale-rows", type=int, default=0)
    parser.add_argument("--models", default="gbt,mlp")
    parser.add_argument("--configs", default="local,ray2,ray1,ray1x2,ray-data")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--memory-limit", default="128MB")
    parser.add_argument("--workdir", default=str(HERE / "results" / "ray_work"))
    parser.add_argument("--out", default=str(HERE / "results" / "ray_executor.json"))
    args = parser.parse_args()
    args.device = "cpu"
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    setup(work, args.rows, args)
    add_targets(work / "bench", args.memory_limit)
    os.environ["RAY_ADDRESS"] = start_ray()
    models, configs = args.models.split(","), args.configs.split(",")
    runs = []
    for _ in range(args.repeats):
        for model in models:
            for config in configs:
                runs.append(measure(config, model, work))
                print(json.dumps(runs[-1]), flush=True)
    scale = []
    if args.scale_rows:
        big = work.parent / f"ray_scale{args.scale_rows}"
        setup(big, args.scale_rows, args)
        add_targets(big / "bench", args.memory_limit)
        for model in models:
            for config in ("local", "ray2"):
                scale.append(measure(config, model, big))
                print(json.dumps(scale[-1]), flush=True)
    report(args, runs, scale)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"rows": args.rows, "cores": os.cpu_count(),
                                          "runs": runs, "scale": scale}, indent=2))
    print(f"wrote {args.out}")


def report(args: argparse.Namespace, runs: list[dict], scale: list[dict]) -> None:
    def best(model: str, config: str, rows: list[dict]) -> dict:
        found = [r for r in rows if r["model"] == model and r["config"] == config]
        return min(found, key=lambda r: r["seconds"])

    print(f"\n{args.rows:,} rows, {len(FEATURES)} float features, {os.cpu_count()} cores")
    print(f"{'model':5} {'config':8} {'seconds':>8} {'x local':>8} {'rows/s':>10} "
          f"{'RSS MB':>7} {'drv CPU s':>9} {'start s':>7}  per-actor rows/s")
    for model in args.models.split(","):
        local = best(model, "local", runs)["seconds"]
        for config in args.configs.split(","):
            r = best(model, config, runs)
            print(f"{model:5} {config:8} {r['seconds']:8.2f} {r['seconds'] / local:8.2f} "
                  f"{r['rows'] / r['seconds']:10,.0f} {r['peak_rss_mb']:7.0f} "
                  f"{r['driver_cpu_seconds']:9.2f} {r.get('startup_seconds', 0):7.2f}  "
                  f"{r.get('per_actor', '')}")
    for model in args.models.split(","):
        for config in ("local", "ray2"):
            big = [r for r in scale if r["model"] == model and r["config"] == config]
            if big:
                small = best(model, config, runs)
                print(f"{model} {config}: {args.scale_rows:,} rows in {big[0]['seconds']:.2f}s, "
                      f"peak RSS {big[0]['peak_rss_mb']:.0f} MB = "
                      f"{big[0]['peak_rss_mb'] / small['peak_rss_mb']:.2f}x the "
                      f"{args.rows:,}-row run")


if __name__ == "__main__":
    main()
