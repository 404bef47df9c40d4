"""Opening the store a system declares, behind the redacting layer.

Which store, in order: an explicit ``path`` (a SQLite file); the spec's ``store.url``; the
``$COMPOUND_STORE_URL`` environment variable (both PostgreSQL); else the SQLite file of the
spec's ``store.path``, ``$COMPOUND_HOME/compound.db`` or ``.compound/compound.db``. The
spec's ``store.retention_days`` applies to either kind.

Example:
    >>> import tempfile
    >>> store = open_store(path=Path(tempfile.mkdtemp()) / "compound.db")
    >>> type(store).__name__
    'RedactingStore'
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from compound.store.base import Store
from compound.store.redacting import RedactingStore
from compound.store.sqlite import SQLiteStore

if TYPE_CHECKING:
    from compound.system import System

URL_VARIABLE = "COMPOUND_STORE_URL"


def open_store(system: System | None = None, *, path: str | Path | None = None) -> Store:
    """The store for ``system`` (see the module docstring for which), behind the redacting
    layer (:mod:`~compound.store.redacting`) unless ``store.redact`` is false.

    Args:
        system: a loaded spec; its ``store`` section decides the store.
        path: an explicit SQLite file, overriding the spec and the environment.

    Raises:
        UserError: the URL is not a PostgreSQL URL, or ``compound[postgres]`` is missing.
        StoreError: the store cannot be opened.
    """
    from compound.privacy.spec import RedactionSpec

    retention = system.store.retention_days if system is not None else None
    url = None
    if path is None:
        url = (system.store.url if system is not None else None) or os.environ.get(URL_VARIABLE)
    store: Store
    if url:
        from compound.store.postgres import PostgresStore

        store = PostgresStore(url, retention_days=retention)
    else:
        if path is None and system is not None:
            path = system.store_path()
        if path is None:
            home = os.environ.get("COMPOUND_HOME")
            path = Path(home).expanduser() / "compound.db" if home else Path(
                ".compound/compound.db")
        store = SQLiteStore(path, retention_days=retention)
    spec = system.store.redact if system is not None else RedactionSpec()
    return RedactingStore.from_spec(store, spec)
