"""Feedback endpoints: record a user signal against a run (acknowledged once committed), and
read signals back by run or by time."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from fastapi.responses import JSONResponse

from compound.production.feedback.log import UnknownRun
from compound.production.feedback.signals import Signal, value_label
from compound.production.serving.disclosure import shown_to
from compound.production.serving.errors import ApiError, responses
from compound.production.serving.schemas import StoredSignal
from compound.production.serving.state import Reader, ServingState, State, Writer

router = APIRouter(tags=["feedback"])

#: How long a signal about a run this server has not seen waits for the run's record. With
#: several servers over one store (Ray Serve replicas, processes behind a load balancer),
#: the run may have been answered by another one, which commits run records in groups every
#: few milliseconds: a client sending feedback right after the answer must not get a 404.
RUN_RECORD_GRACE_S = 2.0


async def _appears(state: ServingState, run_id: str,
                   within_s: float = RUN_RECORD_GRACE_S) -> bool:
    """Whether the run's record is in the store within ``within_s`` seconds."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        if await asyncio.to_thread(state.runner.record_of, run_id) is not None:
            return True
    return False


@router.post(
    "/v1/feedback", status_code=201, response_model=StoredSignal,
    summary="Record a user signal about a run",
    description="Thumbs up/down, a 1-5 rating, the user's edited answer, a retry, an "
                "accepted or ignored suggestion, or free text. The response (201) comes only "
                "after the signal is committed to the store. A run not in the store yet "
                "(another server answered it a moment ago) is waited for up to 2 s before "
                "the 404.",
    responses=responses(400, 401, 403, 404, 413, 422, 429))
async def record_feedback(signal: Annotated[Signal, Body(discriminator="kind")],
                          principal: Writer, state: State) -> JSONResponse:
    # signals of concurrent requests are committed together on the writer's thread (group
    # commit); each request is answered once the transaction holding its signal committed
    stored = await state.feedback_writer.submit((signal, principal.key_id))
    if isinstance(stored, UnknownRun) and await _appears(state, signal.run_id):
        stored = await state.feedback_writer.submit((signal, principal.key_id))
    if isinstance(stored, UnknownRun):
        raise ApiError(404, "not_found", str(stored))
    state.monitor.on_feedback(signal.kind, value_label(signal))
    return JSONResponse(stored, status_code=201)


@router.get("/v1/feedback", response_model=list[dict[str, Any]],
            summary="Signals of one run, or recorded since a time",
            responses=responses(401, 403, 422))
def read_feedback(principal: Reader, state: State,
                  run_id: Annotated[str | None, Query(max_length=64)] = None,
                  since: Annotated[float | None,
                                   Query(description="seconds since the epoch",
                                         allow_inf_nan=False)] = None,
                  limit: Annotated[int, Query(ge=1, le=10_000)] = 500) -> list[dict[str, Any]]:
    if run_id is not None:
        return shown_to(principal, state.feedback.for_run(run_id)[:limit])
    if since is None:
        raise ApiError(422, "invalid_input", "give 'run_id' (one run's signals) or 'since' "
                       "(signals recorded since that time, in seconds since the epoch)")
    return shown_to(principal, state.feedback.since(since, limit=limit))
