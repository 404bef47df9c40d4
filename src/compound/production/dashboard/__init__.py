"""The monitoring dashboard: one page served by the app, drawn from the app's own JSON API.

The page (``/dashboard``) charts traffic, latency percentiles, error and fallback rates,
cost, quality (online evaluators and user signals) and feedback over time, shows each
workflow's drift status and alerts, the recent runs (each opens its trace), and the human
review queue. It works offline: the charts are inline SVG drawn by a small script the app
serves itself; nothing is fetched from elsewhere.

The page asks for an API key with the ``read`` scope when the server requires keys; a key
can also be passed in the address as ``/dashboard#key=ck_...`` (kept in the tab's session
storage, never sent anywhere but this server).
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from compound.production.serving.errors import ApiError

router = APIRouter(include_in_schema=False)
STATIC = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}


@cache
def _read(name: str) -> bytes:
    return resources.files("compound.production.dashboard").joinpath("static", name).read_bytes()


@router.get("/dashboard")
async def page() -> HTMLResponse:
    return HTMLResponse(_read("index.html"), headers={"Cache-Control": "no-cache"})


@router.get("/dashboard/static/{name}")
async def static(name: str) -> Response:
    if name not in STATIC:
        raise ApiError(404, "not_found", f"no dashboard file '{name}'")
    return Response(_read(name), media_type=STATIC[name],
                    headers={"Cache-Control": "no-cache"})
