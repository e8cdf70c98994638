"""predsql: dbt-style batch inference in SQL on DuckDB and onnxruntime.

`from predsql import invoke` runs commands from Python (predsql/api.py); it is
imported on first use, so `import predsql` stays light.
"""

from typing import Any

__version__ = "0.1.0"

_API = ("invoke", "InvocationResult", "NodeOutcome")


def __getattr__(name: str) -> Any:
    if name in _API:
        from predsql import api

        return getattr(api, name)
    raise AttributeError(f"module 'predsql' has no attribute {name!r}")


__all__ = ["__version__", *_API]
