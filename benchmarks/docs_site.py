"""The docs site at scale: the example project next to a generated N-model project.

    python benchmarks/docs_site.py [--models 2000] [--workdir DIR]

For each project: `predsql run` / `build`, `predsql compile` and `predsql docs generate`
(seconds, alternating: generate compiles the project too, so their ratio is the docs' cost),
the site's size, then in headless Chromium (Debian's, via Playwright) opened
from the file system: first contentful paint, page ready, overview graph,
search, opening a model, the whole-project lineage graph and pan/zoom frame
times. Prints one JSON document. The two projects are measured in one run,
alternating, so their ratio is what to read.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import onnx
from onnx import TensorProto, helper

REPO = Path(__file__).resolve().parent.parent
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def predsql(root: Path, *args: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "predsql", *args, "--project-dir", str(root), "-q"],
                   check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def linear_onnx(path: Path) -> None:
    """score = 0.3 * v + 0.1 * k, as an [N, 2] -> [N, 1] ONNX graph."""
    weights = helper.make_tensor("w", TensorProto.FLOAT, [2, 1], [0.3, 0.1])
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["score"])], "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, [None, 1])], [weights])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="benchmark", producer_version="1")
    model.ir_version = 9
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


def synthetic_project(root: Path, models: int, seed: int = 7) -> Path:
    """Roots (5%), staging views (20%), intermediate tables (45%), marts (30%, 1 in 10
    calling an ML function); half the models document and test `id`."""
    rng = random.Random(seed)
    (root / "models").mkdir(parents=True)
    (root / "predsql_project.yml").write_text(
        "name: big\nmodels:\n  big:\n    +materialized: table\n    staging:\n"
        "      +materialized: view\n", encoding="utf-8")
    (root / "functions").mkdir()
    linear_onnx(root / "functions" / "score.onnx")
    (root / "functions" / "functions.yml").write_text(
        "functions:\n  - name: score_fn\n    description: A linear score.\n    model: score.onnx\n",
        encoding="utf-8")
    counts = [int(models * f) for f in (0.05, 0.20, 0.45)]
    counts.append(models - sum(counts))
    layers: list[list[str]] = [[], [], [], []]
    properties = ["version: 2", "models:"]
    for layer, (folder, count) in enumerate(zip(("roots", "staging", "intermediate", "marts"),
                                                 counts)):
        (root / "models" / folder).mkdir()
        for i in range(count):
            name = f"{folder[:3]}_{i:04d}"
            if layer == 0:
                sql = (f"select range as id, range % 7 as k, (range * {i + 1}) % 97 / 97.0 "
                       "as v from range(100)")
            elif layer == 1:
                sql = f"select id, k, v from {{{{ ref('{rng.choice(layers[0])}') }}}}"
            else:
                pool = layers[layer - 1] + (layers[layer][-20:] if layer == 2 else [])
                parents = rng.sample(pool, k=min(len(pool), rng.choice((2, 2, 3))))
                first, *rest = parents
                joins = "".join(f" join {{{{ ref('{p}') }}}} p{j} using (id)"
                                for j, p in enumerate(rest))
                score = (", score_fn(a.v, a.k::float) as score"
                         if layer == 3 and i % 10 == 0 else "")
                sql = (f"select a.id, a.k, (a.v + p0.v) / 2 as v{score} "
                       f"from {{{{ ref('{first}') }}}} a{joins}")
            (root / "models" / folder / f"{name}.sql").write_text(sql + "\n", encoding="utf-8")
            layers[layer].append(name)
            if i % 2 == 0:
                properties += [f"  - name: {name}", f"    description: The {folder} model "
                               f"number {i}, with **Markdown**.", "    columns:",
                               "      - name: id", "        data_tests: [not_null]"]
    (root / "models" / "schema.yml").write_text("\n".join(properties) + "\n", encoding="utf-8")
    return root


def measure_page(context, index: Path, model: str) -> dict:
    page = context.new_page()
    page.goto(index.as_uri())
    # the overview draws its graph, or (too many nodes) offers a button to draw it
    page.wait_for_function("window.__predsqlTimings && window.__predsqlTimings.ready && "
                           "(window.__predsqlTimings.graphs.length > 0 || "
                           "document.getElementById('draw-all'))", timeout=600_000)
    page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    result = page.evaluate("""() => ({
        first_contentful_paint_ms: performance.getEntriesByName('first-contentful-paint')[0].startTime,
        ready_ms: window.__predsqlTimings.ready,
        overview_graph: window.__predsqlTimings.graphs[0] || 'on request',
        nodes: Object.keys(window.PREDSQL_DOCS.nodes).length})""")
    result["search_ms"] = page.evaluate("""() => {
        const input = document.getElementById('search'), t = performance.now();
        input.value = 'mar_00'; input.dispatchEvent(new Event('input'));
        return performance.now() - t; }""")
    result["open_model_ms"] = page.evaluate("""id => new Promise(resolve => {
        const t = performance.now(), n = window.__predsqlTimings.graphs.length;
        location.hash = '#!/node/' + encodeURIComponent(id);
        (function wait() { if (window.__predsqlTimings.graphs.length > n)
            requestAnimationFrame(() => resolve(performance.now() - t));
          else setTimeout(wait, 5); })(); })""", model)
    result["model_graph"] = page.evaluate("window.__predsqlTimings.graphs.at(-1)")
    result["whole_graph_ms"] = page.evaluate("""() => new Promise(resolve => {
        const t = performance.now(), n = window.__predsqlTimings.graphs.length;
        location.hash = '#!/graph?select=*';
        (function wait() { if (window.__predsqlTimings.graphs.length > n)
            requestAnimationFrame(() => resolve(performance.now() - t));
          else setTimeout(wait, 5); })(); })""")
    result["whole_graph"] = page.evaluate("window.__predsqlTimings.graphs.at(-1)")
    result["pan_zoom_frame_ms"] = page.evaluate("""() => new Promise(resolve => {
        const cy = window.__predsqlGraph, frames = [];
        let last = performance.now(), i = 0;
        (function step() {
          const now = performance.now(); frames.push(now - last); last = now;
          if (i % 2) cy.panBy({x: 15, y: 5}); else cy.zoom({level: cy.zoom() * 1.03,
            renderedPosition: {x: cy.width() / 2, y: cy.height() / 2}});
          if (++i < 60) requestAnimationFrame(step);
          else { frames.sort((a, b) => a - b);
                 resolve({median: frames[30], p90: frames[54]}); } })(); })""")
    page.close()
    return result


def site_bytes(target: Path) -> dict:
    data = (target / "docs_assets" / "docs_data.js").stat().st_size
    total = sum(f.stat().st_size for f in [target / "index.html",
                                           *(target / "docs_assets").rglob("*")] if f.is_file())
    return {"site_bytes": total, "data_bytes": data}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=int, default=2000)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="predsql-docs-bench-"))
    shutil.rmtree(work, ignore_errors=True)
    example = work / "example"
    shutil.copytree(REPO / "example_project", example,
                    ignore=shutil.ignore_patterns("target", "logs", "*.duckdb*"))
    big = synthetic_project(work / "big", args.models)
    report: dict = {"models": args.models, "example": {}, "big": {}}
    report["example"]["build_s"] = predsql(example, "build")
    report["big"]["run_s"] = predsql(big, "run")
    for name, root in (("example", example), ("big", big), ("example", example), ("big", big)):
        report[name].setdefault("compile_s", []).append(round(predsql(root, "compile"), 2))
        report[name].setdefault("generate_s", []).append(round(predsql(root, "docs", "generate"), 2))
    for name, root in (("example", example), ("big", big)):
        report[name].update(site_bytes(root / "target"))

    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tempfile.mkdtemp(prefix="predsql-chromium-"), headless=True, args=FLAGS,
            executable_path=shutil.which("chromium") or "/usr/bin/chromium",
            viewport={"width": 1400, "height": 1000})
        for name, root, model in (("example", example, "model.shop_ml.churn_scores"),
                                  ("big", big, "model.big.mar_0000"),
                                  ("example", example, "model.shop_ml.churn_scores"),
                                  ("big", big, "model.big.mar_0000")):
            report[name].setdefault("browser", []).append(
                measure_page(context, root / "target" / "index.html", model))
        context.close()
    print(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
