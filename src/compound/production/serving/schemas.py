"""Request and response bodies of the HTTP API (they make the OpenAPI document), and the
input model of each served workflow, made from its declared input type."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from compound.production.feedback.signals import RUN_ID


class RunResponse(BaseModel):
    """A completed run."""

    run_id: str = Field(description="use it for feedback and with 'compound trace'")
    workflow: str
    output: Any = Field(description="the output of the workflow's output step, as JSON "
                                    "(null when the rails around the run stopped it)")
    duration_ms: float
    tokens: int = 0
    cost_usd: float = 0.0
    guard: dict[str, Any] | None = Field(
        default=None, description="the decision of the rails around the run, when the "
        "workflow has any: {action: allow|redact|block|escalate, reasons: [...]}, and "
        "review_id: the review queue's item when they escalated")


class WorkflowInfo(BaseModel):
    name: str
    description: str
    input_schema: dict[str, Any]
    run: str = Field(description="POST here to run it")
    stream: str = Field(description="POST here to run it with Server-Sent Events")


class RunSummary(BaseModel):
    run_id: str
    workflow: str
    status: str
    started: float | None = None
    duration_ms: float | None = None
    error: str | None = None


class Span(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    kind: str
    span_id: str
    parent_id: str | None
    start_ns: int
    end_ns: int
    status: str
    error: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)


class RunDetail(BaseModel):
    """A run's record, its trace and the signals users gave it."""

    run_id: str
    record: dict[str, Any]
    spans: list[Span]
    feedback: list[dict[str, Any]]


class StoredSignal(BaseModel):
    """A signal as committed: the request's fields plus its ``id``, ``ts`` and workflow."""

    model_config = ConfigDict(extra="allow")

    id: int
    ts: float
    run_id: str = RUN_ID
    kind: str
    workflow: str | None = None


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "starting", "saturated"]
    waiting_for: list[str] = Field(default_factory=list)


class KeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    scope: Literal["read", "write", "admin"] = "write"


class KeyOut(BaseModel):
    key_id: str
    name: str
    scope: str
    created: float
    revoked: float | None = None
    prefix: str = ""


class KeyCreated(KeyOut):
    key: str = Field(description="the secret; shown once, never stored")


class PinRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workflow: str
    since: float = Field(description="seconds since the epoch")
    until: float


class PinResponse(BaseModel):
    workflow: str
    inputs: int


def input_model(workflow: str, input_type: Any) -> type[BaseModel] | None:
    """A pydantic model of a workflow's input type (its fields, types and defaults), or
    None for an untyped workflow (any JSON object is accepted)."""
    if input_type is None:
        return None
    if isinstance(input_type, type) and issubclass(input_type, BaseModel):
        return input_type
    if not dataclasses.is_dataclass(input_type):
        return None
    try:
        hints = typing.get_type_hints(input_type)
    except Exception:
        hints = {}
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(input_type):
        tp = hints.get(f.name, Any)
        if f.default is not dataclasses.MISSING:
            fields[f.name] = (tp, f.default)
        elif f.default_factory is not dataclasses.MISSING:
            fields[f.name] = (tp, Field(default_factory=f.default_factory))
        else:
            fields[f.name] = (tp, ...)
    model: type[BaseModel] = create_model(  # type: ignore[call-overload]
        f"{_camel(workflow)}Input", __config__=ConfigDict(extra="forbid"), **fields)
    return model


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.replace("-", "_").split("_"))
