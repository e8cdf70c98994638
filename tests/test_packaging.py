"""The extras of pyproject.toml: what each is for, and the docs that name them."""

from __future__ import annotations

from pathlib import Path

import tomllib

ROOT = Path(__file__).parent.parent


def extras() -> dict[str, list[str]]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return data["project"]["optional-dependencies"]


def names(requirements: list[str]) -> set[str]:
    return {r.split(";")[0].split("[")[0].split(">")[0].split("=")[0].strip() for r in requirements}


def test_the_export_extra_holds_the_converters_and_not_the_test_tools() -> None:
    export = names(extras()["export"])
    assert export == {"scikit-learn", "skl2onnx", "onnxmltools"}
    assert not export & {"pytest", "ruff", "hypothesis", "playwright"}
    assert "predsql[export]" not in " ".join(extras()["dev"])  # dev stays separate
    doc = (ROOT / "docs/exporting-models.md").read_text(encoding="utf-8")
    assert "pip install 'predsql[export]'" in doc
    assert "`export` (scikit-learn, skl2onnx and\nonnxmltools" in (ROOT / "README.md").read_text()


def readme() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_lists_every_command_and_every_doc() -> None:
    import click

    from predsql.cli import main

    text = readme()
    table = text[text.index("## Commands"):text.index("## Exit codes")]
    for name, command in main.commands.items():
        subcommands = command.commands if isinstance(command, click.Group) else {}
        assert f"`predsql {name}" in table, name
        for sub in subcommands:
            assert f"{name} {sub}" in table or f"/ {sub}" in table, f"{name} {sub}"
    for doc in (ROOT / "docs").glob("*.md"):
        assert f"docs/{doc.name}" in text, doc.name


def test_readme_states_exit_codes_and_dbt_compatibility_honestly() -> None:
    text = readme()
    codes = text[text.index("## Exit codes"):text.index("## dbt compatibility")]
    for code in ("| 0 |", "| 1 |", "| 2 |"):
        assert code in codes
    compat = text[text.index("## dbt compatibility"):]
    assert "docs/dbt-compatibility.md" in compat and "**not yet**" in compat
    assert "unchanged" not in text.split("## Set up")[0]


def test_readme_installs_as_ci_does() -> None:
    """.ci/run installs the project exactly as README.md says."""
    ci = (ROOT / ".ci/run").read_text(encoding="utf-8")
    installs = [line.strip() for line in ci.splitlines() if line.startswith("pip install")]
    assert installs and all(line in readme() for line in installs)
    assert "(cd example_project && predsql build)" in ci
    assert "cd example_project && predsql build" in readme()
