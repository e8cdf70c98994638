"""dbt's macro runtime and packages: what dbt projects and packages expect to find.

Macros are read once per run (`macros.py`, `loading.py`), instantiated lazily per
package namespace (`namespace.py`) and dispatched as dbt does; the `dbt` namespace
of cross-database macros is predsql's own (`crossdb.py`), as are `adapter`
(`adapter.py`), relations and columns (`relation.py`), statements (`statements.py`)
and the rest of the context (`context.py`, `node_context.py`). Packages are read
from `dbt_packages/` (`packages.py`, `package_nodes.py`) and installed by
`predsql deps` (`deps.py`); hooks run from `hooks.py`.
"""
