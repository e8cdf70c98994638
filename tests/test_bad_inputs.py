"""Bad model files, bad data, bad projects, awkward names and hostile input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

import ml_models
from conftest import db_of, output, query, run_cli, write


@pytest.fixture
def logp(tmp_path: Path) -> Path:
    """y = log(x) on one float input, plus a 4-input logistic regression."""
    root = write(tmp_path / "bad", {
        "predsql_project.yml": "name: bad\n",
        "functions/f.yml": """
            functions:
              - name: logf
                model: log.onnx
              - name: lr
                model: lr.onnx
                output: {name: probabilities, index: 1}
        """,
    })
    ml_models.nan_maker(root / "functions/log.onnx")
    ml_models.logistic(root / "functions/lr.onnx")
    return root


def test_external_data_outside_the_project_is_refused(logp: Path, tmp_path: Path) -> None:
    write(logp, {"models/m.sql": "select logf(2.0) as y"})
    run_cli(logp, "run")
    weights = helper.make_tensor("w", TensorProto.FLOAT, [1], [1.0])
    weights.data_location = TensorProto.EXTERNAL
    entry = weights.external_data.add()
    entry.key, entry.value = "location", "../../../outside.bin"
    weights.ClearField("float_data")
    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "w"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])], initializer=[weights])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    (logp / "functions/log.onnx").write_bytes(model.SerializeToString())
    result = run_cli(logp, "run", code=1)  # only the models calling it fail
    assert "external data file" in result.stderr and "outside the project folder" in result.stderr
    assert query(db_of(logp, "bad"), "select y from m")[0][0] == pytest.approx(np.log(2.0))


def test_infinities_and_nan_reach_the_model(logp: Path) -> None:
    write(logp, {"models/m.sql": "select x, logf(x) as y from (values (1.0), ('inf'::double), "
                                 "('-inf'::double), ('nan'::double), (-1.0)) t(x)"})
    run_cli(logp, "run")
    rows = dict(query(db_of(logp, "bad"), "select x, y from m"))
    assert rows[1.0] == 0.0 and rows[float("inf")] == float("inf")
    nan_inputs = [y for x, y in rows.items() if x != x or x in (float("-inf"), -1.0)]
    assert len(nan_inputs) == 3 and all(y != y for y in nan_inputs)
    stats = json.loads((logp / "target/run_results.json").read_text())["results"][0]["predsql"]
    assert stats["ml_functions"]["logf"]["nan_outputs"] == 3


def test_values_out_of_float32_range_name_the_argument(logp: Path) -> None:
    write(logp, {"models/m.sql": "select lr(x, 1, 2, 3) as p from (values (1.0), (1e300)) t(x)"})
    result = run_cli(logp, "run", code=1)
    assert "argument 1 of lr() cannot be cast to FLOAT" in output(result)


def test_unknown_config_key_warns_with_a_suggestion(project: Path) -> None:
    write(project, {"models/m.sql": "{{ config(materialised='table') }} select 1 as x"})
    result = run_cli(project, "run")
    assert "unknown config key `materialised`" in result.stdout
    assert "did you mean `materialized`" in result.stdout


def test_missing_source(project: Path) -> None:
    write(project, {"models/m.sql": "select * from {{ source('raw', 'nope') }}"})
    result = run_cli(project, "run", code=2)
    assert "source('raw', 'nope') is not defined" in result.stderr
    assert "models/m.sql" in result.stderr


def test_unicode_reserved_words_and_case(logp: Path) -> None:
    write(logp, {
        "models/café.sql": 'select 1.5 as "größe", 2 as "select", 3 as "from"',
        "models/order.sql": 'select "größe", "select", lr("größe", "select", "from", 1) '
                            'as "group" from {{ ref(\'café\') }}',
    })
    run_cli(logp, "run")
    rows = query(db_of(logp, "bad"), 'select "größe", "select", "group" from "order"')
    assert rows[0][:2] == (1.5, 2) and 0 <= rows[0][2] <= 1
    write(logp, {"models/Order.sql": "select 1 as x"})
    result = run_cli(logp, "run", code=2)
    assert "case-insensitive" in result.stderr


def test_jinja_sandbox_refuses_python_internals(project: Path) -> None:
    write(project, {"models/m.sql": "select '{{ ''.__class__.__mro__[1].__subclasses__() }}'"})
    result = run_cli(project, "run", code=2)
    assert "models/m.sql" in result.stderr and "Traceback" not in output(result)
    write(project, {"models/m.sql": "{{ cycler.__init__.__globals__ }}"})
    run_cli(project, "run", code=2)


def test_var_quoting_filter_keeps_sql_meaning(project: Path) -> None:
    write(project, {
        "models/users.sql": "select * from (values ('alice'), ('bob')) t(name)",
        "models/picked.sql": "select * from {{ ref('users') }} "
                             "where name = {{ var('who') | sql_string }}",
    })
    run_cli(project, "run", "--vars", "{who: \"x' or '1'='1\"}")
    assert query(db_of(project), "select count(*) from picked") == [(0,)]
    run_cli(project, "run", "--vars", "{who: \"alice'; drop table users; --\"}")
    assert query(db_of(project), "select count(*) from users") == [(2,)]
    run_cli(project, "run", "--vars", "{who: bob}")
    assert query(db_of(project), "select name from picked") == [("bob",)]


def test_secrets_never_reach_logs_or_target(project: Path, monkeypatch) -> None:
    monkeypatch.setenv("PREDSQL_SECRET_TOKEN", "tok-3f9a7c21")
    monkeypatch.setenv("DBT_ENV_SECRET_PASSWORD", "pw-88d1e0b2")
    write(project, {
        "models/ok.sql": "select '{{ env_var('PREDSQL_SECRET_TOKEN') }}' as t",
        "models/broken.sql": "select '{{ env_var('DBT_ENV_SECRET_PASSWORD') }}' as p, "
                             "no_such_column",
    })
    result = run_cli(project, "run", "--log-format", "json", code=1)
    texts = [output(result)] + [p.read_text() for p in (project / "target").rglob("*")
                                if p.is_file()]
    texts.append((project / "logs" / "predsql.log").read_text())
    for text in texts:
        assert "tok-3f9a7c21" not in text and "pw-88d1e0b2" not in text
    assert any("*****" in t for t in texts)


@pytest.fixture(scope="module")
def prop_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write(tmp_path_factory.mktemp("prop") / "p", {
        "predsql_project.yml": "name: p\n",
        "functions/f.yml": "functions:\n  - name: score\n    model: mlp.onnx\n"
                           "    output: {name: probabilities, index: 1}\n",
    })
    ml_models.mlp(root / "functions/mlp.onnx")
    ml_models.load_features(root / "p.duckdb", "feats", ml_models.features(n=1500, seed=11))
    write(root, {"models/m.sql": "select id, score(f0, f1, f2, f3) as p from feats"})
    run_cli(root, "run")
    return root


def scores(root: Path) -> dict[int, float]:
    return dict(query(db_of(root, "p"), "select id, p from m"))


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(batch=st.integers(1, 5000), threads=st.integers(1, 4), seed=st.integers(0, 10**6))
def test_results_do_not_depend_on_batches_threads_or_order(prop_project: Path, batch: int,
                                                           threads: int, seed: int) -> None:
    baseline = scores(prop_project)
    write(prop_project, {
        "functions/f.yml": "functions:\n  - name: score\n    model: mlp.onnx\n"
                           f"    output: {{name: probabilities, index: 1}}\n"
                           f"    batch_size: {batch}\n    threads: {threads}\n",
        "models/m.sql": f"select id, score(f0, f1, f2, f3) as p from feats "
                        f"order by hash(id + {seed})",
    })
    run_cli(prop_project, "run")
    assert scores(prop_project) == baseline


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(pattern=st.lists(st.integers(0, 15), min_size=4, max_size=4))
def test_nulls_exactly_where_an_argument_is_null(prop_project: Path, pattern: list[int]) -> None:
    args = ", ".join(f"case when id % 16 = {p} then null else f{i} end"
                     for i, p in enumerate(pattern))
    write(prop_project, {
        "functions/f.yml": "functions:\n  - name: score\n    model: mlp.onnx\n"
                           "    output: {name: probabilities, index: 1}\n",
        "models/m.sql": f"select id, score({args}) as p from feats",
    })
    run_cli(prop_project, "run")
    rows = scores(prop_project)
    for id_, p in rows.items():
        assert (p is None) == (id_ % 16 in pattern)
