"""dbt's macro runtime and packages: what dbt projects and packages expect to find.

Macros are read once per run (`macros.py`), instantiated lazily per package
namespace (`namespace.py`), dispatched as dbt does (`dispatch.py`); the `dbt`
namespace of cross-database macros is predsql's own (`crossdb.py`), as are
`adapter` (`adapter.py`), relations and columns (`relation.py`), statements
(`statements.py`) and the rest of the context (`context.py`). Packages are read
from `dbt_packages/` (`packages.py`) and installed by `predsql deps` (`deps.py`).
"""
