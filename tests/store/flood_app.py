"""The app `compound serve flood_app:app` serves in the PostgreSQL flood test: the serving
tests' workflows over the store ``$COMPOUND_STORE_URL`` names."""

from __future__ import annotations

from typing import Any

from serving_apps import make_app

from compound.production.serving_spec import ServeSpec
from compound.store import open_store


def app() -> Any:
    return make_app(open_store(), spec=ServeSpec(rate_limit=None, flush_every_s=0.5))
