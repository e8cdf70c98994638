"""Running one measured process: wall and CPU seconds, peak RSS (from wait4)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def predsql_command(work: Path, command: str, *args: str) -> list[str]:
    """`predsql COMMAND` (e.g. "run", "cache clear") on the bench project of `work`."""
    return [sys.executable, "-m", "predsql", *command.split(), "--quiet", "--project-dir",
            str(work / "bench"), *args]


def process(command: list[str]) -> tuple[str, dict]:
    """Run `command`; its stdout, and its wall seconds, CPU seconds (user + system, every
    thread) and peak RSS."""
    began = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)  # small outputs: the pipes cannot fill up
    wall = time.perf_counter() - began
    out = proc.stdout.read() if proc.stdout else ""
    err = proc.stderr.read() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{out}\n{err}")
    return out, {"process_seconds": wall, "process_cpu_seconds": usage.ru_utime + usage.ru_stime,
                 "peak_rss_mb": usage.ru_maxrss / 1024}


def run_result(work: Path) -> dict:
    """The first node of run_results.json: build time, rows, ML statistics."""
    entry = json.loads((work / "bench/target/run_results.json").read_text())["results"][0]
    stats = next(iter(entry.get("predsql", {}).get("ml_functions", {}).values()), {})
    return {"seconds": entry["execution_time"], "cpu_seconds": None,
            "rows": entry["adapter_response"].get("rows_affected"),
            "provider": stats.get("provider"), "rows_inferred": stats.get("rows_inferred"),
            "rows_from_cache": stats.get("rows_from_cache")}


def measure(approach: str, model: str, work: Path, device: str, memory_limit: str,
            node: str = "score", target: str = "dev", extra: tuple[str, ...] = (),
            batch: int | None = None) -> dict:
    """One measurement in its own process: wall and CPU seconds of the section (for
    predsql: the model's build time from run_results.json, wall only) and of the whole
    process, and its peak RSS."""
    if approach == "predsql":  # predsql itself is the measured process
        command = predsql_command(work, "run", "-s", f"{node}_{model}", "--device", device,
                                  "--target", target, *extra)
    else:
        command = [sys.executable, str(HERE / "approaches.py"), approach, model, str(work),
                   device, memory_limit] + ([str(batch)] if batch else [])
    out, usage = process(command)
    result = run_result(work) if approach == "predsql" else json.loads(
        out.strip().splitlines()[-1])
    return {**result, **usage}
