"""What `predsql run` imports: its fixed cost is mostly imports (docs/performance.md)."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

import ml_models
from conftest import run_in_fresh_interpreter, write


def test_a_run_to_a_pipe_does_not_import_rich(tmp_path: Path) -> None:
    root = write(tmp_path / "proj", {
        "predsql_project.yml": "name: proj\n",
        "functions/models.yml": "functions:\n  - name: dbl\n    model: dbl.onnx\n",
        "models/doubled.sql": "select id, dbl(x) as y from xs",
    })
    ml_models.doubler(root / "functions" / "dbl.onnx")
    with duckdb.connect(str(root / "proj.duckdb")) as con:
        con.execute("create table xs as select range as id, range::float as x from range(10)")
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    stdout, modules = run_in_fresh_interpreter(root, env)
    assert "predsql.cli" in modules
    assert not {m for m in modules if m == "rich" or m.startswith("rich.")}
    assert "OK created sql table model main.doubled" in stdout
    with duckdb.connect(str(root / "proj.duckdb")) as con:
        assert con.execute("select sum(y) from doubled").fetchone()[0] == 90.0
