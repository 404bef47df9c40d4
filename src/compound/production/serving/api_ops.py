"""Operations endpoints: health and readiness, Prometheus metrics, monitoring series for the
dashboard, drift reports and checks (inputs and model behaviour), the review queue, and API
key management."""

from __future__ import annotations

import time
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse, Response

from compound.privacy.redactor import redact_text
from compound.production.monitoring.behaviour import latest_behaviour
from compound.production.monitoring.drift_monitor import latest_reports, recent_alerts
from compound.production.monitoring.rollups import read_series
from compound.production.serving.disclosure import shown_to
from compound.production.serving.errors import ApiError, responses
from compound.production.serving.schemas import (
    Health,
    KeyCreated,
    KeyOut,
    KeyRequest,
    PinRequest,
    PinResponse,
    Readiness,
)
from compound.production.serving.state import Admin, Reader, State
from compound.strategy.review import COLLECTION as REVIEW

router = APIRouter()


@router.get("/healthz", response_model=Health, tags=["operations"],
            summary="Liveness: the process answers")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/v1/info", tags=["operations"], summary="The system's name, version and auth mode")
async def info(state: State) -> dict[str, Any]:
    from compound.version import __version__

    return {"name": state.name, "version": __version__, "auth": state.spec.auth}


@router.get("/readyz", response_model=Readiness, tags=["operations"],
            summary="Readiness: models loaded, the store reachable, no model saturated",
            responses={503: {"model": Readiness,
                             "description": "still starting, or a model is saturated"}})
async def ready(state: State) -> JSONResponse:
    waiting = list(state.not_ready)
    try:
        state.store.get("api_keys", "-")
    except Exception as exc:
        waiting.append(f"store: {exc}")
    if state.ready.is_set() and not waiting:
        # ready only while every model can take another call: a model whose places and
        # waiting line are all taken refuses the next request, so send it elsewhere
        saturated = [r for r in (llm.queue.saturation() for llm in state.llms.values()) if r]
        if not saturated:
            return JSONResponse({"status": "ready", "waiting_for": []})
        return JSONResponse({"status": "saturated", "waiting_for": saturated},
                            status_code=503)
    # /readyz needs no key: a reason that quotes an exception (a model that failed to load
    # with its provider's message) must not hand out a secret in it
    return JSONResponse({"status": "starting",
                         "waiting_for": [redact_text(w) for w in waiting] or ["warm-up"]},
                        status_code=503)


@router.get("/v1/monitoring/series", tags=["monitoring"],
            summary="Traffic, latency, errors, cost, quality and feedback over time",
            responses=responses(401, 403, 422))
def series(principal: Reader, state: State,
           window_s: Annotated[float, Query(gt=0, le=30 * 86400)] = 3600,
           points: Annotated[int, Query(ge=1, le=500)] = 60) -> dict[str, Any]:
    now = time.time()
    step = max(state.monitor.rollups.bucket_s, window_s / points)
    step = round(step / state.monitor.rollups.bucket_s) * state.monitor.rollups.bucket_s
    until = (now // step + 1) * step
    since = until - step * points
    rows = read_series(state.store, since=since, until=until, step_s=step,
                       live=state.monitor.rollups)
    return {"since": since, "until": until, "step_s": step, "points": rows}


@router.get("/v1/drift", tags=["monitoring"],
            summary="Latest drift reports (inputs, model behaviour) and alerts",
            responses=responses(401, 403))
def drift(principal: Reader, state: State) -> dict[str, Any]:
    return {"reports": latest_reports(state.store), "behaviour": latest_behaviour(state.store),
            "alerts": recent_alerts(state.store)}


@router.post("/v1/drift/check", tags=["monitoring"],
             summary="Check the inputs and the models' behaviour for drift now",
             responses=responses(401, 403))
async def check_drift(principal: Admin, state: State) -> dict[str, Any]:
    names = list(state.runner.workflows)
    reports = await anyio.to_thread.run_sync(state.monitor.check_drift, names)
    behaviour = await anyio.to_thread.run_sync(state.monitor.check_behaviour, names)
    return {"reports": [r.to_dict() for r in reports],
            "behaviour": [r.to_dict() for r in behaviour]}


@router.post("/v1/drift/reference", response_model=PinResponse, tags=["monitoring"],
             summary="Pin a time window of a workflow's inputs as the drift reference",
             responses=responses(401, 403, 404, 422))
def pin_reference(body: PinRequest, principal: Admin, state: State) -> PinResponse:
    if body.workflow not in state.runner.workflows:
        raise ApiError(404, "not_found", f"no workflow '{body.workflow}' is served here")
    if body.until <= body.since:
        raise ApiError(422, "invalid_input", f"'until' ({body.until}) must be after 'since' "
                       f"({body.since})")
    state.monitor.inputs.flush()
    count = state.monitor.drift.pin_reference(body.workflow, since=body.since, until=body.until)
    return PinResponse(workflow=body.workflow, inputs=count)


@router.get("/v1/review", tags=["monitoring"],
            summary="The human review queue (every queue), newest first",
            responses=responses(401, 403))
def review_queue(principal: Reader, state: State, status: str = "open",
                 limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
    # items as compound.strategy.review.ReviewQueue keeps them: collection 'review',
    # key '{queue}/{id}', with status, reason, input, proposed, confidence, run_id, created_at
    items = [{**value, "key": key} for key, value in state.store.items(REVIEW)
             if isinstance(value, dict) and value.get("status", "open") == status]
    items.sort(key=lambda item: -float(item.get("created_at", 0) or 0))
    return shown_to(principal, items[:limit])  # a read-scope key never gets raw inputs


@router.get("/v1/keys", response_model=list[KeyOut], tags=["keys"], summary="API keys",
            responses=responses(401, 403))
def list_keys(principal: Admin, state: State) -> list[KeyOut]:
    return [KeyOut(**vars(k)) for k in state.keys.list()]


@router.post("/v1/keys", response_model=KeyCreated, status_code=201, tags=["keys"],
             summary="Create an API key (its secret is shown once)",
             responses=responses(401, 403, 422))
def create_key(body: KeyRequest, principal: Admin, state: State) -> KeyCreated:
    secret, info = state.keys.create(body.name, scope=body.scope)
    return KeyCreated(key=secret, **vars(info))


@router.delete("/v1/keys/{key_id}", status_code=204, tags=["keys"], summary="Revoke a key",
               responses=responses(401, 403, 404))
def revoke_key(key_id: Annotated[str, Path(max_length=16)], principal: Admin,
               state: State) -> Response:
    if not state.keys.revoke(key_id):
        raise ApiError(404, "not_found", f"no API key '{key_id}'; GET /v1/keys lists them")
    return Response(status_code=204)
