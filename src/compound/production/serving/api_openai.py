"""An OpenAI-compatible chat endpoint, so existing clients (the ``openai`` SDK, LangChain,
curl scripts) work against a compound system unchanged.

``POST /v1/chat/completions`` takes the usual request; its ``model`` names either one of the
system's LLMs (the conversation goes to that model, through its queue) or a served workflow
that takes one text input (the last user message becomes that input and the workflow's output
text becomes the answer). ``stream: true`` answers with ``chat.completion.chunk`` events and
``data: [DONE]``. Every completion is a run: its id is in the response ``id``
(``chatcmpl-<run id>``) and the ``X-Compound-Run-Id`` header, ready for feedback.
``GET /v1/models`` lists what ``model`` may name.

A workflow run that the rails around it block or escalate answers with no content and
``finish_reason: "content_filter"``, as OpenAI's API does for a filtered answer.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any, Literal

import anyio
from fastapi import APIRouter
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from compound.intelligence.llm.errors import ContextOverflow
from compound.production.monitoring.quality import output_text
from compound.production.serving.api_workflows import run_error
from compound.production.serving.errors import ApiError, responses
from compound.production.serving.state import Reader, ServingState, State, Writer

router = APIRouter(tags=["openai"])
#: more tokens than any model's context holds; a larger ``max_tokens`` is refused with 422
MAX_TOKENS = 1 << 20
TEXT_FIELDS = ("prompt", "question", "query", "text", "message", "input")


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text or "" for part in self.content if part.type == "text")
        return self.content or ""


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatRequest(BaseModel):
    """The subset of OpenAI's chat request that compound honours; other fields are ignored."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(description="an LLM of the system, or a served workflow")
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=1, le=MAX_TOKENS)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=MAX_TOKENS)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    seed: int | None = None
    stop: str | list[str] | None = None
    user: str | None = None


class ChatChoice(BaseModel):
    index: int
    message: dict[str, Any]
    finish_reason: str


class ChatUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: ChatUsage


def _target(request: ChatRequest, state: ServingState) -> tuple[str, dict[str, Any], str]:
    """The workflow to run, its input, and the step whose tokens make the answer."""
    if request.model in state.llms:
        stop = [request.stop] if isinstance(request.stop, str) else request.stop
        messages = [{"role": "system" if m.role == "developer" else m.role, "content": m.text()}
                    for m in request.messages]
        return f"chat:{request.model}", {
            "messages": messages, "max_tokens": request.max_completion_tokens
            or request.max_tokens, "temperature": request.temperature,
            "top_p": request.top_p, "seed": request.seed, "stop": stop}, "chat"
    flow = state.runner.workflows.get(request.model)
    if flow is None:
        known = sorted({*state.llms, *state.runner.workflows})
        raise ApiError(404, "not_found", f"no model '{request.model}' here; 'model' names an "
                       f"LLM or a workflow of the system: {', '.join(known) or 'none'}")
    fields = flow.input_fields()
    name = next((f for f in TEXT_FIELDS if f in fields), None)
    if name is None and len(fields) == 1:
        name = next(iter(fields))
    if name is None:
        raise ApiError(422, "invalid_input",
                       f"workflow '{request.model}' takes {', '.join(fields) or 'no fields'}; "
                       "a chat request can only fill one text input (named one of "
                       f"{', '.join(TEXT_FIELDS)})")
    last = next((m for m in reversed(request.messages) if m.role == "user"), None)
    if last is None:
        raise ApiError(422, "invalid_input", "the messages hold no 'user' message to answer")
    return request.model, {name: last.text()}, flow.output_step


def _chat_error(exc: Exception, request: ChatRequest, workflow: str) -> ApiError:
    """A run that failed because the tokens the client asked for do not fit the model's
    context is the request's fault (422 naming the field); anything else as any run's."""
    field = "max_completion_tokens" if request.max_completion_tokens else "max_tokens"
    asked = request.max_completion_tokens or request.max_tokens
    seen: BaseException | None = exc
    while asked is not None and seen is not None:
        if isinstance(seen, ContextOverflow):
            limit = f" of {seen.limit} tokens" if getattr(seen, "limit", None) else ""
            return ApiError(422, "invalid_input", (
                f"{field}: {asked} tokens do not fit the context window{limit} of model "
                f"'{request.model}' with this conversation; ask for fewer"),
                run_id=getattr(exc, "run_id", None),
                problems=[f"{field}: too large for the model's context window; received "
                          f"{asked}"])
        seen = seen.__cause__ or seen.__context__
    return run_error(exc, workflow)


def _answer(workflow: str, output: Any, guard: dict[str, Any] | None = None
            ) -> tuple[str, str, int, int]:
    if workflow.startswith("chat:") and isinstance(output, dict):
        return (output["text"], output["finish_reason"], output["prompt_tokens"],
                output["completion_tokens"])
    if guard is not None and guard.get("action") in ("block", "escalate"):
        return "", "content_filter", 0, 0
    return output_text(output), "stop", 0, 0


@router.post("/v1/chat/completions", response_model=ChatCompletion,
             summary="OpenAI-compatible chat completion (JSON, or SSE with stream: true)",
             responses={200: {"content": {"text/event-stream": {}}},
                        **responses(400, 401, 403, 404, 413, 422, 429, 503, 504, 500)})
async def chat_completions(request: ChatRequest, principal: Writer, state: State) -> Any:
    workflow, payload, answer_step = _target(request, state)
    created = int(time.time())
    if request.stream:
        usage = request.stream_options is not None and request.stream_options.include_usage
        return StreamingResponse(
            _chunks(state, workflow, payload, request.model, created, answer_step, usage),
            media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
    try:
        outcome = await state.runner.run(workflow, payload)
    except Exception as exc:
        raise _chat_error(exc, request, workflow) from None
    text, finish, prompt_tokens, completion_tokens = _answer(workflow, outcome.output,
                                                             outcome.guard)
    body = ChatCompletion(
        id=f"chatcmpl-{outcome.run_id}", created=created, model=request.model,
        choices=[ChatChoice(index=0, message={"role": "assistant", "content": text},
                            finish_reason=finish)],
        usage=ChatUsage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                        total_tokens=prompt_tokens + completion_tokens))
    return JSONResponse(body.model_dump(), headers={"X-Compound-Run-Id": outcome.run_id})


async def _chunks(state: ServingState, workflow: str, payload: dict[str, Any], model: str,
                  created: int, answer_step: str, include_usage: bool) -> AsyncIterator[bytes]:
    events = state.runner.stream(workflow, payload)
    chunk_id = ""
    sent_text = False

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        data = {"id": chunk_id, "object": "chat.completion.chunk", "created": created,
                "model": model, "choices": [{"index": 0, "delta": delta,
                                             "finish_reason": finish}], **extra}
        return f"data: {json.dumps(data, ensure_ascii=False)}\n\n".encode()

    try:
        async for event, data in events:
            if event == "run":
                chunk_id = f"chatcmpl-{data['run_id']}"
                yield chunk({"role": "assistant", "content": ""})
            elif event == "token" and data.get("step") == answer_step:
                sent_text = True
                yield chunk({"content": data["text"]})
            elif event == "done":
                text, finish, p_tok, c_tok = _answer(workflow, data["output"],
                                                     data.get("guard"))
                if not sent_text and text:  # a workflow without a streaming model
                    yield chunk({"content": text})
                yield chunk({}, finish)
                if include_usage:
                    usage = {"prompt_tokens": p_tok, "completion_tokens": c_tok,
                             "total_tokens": p_tok + c_tok}
                    data = {"id": chunk_id, "object": "chat.completion.chunk",
                            "created": created, "model": model, "choices": [], "usage": usage}
                    yield f"data: {json.dumps(data)}\n\n".encode()
            elif event == "error":
                yield f"data: {json.dumps({'error': data}, ensure_ascii=False)}\n\n".encode()
        yield b"data: [DONE]\n\n"
    finally:
        with anyio.CancelScope(shield=True):
            await events.aclose()  # type: ignore[attr-defined]


@router.get("/v1/models", summary="Models a chat request may name (OpenAI format)",
            responses=responses(401, 403))
async def list_models(principal: Reader, state: State) -> dict[str, Any]:
    names = [*state.llms, *(w for w in state.runner.workflows if w not in state.llms)]
    return {"object": "list", "data": [
        {"id": name, "object": "model", "created": 0, "owned_by": state.name}
        for name in names]}
