"""What `compound serve TARGET` serves: the app built from a `compound.yaml` (or its folder)
or from Python named as ``module:attribute``.

One function builds it, :func:`app_from_target`, so that the single-process server and each
replica of ``--on ray`` build exactly the same app from the same arguments.

The store is found as the other commands find it: ``home`` (``HOME/compound.db``), else the
spec's store, else ``$COMPOUND_STORE_URL``, else ``$COMPOUND_HOME``, else
``.compound/compound.db`` in the current folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

    from compound.store.base import Store


def is_python_target(target: str) -> bool:
    """``module:attribute`` rather than a spec path (a path that exists wins)."""
    return ":" in target and not Path(target).exists()


def app_from_target(target: str, *, home: Path | None = None,
                    overrides: dict[str, Any] | None = None,
                    base: str | None = None) -> FastAPI:
    """The served app for ``target``.

    Args:
        target: a compound.yaml (or its folder), or ``module:attribute`` naming a FastAPI app,
            a Workflow, a list or dict of Workflows, or a function returning one of those.
        home: the store's folder (``HOME/compound.db``), overriding the spec's store.
        overrides: ``serve:`` settings that win over the spec's (host, port, auth).
        base: the folder ``module:attribute`` is imported from (default: the current one).

    Raises:
        UserError: the spec is invalid, or the Python object is not something to serve.
    """
    overrides = dict(overrides or {})
    if is_python_target(target):
        return _python_app(target, home, overrides, base or os.getcwd())
    from compound.production.serving.app import app_from_system
    from compound.store import SQLiteStore
    from compound.system import System

    system = System.load(Path(target))
    settings = system.serve.model_copy(update=overrides)
    store = SQLiteStore(home.expanduser() / "compound.db") if home else None
    return app_from_system(system, store=store, spec=settings)


def _python_app(reference: str, home: Path | None, overrides: dict[str, Any],
                base: str) -> FastAPI:
    from fastapi import FastAPI

    from compound.code.references import resolve
    from compound.errors import UserError
    from compound.production.serving.app import create_app
    from compound.production.serving_spec import ServeSpec
    from compound.store import open_store
    from compound.workflow.graph import Workflow

    # the base folder is importable, appended (see compound.code.references)
    obj = resolve(reference, base=base, what="app or workflow")
    if callable(obj) and not isinstance(obj, FastAPI | Workflow):
        obj = obj()
    if isinstance(obj, FastAPI):
        return obj
    flows = ([obj] if isinstance(obj, Workflow) else list(obj.values()) if isinstance(obj, dict)
             else list(obj) if isinstance(obj, list | tuple) else None)
    if not flows or not all(isinstance(f, Workflow) for f in flows):
        raise UserError(f"{reference} is a {type(obj).__name__}; serve needs a FastAPI app, a "
                        "Workflow, a list or dict of Workflows, or a function returning one")
    store: Store = (open_store(path=home.expanduser() / "compound.db") if home is not None
                    else open_store())
    return create_app({f.name: f for f in flows}, store=store, spec=ServeSpec(**overrides),
                      name=reference)
