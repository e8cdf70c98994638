"""`predsql docs serve`: the generated site over HTTP on localhost."""

from __future__ import annotations

import functools
import webbrowser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from predsql.errors import ProjectError
from predsql.interrupts import Interrupted


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        pass


def make_server(target_dir: Path, host: str, port: int) -> ThreadingHTTPServer:
    """A server for target/ (index.html and its assets); port 0 picks a free one."""
    if not (target_dir / "index.html").is_file():
        raise ProjectError(f"no docs site in {target_dir}",
                           hint="run `predsql docs generate` first")
    handler = functools.partial(_QuietHandler, directory=str(target_dir))
    try:
        return ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise ProjectError(f"cannot serve on {host}:{port}: {exc.strerror or exc}",
                           hint="pick another port with --port N") from exc


def serve(target_dir: Path, host: str, port: int, open_browser: bool,
          announce: Any = print) -> None:
    server = make_server(target_dir, host, port)
    url = f"http://{host}:{server.server_address[1]}/"
    announce(f"Serving the docs site of {target_dir} at {url} (Ctrl-C to stop)")
    if open_browser:
        webbrowser.open(url)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, Interrupted):  # Ctrl-C or SIGTERM: the way to stop serving
        pass
    finally:
        server.server_close()
