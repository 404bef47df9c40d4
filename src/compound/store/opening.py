"""Opening the store a system declares: its SQLite file behind the redacting layer.

Example:
    >>> import tempfile
    >>> store = open_store(path=Path(tempfile.mkdtemp()) / "compound.db")
    >>> type(store).__name__
    'RedactingStore'
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from compound.store.base import Store
from compound.store.redacting import RedactingStore
from compound.store.sqlite import SQLiteStore

if TYPE_CHECKING:
    from compound.system import System


def open_store(system: System | None = None, *, path: str | Path | None = None) -> Store:
    """The store for ``system`` (its ``store`` section, else ``$COMPOUND_HOME``), behind the
    redacting layer (:mod:`~compound.store.redacting`) unless ``store.redact`` is false.

    Args:
        system: a loaded spec; its ``store.path`` or ``$COMPOUND_HOME`` decides the file.
        path: an explicit SQLite file, overriding the spec.
    """
    import os

    from compound.errors import UserError

    if path is None and system is not None:
        if system.store.url:
            raise UserError(
                f"store.url '{system.store.url}' asks for PostgreSQL, which this version does not "
                "support yet; remove 'store.url' to use the embedded SQLite store"
            )
        path = system.store_path()
    if path is None:
        home = os.environ.get("COMPOUND_HOME")
        path = Path(home).expanduser() / "compound.db" if home else Path(".compound/compound.db")
    from compound.privacy.spec import RedactionSpec

    spec = system.store.redact if system is not None else RedactionSpec()
    return RedactingStore.from_spec(SQLiteStore(path), spec)
