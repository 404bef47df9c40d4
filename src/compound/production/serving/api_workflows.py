"""Workflow endpoints: one ``POST /v1/workflows/{name}`` (JSON in, JSON out) and one
``POST /v1/workflows/{name}/stream`` (Server-Sent Events) per served workflow, each with its
own input schema in the OpenAPI document; and the runs: recent ones, and one with its trace.

A stream sends ``run`` (the run id), then ``step`` events as steps start and finish and
``token`` events as models generate, then ``done`` (the output) or ``error``.

A workflow with rails around its runs answers with their decision in ``guard``
(``{"action", "reasons"}``): a run they block or escalate is answered 200 with ``output``
null, so that a client tells a refusal from a failure (an error status) by the field; an
escalated run is in the review queue, under ``review_id``. A client that
disconnects cancels its run: the model stops at its next token and the run is recorded as
failed.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Body, Depends, FastAPI, Path, Query
from fastapi.responses import JSONResponse, StreamingResponse

from compound.errors import UserError
from compound.privacy.errors import error_ref
from compound.production.serving.disclosure import shown_to
from compound.production.serving.errors import ApiError, responses
from compound.production.serving.events import sse
from compound.production.serving.keys import Principal
from compound.production.serving.runner import client_message, failure_kind
from compound.production.serving.schemas import (
    RunDetail,
    RunResponse,
    RunSummary,
    WorkflowInfo,
    input_model,
)
from compound.production.serving.state import WRITE, Reader, ServingState, State, get_state
from compound.workflow.tracing import read_spans

router = APIRouter(tags=["runs"])

STREAM_DOC = {
    "description": "Server-Sent Events: `run` ({run_id, workflow}), `step` ({step, status, "
                   "duration_ms}), `token` ({text}), then `done` ({run_id, output, "
                   "duration_ms}) or `error` ({type, status, message, run_id}); `ping` every "
                   "15 s of silence. With rails around the workflow, `done` also has "
                   "`guard` ({action, reasons}) and tokens arrive as the output rails let "
                   "them through.",
    "content": {"text/event-stream": {"schema": {"type": "string"}}},
}


def run_error(exc: BaseException, workflow: str) -> ApiError:
    """The HTTP error for a run that did not complete: a failed step is told by its error id,
    never by its text (:func:`~compound.production.serving.runner.client_message`)."""
    status, kind = failure_kind(exc)
    message = client_message(exc, kind)
    if kind == "invalid_input":
        message = f"workflow '{workflow}': {exc}"
    return ApiError(status, kind, message, run_id=getattr(exc, "run_id", None),
                    error_id=error_ref(exc).id if kind == "run_failed" else None)


def _signature(model: Any, principal: Any) -> inspect.Signature:
    kw = inspect.Parameter.KEYWORD_ONLY
    return inspect.Signature([
        inspect.Parameter("payload", kw, annotation=model if model is not None
                          else dict[str, Any], default=Body(...)),
        inspect.Parameter("principal", kw, annotation=Principal, default=Depends(principal)),
        inspect.Parameter("state", kw, annotation=ServingState, default=Depends(get_state)),
    ])


def add_workflow_routes(app: FastAPI, state: ServingState) -> None:
    """Add the run and stream endpoints of every served workflow to ``app``."""
    for name, flow in state.runner.workflows.items():
        model = input_model(name, flow.input_type)
        _add_run(app, name, flow.description, model)
        _add_stream(app, name, model)

    @app.post("/v1/workflows/{name}", include_in_schema=False)
    @app.post("/v1/workflows/{name}/stream", include_in_schema=False)
    async def unknown(name: str) -> None:
        raise ApiError(404, "not_found", f"no workflow '{name}' is served here; GET "
                                         "/v1/workflows lists the served ones")


def _add_run(app: FastAPI, name: str, description: str, model: Any) -> None:
    async def run(payload: Any, principal: Principal, state: ServingState) -> JSONResponse:
        data = payload.model_dump() if hasattr(payload, "model_dump") else payload
        if not isinstance(data, dict):
            raise ApiError(422, "invalid_input", f"workflow '{name}' takes a JSON object of "
                           f"its input fields; received {type(data).__name__}")
        try:
            outcome = await state.runner.run(name, data)
        except (UserError, Exception) as exc:
            raise run_error(exc, name) from None
        body = {
            "run_id": outcome.run_id, "workflow": name, "output": outcome.output,
            "duration_ms": round(outcome.duration_s * 1000, 3), "tokens": outcome.tokens,
            "cost_usd": outcome.cost_usd,
        }
        if outcome.guard is not None:
            body["guard"] = outcome.guard
        return JSONResponse(body, headers={"X-Compound-Run-Id": outcome.run_id})

    run.__signature__ = _signature(model, WRITE)  # type: ignore[attr-defined]
    app.add_api_route(
        f"/v1/workflows/{name}", run, methods=["POST"], response_model=RunResponse,
        summary=f"Run workflow '{name}'", description=description or None,
        operation_id=f"run_{name}", tags=["workflows"],
        responses=responses(400, 401, 403, 413, 422, 429, 503, 504, 500))


def _add_stream(app: FastAPI, name: str, model: Any) -> None:
    async def stream(payload: Any, principal: Principal, state: ServingState
                     ) -> StreamingResponse:
        data = payload.model_dump() if hasattr(payload, "model_dump") else payload
        events = state.runner.stream(name, data)
        return StreamingResponse(_sse_body(events, state), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache",
                                          "X-Accel-Buffering": "no"})

    stream.__signature__ = _signature(model, WRITE)  # type: ignore[attr-defined]
    app.add_api_route(
        f"/v1/workflows/{name}/stream", stream, methods=["POST"],
        summary=f"Run workflow '{name}', streaming steps and tokens",
        operation_id=f"stream_{name}", tags=["workflows"], response_class=StreamingResponse,
        responses={200: STREAM_DOC, **responses(400, 401, 403, 413, 422, 429)})


async def _sse_body(events: AsyncIterator[tuple[str, dict[str, Any]]], state: ServingState
                    ) -> AsyncIterator[bytes]:
    finished = False
    try:
        async for event, data in events:
            yield sse(event, data)
        finished = True
    finally:
        if not finished:
            state.monitor.metrics.disconnects.inc()
        with anyio.CancelScope(shield=True):  # the request is being cancelled: clean up anyway
            await events.aclose()  # type: ignore[attr-defined]


@router.get("/v1/workflows", response_model=list[WorkflowInfo], summary="Served workflows",
            responses=responses(401, 403))
async def list_workflows(principal: Reader, state: State) -> list[WorkflowInfo]:
    infos = []
    for name, flow in state.runner.workflows.items():
        model = input_model(name, flow.input_type)
        schema = model.model_json_schema() if model is not None else {"type": "object"}
        infos.append(WorkflowInfo(name=name, description=flow.description, input_schema=schema,
                                  run=f"/v1/workflows/{name}",
                                  stream=f"/v1/workflows/{name}/stream"))
    return infos


@router.get("/v1/runs", response_model=list[RunSummary], summary="Recent runs, newest first",
            responses=responses(401, 403))
async def recent_runs(principal: Reader, state: State,
                      limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[RunSummary]:
    return [RunSummary(**r) for r in state.monitor.recent_runs(limit)]


@router.get("/v1/runs/{run_id}", response_model=RunDetail,
            summary="A run: its record, trace and feedback", responses=responses(401, 403, 404))
async def run_detail(run_id: Annotated[str, Path(max_length=64)], principal: Reader,
                     state: State) -> RunDetail:
    record = state.runner.record_of(run_id)
    if record is None:
        raise ApiError(404, "not_found", f"no run '{run_id}' in this system's store; recent "
                                         "runs are listed at GET /v1/runs")
    spans = read_spans(state.store, run_id)
    if not spans and time.time() - float(record.get("ended") or 0) < 5:
        # the trace of a run that just ended may still be on its way to the store
        await anyio.to_thread.run_sync(state.runner.tracer.flush, 2.0)
        spans = read_spans(state.store, run_id)
    # a read-scope key never gets raw inputs, even from a store that keeps them
    return RunDetail(run_id=run_id, record=shown_to(principal, record),
                     spans=shown_to(principal, spans),  # type: ignore[arg-type]
                     feedback=shown_to(principal, state.feedback.for_run(run_id)))
