"""What a served app holds (the store, the runner, the monitoring, the keys), and the request
dependencies that hand it, and the caller's identity, to endpoints.

Endpoints never reach for globals: they declare ``state: State`` and ``principal: Writer``
(or ``Reader``, ``Admin``), which FastAPI fills from these dependencies.
"""

from __future__ import annotations

import math
import shlex
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from compound.production.serving.errors import ApiError
from compound.production.serving.keys import ApiKeys, Principal, Scope

if TYPE_CHECKING:
    from compound.production.feedback.log import FeedbackLog
    from compound.production.monitoring.monitor import Monitor
    from compound.production.serving.batcher import AsyncBatcher
    from compound.production.serving.limits import RateLimiter
    from compound.production.serving.runner import WorkflowRunner
    from compound.production.serving.served_llm import ServedLLM
    from compound.production.serving_spec import ServeSpec
    from compound.store.base import Store
    from compound.system import System

LOCAL = Principal("local", "local development (auth off)", "admin")


@dataclass
class ServingState:
    """Everything one served app holds; built by
    :func:`~compound.production.serving.app.create_app`."""

    spec: ServeSpec
    store: Store
    runner: WorkflowRunner
    monitor: Monitor
    keys: ApiKeys
    feedback: FeedbackLog
    limiter: RateLimiter | None
    feedback_writer: AsyncBatcher[Any, Any]
    llms: dict[str, ServedLLM] = field(default_factory=dict)
    batchers: list[AsyncBatcher[Any, Any]] = field(default_factory=list)
    system: System | None = None
    name: str = "compound"
    ready: threading.Event = field(default_factory=threading.Event)
    not_ready: list[str] = field(default_factory=list)


async def get_state(request: Request) -> ServingState:
    """The app's :class:`ServingState` (a FastAPI dependency)."""
    state: ServingState = request.app.state.compound
    return state


def key_command(state: ServingState, scope: Scope) -> str:
    """The `compound keys create` command line that makes a key in this server's store.

    ``--home`` names the store's folder exactly when it is a ``compound.db`` file (whatever
    ``$COMPOUND_HOME`` the caller's shell has); otherwise ``--spec`` names the served spec.
    """
    path = getattr(state.store, "path", None)
    source = state.system.source if state.system is not None else None
    if path is not None and path.name == "compound.db":
        where = f"--home {shlex.quote(str(path.parent))}"
    elif source is not None:
        where = f"--spec {shlex.quote(str(source))}"
    else:
        where = "--spec SPEC (or --home DIR)"
    return f"compound keys create NAME --scope {scope} {where}"


_bearer = HTTPBearer(auto_error=False, scheme_name="bearer",
                     bearerFormat="ck_<id>_<secret>",
                     description="an API key: 'Authorization: Bearer ck_...'")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="apiKey",
                       description="an API key in the X-API-Key header")


def authorize(scope: Scope) -> Callable[..., Principal]:
    """A dependency admitting requests whose key covers ``scope`` (and within its rate)."""

    # async on purpose: FastAPI runs a plain def dependency on a worker thread, a hop that
    # costs more than the check itself
    async def dependency(request: Request,
                         bearer: Annotated[HTTPAuthorizationCredentials | None,
                                           Security(_bearer)],
                         api_key: Annotated[str | None, Security(_header)],
                         state: Annotated[ServingState, Depends(get_state)]) -> Principal:
        if not state.spec.auth:
            principal = LOCAL
            caller = request.client.host if request.client else "local"
        else:
            token = bearer.credentials if bearer is not None else api_key
            if not token:
                raise ApiError(401, "unauthorized",
                               f"this endpoint needs an API key with scope '{scope}': send "
                               "'Authorization: Bearer ck_...' (or 'X-API-Key: ck_...'). "
                               f"Create one with '{key_command(state, scope)}'",
                               headers={"WWW-Authenticate": "Bearer"})
            found = state.keys.verify(token)
            if found is None:
                raise ApiError(401, "unauthorized",
                               f"the API key '{token[:12]}...' is unknown or revoked; check "
                               f"it, or create one with '{key_command(state, scope)}'",
                               headers={"WWW-Authenticate": "Bearer"})
            if not found.allows(scope):
                raise ApiError(403, "forbidden",
                               f"key '{found.name}' has scope '{found.scope}'; this endpoint "
                               f"needs '{scope}' (scopes nest: read < write < admin)")
            principal, caller = found, found.key_id
        if state.limiter is not None:
            wait = state.limiter.take(caller)
            if wait > 0:
                raise ApiError(429, "rate_limited",
                               f"rate limit reached ({state.limiter.rate:g} requests/s, burst "
                               f"{state.limiter.burst:g}); retry in {wait:.2f}s",
                               headers={"Retry-After": str(max(1, math.ceil(wait)))})
        return principal

    dependency.__name__ = f"authorize_{scope}"
    return dependency


READ = authorize("read")
WRITE = authorize("write")
ADMIN = authorize("admin")

#: endpoint parameters: ``state: State``, ``principal: Reader`` (or Writer, Admin)
State = Annotated[ServingState, Depends(get_state)]
Reader = Annotated[Principal, Depends(READ)]
Writer = Annotated[Principal, Depends(WRITE)]
Admin = Annotated[Principal, Depends(ADMIN)]
