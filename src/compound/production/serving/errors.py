"""Error responses: one JSON shape for every failure, with a status code that fits it.

Every error body reads ``{"error": {"type": ..., "message": ..., "status": ...}}`` (plus
``problems`` for invalid input, and ``id`` for a failed step or a bug: the text of such a
failure may carry a secret, so the client gets an id and the server log ``compound.errors``
the detail, redacted, under it), and the message says what was wrong, what was expected, what
was received and what to do, like compound's exceptions do:

====  ==========================  ==============================================
code  type                        when
====  ==========================  ==============================================
400   ``malformed_json``          the body is not JSON
401   ``unauthorized``            no API key, or an unknown or revoked one
403   ``forbidden``               the key's scope does not cover the endpoint
404   ``not_found``               unknown workflow, run or route
413   ``body_too_large``          the body passed ``serve.max_body_bytes``
422   ``invalid_input``           JSON of the wrong shape or types
429   ``rate_limited``            the key spent its rate limit (``Retry-After``)
503   ``overloaded``              the model's queue is full, or not ready yet
503   ``store_unavailable``       the store could not be read or written
504   ``timeout``                 the run passed ``serve.timeout_s``
507   ``store_full``              the store's disk is full; nothing was written
500   ``run_failed``/``internal``  a step failed / a bug (logged with its trace)
====  ==========================  ==============================================
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from compound.errors import StoreError, StoreFull
from compound.privacy.errors import error_ref, safe_error

log = logging.getLogger("compound.serve")


class ErrorDetail(BaseModel):
    type: str
    message: str
    status: int
    problems: list[str] | None = None
    run_id: str | None = None
    id: str | None = None


class ErrorResponse(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


class ApiError(Exception):
    """An error to answer with ``status``; raised by endpoints and dependencies."""

    def __init__(self, status: int, kind: str, message: str, *,
                 headers: Mapping[str, str] | None = None, run_id: str | None = None,
                 problems: Sequence[str] | None = None, error_id: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message
        self.headers = dict(headers or {})
        self.run_id = run_id
        self.problems = list(problems) if problems is not None else None
        self.error_id = error_id


def error_json(status: int, kind: str, message: str, *, run_id: str | None = None,
               problems: list[str] | None = None, error_id: str | None = None
               ) -> dict[str, Any]:
    detail: dict[str, Any] = {"type": kind, "message": message, "status": status}
    if problems is not None:
        detail["problems"] = problems
    if run_id is not None:
        detail["run_id"] = run_id
    if error_id is not None:
        detail["id"] = error_id
    return {"error": detail}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for these error codes."""
    return {code: {"model": ErrorResponse, "description": _DESCRIPTIONS[code]} for code in codes}


_DESCRIPTIONS = {
    400: "malformed JSON", 401: "missing, unknown or revoked API key",
    403: "the key's scope does not allow this", 404: "no such workflow or run",
    413: "request body too large", 422: "input of the wrong shape or types",
    429: "rate limit reached; retry after the Retry-After seconds",
    503: "model queue full or server not ready", 504: "the run took too long",
    507: "the store is full; nothing was written",
    500: "a step failed",
}

_STATUS_KIND = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed", 413: "body_too_large", 429: "rate_limited"}


def store_status(exc: StoreError) -> tuple[int, str]:
    """507 ``store_full`` when the store's disk is full, else 503 ``store_unavailable``."""
    return (507, "store_full") if isinstance(exc, StoreFull) else (503, "store_unavailable")


def _where(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc if p != "body"]
    return ".".join(parts) or "(the body)"


def _describe_validation(errors: Sequence[Mapping[str, Any]]) -> tuple[bool, list[str]]:
    malformed = False
    problems: list[str] = []
    for error in errors:
        if error.get("type") == "json_invalid":
            malformed = True
            ctx = error.get("ctx") or {}
            problems.append(f"not valid JSON: {ctx.get('error', error.get('msg'))} "
                            f"(at character {error.get('loc', ('', '?'))[-1]})")
            continue
        received = error.get("input")
        shown = repr(received)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        if error.get("type") == "missing":
            problems.append(f"{_where(error['loc'])}: required, but missing")
        else:
            problems.append(f"{_where(error['loc'])}: {error.get('msg')}; received {shown}")
    return malformed, problems


def install_handlers(app: FastAPI) -> None:
    """Answer every failure with :class:`ErrorResponse`."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_json(exc.status, exc.kind, exc.message, run_id=exc.run_id,
                                       problems=exc.problems, error_id=exc.error_id),
                            status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        malformed, problems = _describe_validation(exc.errors())
        if malformed:
            return JSONResponse(error_json(
                400, "malformed_json", "the request body is not valid JSON; send a JSON "
                "object with Content-Type: application/json", problems=problems),
                status_code=400)
        return JSONResponse(error_json(
            422, "invalid_input", f"the request does not match the expected schema "
            f"({len(problems)} problem{'s' if len(problems) != 1 else ''}); see 'problems' "
            "and the OpenAPI document at /openapi.json", problems=problems), status_code=422)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        status = exc.status_code
        message = str(exc.detail)
        if status == 404 and message == "Not Found":
            message = (f"no route {request.method} {request.url.path}; the endpoints are "
                       "listed at /docs and /openapi.json")
        elif status == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        return JSONResponse(error_json(status, _STATUS_KIND.get(status, "error"), message),
                            status_code=status, headers=getattr(exc, "headers", None))

    @app.exception_handler(StoreError)
    async def _store(request: Request, exc: StoreError) -> JSONResponse:
        # the world failed, not the request; the detail (the store's path) stays in the log
        status, kind = store_status(exc)
        message = (
            "the server's store is full, so this request was not recorded: nothing of it was "
            "acknowledged. Retry once the operator has freed space" if status == 507 else
            "the server's store could not be read or written; nothing of this request was "
            "acknowledged. Retry later")
        body = {"error": safe_error(exc, kind, status=status, message=message)}
        return JSONResponse(body, status_code=status, headers={"Retry-After": "30"})

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        ref = error_ref(exc)  # logs the traceback, redacted, under the id
        log.error("unhandled error on %s %s: %s", request.method, request.url.path, ref)
        return JSONResponse(error_json(
            500, "internal", f"an unexpected error ({ref.type}) stopped this request; the "
            f"server logged it under {ref.id}: quote it when reporting this",
            error_id=ref.id), status_code=500)
