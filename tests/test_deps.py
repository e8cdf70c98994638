"""`predsql deps`: local and git packages (a bare repository on disk), missing hub packages."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import db_of, query, run_cli, write
from dbt_helpers import install_package

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com",
                           "-c", "init.defaultBranch=main", *args], cwd=cwd, check=True,
                          capture_output=True, text=True)
    return done.stdout.strip()


def bare_repo(tmp_path: Path, name: str, versions: list[dict[str, str]]) -> Path:
    """A bare repository whose commits are `versions`; commit i is tagged v{i + 1}."""
    work = tmp_path / f"{name}-work"
    work.mkdir()
    git(work, "init", "-q")
    for i, files in enumerate(versions):
        write(work, files)
        git(work, "add", "-A")
        git(work, "commit", "-q", "-m", f"version {i + 1}")
        git(work, "tag", f"v{i + 1}")
    bare = tmp_path / f"{name}.git"
    git(tmp_path, "clone", "-q", "--bare", str(work), str(bare))
    return bare


def test_deps_installs_local_and_git_packages(tmp_path: Path) -> None:
    write(tmp_path / "localpkg", {
        "dbt_project.yml": "name: localpkg\n",
        "macros/m.sql": "{% macro local_value() %}1{% endmacro %}",
    })
    tagged = bare_repo(tmp_path, "tagged", [
        {"dbt_project.yml": "name: tagged\n",
         "macros/m.sql": "{% macro tagged_value() %}10{% endmacro %}"},
        {"macros/m.sql": "{% macro tagged_value() %}20{% endmacro %}"},
    ])
    nested = bare_repo(tmp_path, "monorepo", [
        {"README.md": "several packages\n",
         "packages/nested/dbt_project.yml": "name: nested\n",
         "packages/nested/macros/m.sql": "{% macro nested_value() %}100{% endmacro %}"},
    ])
    project = write(tmp_path / "proj", {
        "dbt_project.yml": "name: proj\n",
        "packages.yml": f"""
            packages:
              - local: ../localpkg
              - git: "{tagged}"
                revision: v1
              - git: "file://{nested}"
                subdirectory: packages/nested
        """,
        "models/m.sql": "select {{ localpkg.local_value() }} + {{ tagged.tagged_value() }}"
                        " + {{ nested.nested_value() }} as total",
    })
    result = run_cli(project, "deps")
    assert "3 packages in dbt_packages/" in result.stdout
    installed = project / "dbt_packages"
    assert (installed / "localpkg").is_symlink()
    assert "10" in (installed / "tagged" / "macros" / "m.sql").read_text()
    assert not (installed / "nested" / ".git").exists()
    assert "name: nested" in (project / "package-lock.yml").read_text()
    run_cli(project, "run")
    assert query(db_of(project, "proj"), "select total from m") == [(111,)]
    # a new revision is installed in place of the old one
    packages = (project / "packages.yml").read_text().replace("revision: v1", "revision: v2")
    (project / "packages.yml").write_text(packages)
    run_cli(project, "deps")
    run_cli(project, "run")
    assert query(db_of(project, "proj"), "select total from m") == [(121,)]


def test_missing_packages_are_named_with_how_to_install_them(tmp_path: Path) -> None:
    project = write(tmp_path / "proj", {
        "dbt_project.yml": "name: proj\n",
        "packages.yml": "packages:\n  - package: dbt-labs/dbt_utils\n    version: 1.3.0\n"
                        f"  - git: {tmp_path / 'nowhere' / 'dbt-helpers.git'}\n",
        "models/m.sql": "select 1 as x",
    })
    result = run_cli(project, "run", code=2)
    assert "hub package 'dbt-labs/dbt_utils' (1.3.0)" in result.stderr
    assert "dbt_packages/dbt_utils" in result.stderr and "dbt deps" in result.stderr
    assert "git package '" in result.stderr and "dbt_packages/dbt_helpers" in result.stderr
    assert "predsql deps" in result.stderr
    result = run_cli(project, "deps", code=2)  # the repository is not there: a clear error
    assert "git clone failed" in result.stderr


def test_hub_packages_installed_by_dbt_deps_are_used_as_they_are(tmp_path: Path) -> None:
    project = write(tmp_path / "proj", {
        "dbt_project.yml": "name: proj\n",
        "packages.yml": "packages:\n  - package: dbt-labs/dbt_utils\n    version: 1.3.3\n",
        "models/m.sql": "select {{ dbt_utils.safe_add(['1', '2']) }} as three",
    })
    install_package(project, "dbt_utils")
    result = run_cli(project, "deps")
    assert "kept dbt_utils" in result.stdout
    run_cli(project, "run")
    assert query(db_of(project, "proj"), "select three from m") == [(3,)]


def test_package_models_seeds_and_tests_join_the_graph(tmp_path: Path) -> None:
    write(tmp_path / "shop", {
        "dbt_project.yml": """
            name: shop
            vars: {shop_rate: 2}
            models:
              shop:
                +materialized: table
                staging:
                  +schema: staging
        """,
        "seeds/shop_prices.csv": "sku,price\na,1.5\nb,2.0\n",
        "models/staging/shop_priced.sql": "select sku, price * {{ var('shop_rate') }} as price "
                                          "from {{ ref('shop_prices') }}",
        "models/shop_unused.sql": "select 1 as x",
        "models/props.yml": "models:\n  - name: shop_priced\n    columns:\n"
                            "      - name: sku\n        data_tests: [unique, not_null]\n",
    })
    project = write(tmp_path / "proj", {
        "dbt_project.yml": """
            name: proj
            models:
              shop:
                shop_unused: {+enabled: false}
        """,
        "packages.yml": "packages:\n  - local: ../shop\n",
        "models/report.sql": "select sum(price) as total from {{ ref('shop_priced') }}",
    })
    run_cli(project, "deps")
    run_cli(project, "build")
    db = db_of(project, "proj")
    assert query(db, "select total from report") == [(7.0,)]
    assert query(db, "select table_schema, table_type from information_schema.tables "
                     "where table_name = 'shop_priced'") == [("main_staging", "BASE TABLE")]
    assert query(db, "select count(*) from information_schema.tables "
                     "where table_name = 'shop_unused'") == [(0,)]
    results = (project / "target" / "run_results.json").read_text()
    for uid in ("seed.shop.shop_prices", "model.shop.shop_priced",
                "test.shop.unique_shop_priced_sku", "model.proj.report"):
        assert f'"{uid}"' in results
    assert (project / "target/compiled/shop/models/staging/shop_priced.sql").is_file()


def test_a_package_schema_macro_names_its_own_nodes_only(tmp_path: Path) -> None:
    write(tmp_path / "pkg", {
        "dbt_project.yml": "name: pkg\nmodels:\n  pkg:\n    +schema: staging\n",
        "macros/schema.sql": "{% macro generate_schema_name(custom_schema_name, node) %}"
                             "pkg_{{ custom_schema_name }}{% endmacro %}",
        "models/pkg_model.sql": "select 1 as x",
    })
    project = write(tmp_path / "proj", {
        "dbt_project.yml": "name: proj\nmodels:\n  proj:\n    +schema: marts\n",
        "dependencies.yml": "packages:\n  - local: ../pkg\n",
        "models/own.sql": "select * from {{ ref('pkg_model') }}",
    })
    run_cli(project, "run")
    assert query(db_of(project, "proj"), "select table_schema, table_name from "
                 "information_schema.tables order by 2") == [
        ("main_marts", "own"), ("pkg_staging", "pkg_model")]
