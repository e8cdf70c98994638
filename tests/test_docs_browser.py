"""The docs site in a real headless Chromium (Debian's `chromium`, driven by
Playwright), opened from the file system: search, a model page with its lineage
graph, an ML function's model card. Screenshots go to target/docs-screenshots/.

Skips only when no browser can be used: playwright not installed, or no
Chromium binary (`apt-get install chromium`; .ci/run installs both).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import build_example

REPO = Path(__file__).parent.parent
SCREENSHOTS = REPO / "target" / "docs-screenshots"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


def chromium_path() -> str | None:
    for candidate in (os.environ.get("PREDSQL_CHROMIUM"), shutil.which("chromium"),
                      shutil.which("chromium-browser"), "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')")
    executable = chromium_path()
    if executable is None:
        pytest.skip("no Chromium binary: install Debian's `chromium` (apt-get install chromium) "
                    "or set PREDSQL_CHROMIUM")
    profile = tempfile.mkdtemp(prefix="predsql-chromium-")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=executable, headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 1000})
        try:
            yield context
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def site_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = build_example(tmp_path_factory.mktemp("browser") / "shop")
    return (root / "target" / "index.html").as_uri()


@pytest.fixture
def page(browser, site_url: str) -> Iterator:
    page = browser.new_page()
    errors: list[str] = []
    remote: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda r: None if r.url.startswith("file:") else remote.append(r.url))
    page.goto(site_url)
    page.wait_for_selector("#results a[data-id]")
    yield page
    assert errors == [], errors
    assert remote == [], f"the page asked the network for {remote}"
    page.close()


def graph_nodes(page) -> list[str]:
    page.wait_for_function("window.__predsqlGraph && !window.__predsqlGraph.destroyed()")
    return page.evaluate("window.__predsqlGraph.nodes().map(n => n.id())")


def visible_in_graph(page, ids: list[str]) -> bool:
    """Each node's rendered box lies inside the graph's canvas."""
    return page.evaluate("""ids => {
        const cy = window.__predsqlGraph, w = cy.width(), h = cy.height();
        return ids.every(id => {
            const b = cy.getElementById(id).renderedBoundingBox();
            return b.x1 >= 0 && b.y1 >= 0 && b.x2 <= w && b.y2 <= h && b.w > 10;
        });
    }""", ids)


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name))


def test_first_paint_and_overview_graph(page) -> None:
    paint = page.evaluate(
        "performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null")
    assert paint is not None and paint < 1000, paint
    assert page.inner_text("h1") == "shop_ml"
    nodes = graph_nodes(page)
    assert "ml_function.shop_ml.churn_probability" in nodes
    assert not any(n.startswith("test.") for n in nodes), "tests are hidden by default"
    shot(page, "overview.png")


def test_search_open_model_lineage_and_columns(page) -> None:
    page.fill("#search", "churn_sc")
    first = page.locator("#search-results a").first
    assert first.inner_text().startswith("churn_scores")
    first.click()
    page.wait_for_selector("#node-title")
    assert page.inner_text("#node-title") == "churn_scores"
    assert "model.shop_ml.churn_scores" in page.url
    parents = ["model.shop_ml.stg_customers", "ml_function.shop_ml.churn_probability"]
    nodes = graph_nodes(page)
    assert set(parents) <= set(nodes)
    assert "onnx_file.shop_ml.functions/churn.onnx" in nodes  # two levels up by default
    assert visible_in_graph(page, parents + ["model.shop_ml.churn_scores"])
    assert "churn in the next 30 days" in page.inner_text("#description strong")
    columns = page.inner_text("#columns")
    assert "FLOAT" in columns and "computed by churn_probability()" in columns
    assert "stg_customers.tenure_months" in columns
    shot(page, "model.png")
    page.click("button[data-depth='up:-1']")
    page.click("button[data-depth='up:-1']")
    assert "model.shop_ml.stg_customers" not in graph_nodes(page)


def test_ml_function_card_with_last_run(page) -> None:
    page.fill("#search", "churn_probability")
    page.locator("#search-results a[data-id='ml_function.shop_ml.churn_probability']").click()
    page.wait_for_selector("#model-card")
    card = page.inner_text("#model-card")
    assert "churn_probability(plan VARCHAR" in page.inner_text("#signature")
    for text in ("functions/churn.onnx", "skl2onnx", "ai.onnx 16", "auto", "28.2 KB"):
        assert text in card, text
    stats = page.inner_text("#run-stats")
    assert "900\nrows scored" in stats and "0\nNULL rows" in stats
    assert "CPUExecutionProvider" in stats
    callers = page.inner_text("#callers")
    assert "models/scoring/churn_scores.sql:6" in callers and "300" in callers
    nodes = graph_nodes(page)
    assert {"onnx_file.shop_ml.functions/churn.onnx", "model.shop_ml.churn_scores"} <= set(nodes)
    page.set_viewport_size({"width": 1400, "height": 2200})
    page.locator("#model-card").screenshot(path=str(SCREENSHOTS / "ml-function-card.png"))
    shot(page, "ml-function.png")


def test_lineage_page_with_a_selector(page, site_url: str) -> None:
    page.goto(site_url + "#!/graph?select=%2Bat_risk_customers")
    assert set(graph_nodes(page)) == {
        "model.shop_ml.at_risk_customers", "model.shop_ml.stg_customers", "seed.shop_ml.customers",
        "ml_function.shop_ml.churn_probability", "onnx_file.shop_ml.functions/churn.onnx"}
    page.fill("#selector", "stg_customers+1")
    page.click("#apply")
    page.wait_for_function("location.hash.includes('stg_customers%2B1')")
    assert set(graph_nodes(page)) == {
        "model.shop_ml.stg_customers", "model.shop_ml.at_risk_customers",
        "model.shop_ml.churn_by_plan", "model.shop_ml.churn_scores"}
    page.check("#show-tests")
    page.wait_for_function("location.hash.includes('tests=1')")
    assert "test.shop_ml.unique_stg_customers_customer_id" in graph_nodes(page)
    zoom = page.evaluate("window.__predsqlGraph.zoom()")
    page.mouse.move(700, 600)
    page.mouse.wheel(0, -400)
    page.wait_for_function(f"window.__predsqlGraph.zoom() > {zoom}")
    shot(page, "lineage.png")


def test_a_graph_too_large_for_dagre_is_drawn_in_layers(browser, tmp_path: Path) -> None:
    from conftest import run_cli, write

    files = {"predsql_project.yml": "name: wide\n"}
    for i in range(170):
        parent = f"m{i // 3:03d}" if i >= 3 else None
        files[f"models/m{i:03d}.sql"] = (f"select * from {{{{ ref('{parent}') }}}}" if parent
                                         else "select 1 as id")
    root = write(tmp_path / "wide", files)
    run_cli(root, "docs", "generate")  # no database: the graph needs only the project
    page = browser.new_page()
    page.goto((root / "target" / "index.html").as_uri())
    page.click("#draw-all")
    nodes = graph_nodes(page)
    assert len(nodes) == 170
    assert page.evaluate("window.__predsqlTimings.graphs.at(-1).layout") == "layers"
    assert page.evaluate("""() => window.__predsqlGraph.edges().every(
        e => e.source().position('x') < e.target().position('x'))""")
    assert "not built yet" not in page.inner_text("#main")
    page.close()


def test_a_struct_function_card(browser, tmp_path: Path) -> None:
    from docs_projects import multi_output_project

    root = multi_output_project(tmp_path / "m")
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto((root / "target" / "index.html").as_uri() + "#!/node/ml_function.m.two")
    page.wait_for_selector("#model-card")
    assert "STRUCT(score FLOAT, positive BIGINT)" in page.inner_text("#signature")
    assert 'STRUCT("score" FLOAT, "positive" BIGINT)' in page.inner_text("#result-type")
    outputs = page.inner_text("#outputs")
    assert "STRUCT field" in outputs and "positive\tlabel\tint64\tBIGINT" in outputs
    callers = page.inner_text("#callers")
    assert "models/scored.sql:2, 3" in callers
    assert "700" in page.inner_text("#run-stats")
    page.goto((root / "target" / "index.html").as_uri() + "#!/node/ml_function.m.lr")
    page.wait_for_function("document.querySelector('#model-card') && "
                           "document.querySelector('#node-title').textContent === 'lr'")
    card = page.inner_text("#model-card")
    assert "Ray: 2 actors, 0.5 CPU / 0 GPU each" in card and "0, 1" in page.inner_text("#outputs")
    page.locator("#model-card").screenshot(path=str(SCREENSHOTS / "struct-function-card.png"))
    assert errors == [], errors
    page.close()
