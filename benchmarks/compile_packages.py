"""Fixed cost of `predsql compile` on a large project that uses dbt_utils.

    python benchmarks/compile_packages.py [--models 2000] [--repeats 3] [--dbt PATH]

Generates a project of N models (a fan of ref() chains; one model in five calls
dbt_utils macros: generate_surrogate_key, safe_add, dbt.date_trunc, get_url_host;
one in ten carries dbt_utils generic tests), installs dbt_utils from
../shared/dbt_packages into dbt_packages/, and times `predsql compile` in a fresh
process, cold (no target/) and warm (templates cached in target/). Interleaved with
the same project without packages (plain SQL), so the ratio is the cost of the macro
runtime; with --dbt, `dbt compile` on the same project once, for reference. Reports
CPU seconds (user + system of the process) beside wall time: on a shared machine the
wall time also counts waiting for a CPU. The budget is 5 s for 2,000 models.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DBT_UTILS = REPO.parent / "shared" / "dbt_packages" / "dbt_utils"

MACRO_MODEL = """select
    {{{{ dbt_utils.generate_surrogate_key(['id', 'name']) }}}} as key,
    {{{{ dbt_utils.safe_add(['id', '1']) }}}} as id_plus_one,
    {{{{ dbt.date_trunc('month', 'created_at') }}}} as month,
    {{{{ dbt_utils.get_url_host('url') }}}} as host,
    *
from {{{{ ref('{parent}') }}}}
"""
PLAIN_MODEL = """select
    md5(cast(coalesce(cast(id as varchar), '') || '-' || coalesce(cast(name as varchar), '')
        as varchar)) as key,
    id + 1 as id_plus_one,
    date_trunc('month', created_at) as month,
    split_part(url, '/', 3) as host,
    *
from {{{{ ref('{parent}') }}}}
"""
TESTS = """  - name: {name}
    data_tests:
      - dbt_utils.unique_combination_of_columns:
          arguments:
            combination_of_columns: [id, name]
      - dbt_utils.expression_is_true:
          arguments:
            expression: "id >= 0"
    columns:
      - name: id
        data_tests: [not_null, {{dbt_utils.accepted_range: {{arguments: {{min_value: 0}}}}}}]
"""


def make_project(root: Path, models: int, packages: bool) -> Path:
    (root / "models").mkdir(parents=True)
    (root / "dbt_project.yml").write_text("name: bench\nprofile: bench\nmodels:\n"
                                          "  bench:\n    +materialized: view\n")
    (root / "models" / "m0000.sql").write_text(
        "select 1 as id, 'a' as name, timestamp '2024-01-02' as created_at, "
        "'https://example.com/x' as url")
    props = ["version: 2", "models:"]
    for i in range(1, models):
        parent = f"m{(i - 1) // 5 * 5:04d}" if i % 5 else f"m{i - 5:04d}"
        use_macros = packages and i % 5 == 0
        template = MACRO_MODEL if use_macros else PLAIN_MODEL
        sql = template.format(parent=parent) if i % 5 == 0 else \
            f"select * from {{{{ ref('{parent}') }}}}\n"
        (root / "models" / f"m{i:04d}.sql").write_text(sql)
        if packages and i % 10 == 0:
            props.append(TESTS.format(name=f"m{i:04d}").rstrip())
    if packages:
        (root / "models" / "props.yml").write_text("\n".join(props) + "\n")
        shutil.copytree(DBT_UTILS, root / "dbt_packages" / "dbt_utils",
                        ignore=shutil.ignore_patterns("integration_tests"))
        (root / "packages.yml").write_text("packages:\n  - package: dbt-labs/dbt_utils\n"
                                           "    version: 1.3.3\n")
    # an absolute path: a relative one starts at the working directory, as in dbt
    location = json.dumps(str((root / "bench.duckdb").resolve()))
    (root / "profiles.yml").write_text("bench:\n  target: dev\n  outputs:\n    dev:\n"
                                       f"      type: duckdb\n      path: {location}\n")
    return root


def timed(command: list[str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds user + system) of one run in a fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dbt", default=None, help="a dbt executable to time once")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if not DBT_UTILS.is_dir():
        raise SystemExit(f"{DBT_UTILS} is absent (the shared test packages)")
    with tempfile.TemporaryDirectory() as tmp:
        with_pkg = make_project(Path(tmp) / "packages", args.models, packages=True)
        plain = make_project(Path(tmp) / "plain", args.models, packages=False)
        predsql = [sys.executable, "-m", "predsql", "compile", "--profiles-dir", "."]
        runs: dict[str, list[tuple[float, float]]] = {
            "cold, with dbt_utils": [], "warm, with dbt_utils": [], "cold, plain SQL": []}
        for _ in range(args.repeats):
            shutil.rmtree(with_pkg / "target", ignore_errors=True)
            runs["cold, with dbt_utils"].append(timed(predsql, with_pkg))
            runs["warm, with dbt_utils"].append(timed(predsql, with_pkg))
            shutil.rmtree(plain / "target", ignore_errors=True)
            runs["cold, plain SQL"].append(timed(predsql, plain))
        manifest = json.loads((with_pkg / "target" / "manifest.json").read_text())
        nodes = len(manifest["nodes"])
        if args.dbt:
            shutil.rmtree(with_pkg / "target", ignore_errors=True)
            runs["dbt compile, with dbt_utils"] = [
                timed([args.dbt, "compile", "--profiles-dir", "."], with_pkg)]
    base = statistics.median(cpu for _, cpu in runs["cold, with dbt_utils"])
    print(f"predsql compile: {args.models} models + tests ({nodes} nodes with dbt_utils), "
          f"{args.repeats} interleaved runs, each in a fresh process; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for name, values in runs.items():
        wall = statistics.median(w for w, _ in values)
        cpu = statistics.median(c for _, c in values)
        print(f"  {name:30s} CPU {cpu:6.2f} s ({cpu / base:4.2f}x)   wall {wall:6.2f} s   "
              f"runs (wall/CPU): {', '.join(f'{w:.1f}/{c:.1f}' for w, c in values)}")
    print(f"  budget: < 5 s for 2,000 models with dbt_utils (cold): CPU {base:.2f} s -> "
          f"{'met' if base < 5 else 'NOT met'}; wall time includes waiting for a CPU on a "
          "shared machine")
    if args.out:
        args.out.write_text(json.dumps({"models": args.models, "nodes": nodes,
                                        "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
