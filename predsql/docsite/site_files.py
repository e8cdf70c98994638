"""Writing the static site: target/index.html and target/docs_assets/.

The page works opened straight from the file system: the data is a script
(`docs_assets/docs_data.js`, not JSON fetched at run time, which browsers refuse
on file://), and every script and stylesheet is a local file.
"""

from __future__ import annotations

import html
import json
import os
import shutil
from pathlib import Path
from typing import Any

from predsql.jinja import redact_secrets

ASSETS = Path(__file__).parent / "assets"
ASSETS_DIR = "docs_assets"
DATA_FILE = "docs_data.js"
STATIC_FILES = ("app.css", "app.js", "vendor/cytoscape.min.js", "vendor/cytoscape-dagre.min.js",
                "vendor/LICENSES.txt")


def data_script(document: dict[str, Any]) -> str:
    """The document as a script; JSON.parse of a string literal parses faster than
    an object literal of the same size."""
    text = redact_secrets(json.dumps(document, separators=(",", ":"), default=str))
    return f"window.PREDSQL_DOCS = JSON.parse({json.dumps(text)});\n"


def index_html(project_name: str, version: str) -> str:
    template = (ASSETS / "index.html").read_text(encoding="utf-8")
    return (template.replace("{{ title }}", html.escape(f"{project_name} · predsql docs"))
            .replace("{{ version }}", html.escape(version, quote=True)))


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_site(target_dir: Path, document: dict[str, Any]) -> Path:
    """Write index.html, the static assets and the data script; returns index.html."""
    assets = target_dir / ASSETS_DIR
    for rel in STATIC_FILES:
        destination = assets / rel
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ASSETS / rel, destination)
    _write(assets / DATA_FILE, data_script(document))
    index = target_dir / "index.html"
    version = str(document["project"]["generated_at"])
    _write(index, index_html(str(document["project"]["name"]), version))
    return index


def site_size(target_dir: Path) -> int:
    """Bytes of index.html and its assets."""
    files = [target_dir / "index.html", *(target_dir / ASSETS_DIR).rglob("*")]
    return sum(f.stat().st_size for f in files if f.is_file())
