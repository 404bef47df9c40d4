"""The values that cross the LLM interface: messages in; completions and stream events out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "tool_calls"]
#: ``auto``: the model calls a tool or answers; ``required``: it calls one of the tools
ToolChoice = Literal["auto", "required"]
TOOL_CHOICES: tuple[ToolChoice, ...] = ("auto", "required")


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A model's request to call a tool with arguments."""

    name: str
    arguments: Mapping[str, Any]
    id: str = ""


@dataclass(frozen=True, slots=True)
class ToolDefinition:
    """A tool offered to the model: its name, what it does, and a JSON schema of arguments."""

    name: str
    description: str
    parameters: Mapping[str, Any] = field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )


@dataclass(frozen=True, slots=True)
class Message:
    """One turn of a conversation.

    Example:
        >>> Message("user", "What is the capital of France?").role
        'user'
    """

    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class GenerationParams:
    """Settings of one call; ``None`` fields take the model's defaults from the spec."""

    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = 0
    stop: tuple[str, ...] = ()
    json_schema: Mapping[str, Any] | None = None
    tools: tuple[ToolDefinition, ...] = ()
    tool_choice: ToolChoice = "auto"
    parallel_tool_calls: bool = False


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens a call consumed."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class Completion:
    """What a model call returns.

    ``data`` holds the parsed JSON when the call asked for a JSON schema; ``tool_calls`` the
    calls the model wants made (``finish_reason == "tool_calls"``).

    :meth:`to_dict` and :meth:`from_dict` are the one JSON form of a completion, the one that
    run journals, the strategy cache and the evaluation cache store.

    Example:
        >>> done = Completion("Paris.", "scripted", "m", Usage(7, 2), latency_s=0.1)
        >>> Completion.from_dict(done.to_dict()) == done
        True
    """

    text: str
    provider: str
    model: str
    usage: Usage
    latency_s: float
    cost_usd: float = 0.0
    finish_reason: FinishReason = "stop"
    ttft_s: float | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    data: Any = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data for this completion (see :meth:`from_dict`)."""
        return {
            "text": self.text, "provider": self.provider, "model": self.model,
            "prompt_tokens": self.usage.prompt_tokens,
            "completion_tokens": self.usage.completion_tokens,
            "latency_s": self.latency_s, "cost_usd": self.cost_usd,
            "finish_reason": self.finish_reason, "ttft_s": self.ttft_s,
            "tool_calls": [{"name": c.name, "arguments": dict(c.arguments), "id": c.id}
                           for c in self.tool_calls],
            "data": self.data,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Completion:
        """The completion :meth:`to_dict` wrote; also reads the form evaluation caches held
        before (``usage`` and each tool call as lists), so their entries still hit."""
        if "usage" in data:
            usage = Usage(*data["usage"])
        else:
            usage = Usage(data["prompt_tokens"], data["completion_tokens"])
        return cls(
            text=data["text"], provider=data["provider"], model=data["model"], usage=usage,
            latency_s=data["latency_s"], cost_usd=data["cost_usd"],
            finish_reason=data["finish_reason"], ttft_s=data.get("ttft_s"),
            tool_calls=tuple(_tool_call(c) for c in data.get("tool_calls", ())),
            data=data.get("data"),
        )


def _tool_call(data: Mapping[str, Any] | Sequence[Any]) -> ToolCall:
    if isinstance(data, Mapping):
        return ToolCall(data["name"], data["arguments"], data.get("id", ""))
    name, arguments, call_id = data
    return ToolCall(name, arguments, call_id)


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of streamed text."""

    text: str


StreamEvent = TextDelta | Completion
Prompt = str | Sequence[Message]


def as_messages(prompt: Prompt) -> tuple[Message, ...]:
    """A bare string is one user message."""
    if isinstance(prompt, str):
        return (Message("user", prompt),)
    messages = tuple(prompt)
    for index, message in enumerate(messages):
        if not isinstance(message, Message):
            raise TypeError(
                f"messages[{index}] must be a compound Message; received "
                f"{type(message).__name__}. Build it as Message('user', 'text')."
            )
    return messages
