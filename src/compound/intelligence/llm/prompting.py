"""Prompt templates for base (non-chat) models such as the embedded Gemma 3 270M.

A base model continues text; it does not follow chat turns. So a conversation is rendered as
a document it knows how to continue: an instruction line, a few Question/Answer examples,
earlier turns as further pairs, tool results as ``Observation:`` lines, and an open
``Answer:``. Generation stops at the next ``Question:`` or a blank line.

For structured output (JSON, tool calls) the template says what is expected and a grammar
built from the JSON schema guarantees the shape; see :func:`action_schema`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from compound.datafiles import NotJSON, parse_json
from compound.intelligence.llm.errors import InvalidResponse
from compound.intelligence.llm.types import Message, ToolCall, ToolDefinition

DEFAULT_INSTRUCTION = "Answer each question with a short, factual answer."
DEFAULT_FEW_SHOT: tuple[tuple[str, str], ...] = (
    ("What is the largest planet in the solar system?", "Jupiter."),
    ("Who wrote Romeo and Juliet?", "William Shakespeare."),
)
QA_STOP = ["\nQuestion:", "\n\n"]


def render_prompt(
    messages: Sequence[Message],
    *,
    few_shot: Sequence[Sequence[str]] | None = None,
    instruction: str | None = None,
    json_schema: Mapping[str, Any] | None = None,
    tools: Sequence[ToolDefinition] = (),
    tool_required: bool = False,
) -> str:
    """Render ``messages`` as a Question/Answer document ending in an open ``Answer:``.

    Example:
        >>> from compound.intelligence.llm.types import Message
        >>> print(render_prompt([Message("user", "2+2?")], few_shot=[]))
        Answer each question with a short, factual answer.
        <BLANKLINE>
        Question: 2+2?
        Answer:
    """
    systems = [m.content.strip() for m in messages if m.role == "system"]
    lines = [" ".join(systems) if systems else (instruction or DEFAULT_INSTRUCTION)]
    if tools:
        lines.append(
            'Call one of these tools by answering with JSON {"tool": NAME, "arguments": {...}}:'
            if tool_required else
            "You may call one of these tools by answering with JSON "
            '{"tool": NAME, "arguments": {...}}, or answer directly with {"answer": TEXT}:'
        )
        for tool in tools:
            lines.append(f"- {tool.name}: {tool.description} "
                         f"arguments: {json.dumps(tool.parameters.get('properties', {}))}")
    elif json_schema is not None:
        lines.append(f"Answer with JSON matching this schema: {json.dumps(json_schema)}")
    blocks = ["\n".join(lines)]
    examples = DEFAULT_FEW_SHOT if few_shot is None else few_shot
    if not tools and json_schema is None:
        blocks.extend(f"Question: {q}\nAnswer: {a}" for q, a in examples)
    turn: list[str] = []
    for message in messages:
        if message.role == "system":
            continue
        if message.role == "user":
            if turn:
                blocks.append("\n".join(turn))
            turn = [f"Question: {message.content.strip()}"]
        elif message.role == "assistant":
            content = message.content.strip()
            if message.tool_calls:
                call = message.tool_calls[0]
                content = json.dumps({"tool": call.name, "arguments": dict(call.arguments)})
            turn.append(f"Answer: {content}")
        else:  # a tool result, shown as an observation before the next answer
            turn.append(f"Observation: {message.content.strip()}")
    turn.append("Answer:")
    blocks.append("\n".join(turn))
    return "\n\n".join(blocks)


def render_plain(messages: Sequence[Message]) -> str:
    """Render ``messages`` as the text itself, for a base model to continue: each message's
    content as written (system first), one blank line between. No instruction, examples or
    ``Answer:`` are added, so the prompt can end in the middle of what the model should
    complete (a function's signature and docstring, say).

    Example:
        >>> from compound.intelligence.llm.types import Message
        >>> render_plain([Message("system", "# Python 3"), Message("user", "def f():")])
        '# Python 3\\n\\ndef f():'
    """
    systems = [m.content for m in messages if m.role == "system"]
    others = [m.content for m in messages if m.role != "system"]
    return "\n\n".join(part for part in (*systems, *others) if part)


def action_schema(tools: Sequence[ToolDefinition], *, required: bool = False
                  ) -> dict[str, Any]:
    """A JSON schema for one action: call one of ``tools``, or answer directly (unless a call
    is ``required``)."""
    options: list[dict[str, Any]] = [
        {
            "type": "object",
            "properties": {
                "tool": {"const": tool.name},
                "arguments": dict(tool.parameters) or {"type": "object"},
            },
            "required": ["tool", "arguments"],
        }
        for tool in tools
    ]
    if not required:
        options.append({"type": "object", "properties": {"answer": {"type": "string"}},
                        "required": ["answer"]})
    return {"oneOf": options}


def parse_action(
    text: str, tools: Sequence[ToolDefinition], *, provider: str, model: str
) -> tuple[str, tuple[ToolCall, ...]]:
    """Read a model's action JSON: ``(answer, ())`` or ``("", (tool_call,))``.

    Raises:
        InvalidResponse: the text is not an action (so a workflow can repair or report it).
    """
    try:  # parse_json: a model's output may nest too deeply or hold a huge number
        value = parse_json(text)
    except NotJSON as exc:
        raise InvalidResponse(
            f"expected an action as JSON, received {text[:200]!r} ({exc.msg})",
            raw=text, provider=provider, model=model,
        ) from None
    if isinstance(value, dict) and isinstance(value.get("answer"), str):
        return value["answer"], ()
    names = {tool.name for tool in tools}
    if (
        isinstance(value, dict)
        and value.get("tool") in names
        and isinstance(value.get("arguments", {}), dict)
    ):
        return "", (ToolCall(value["tool"], value.get("arguments", {}), id="call_0"),)
    raise InvalidResponse(
        f"expected {{'tool': one of {sorted(names)}, 'arguments': {{...}}}} or "
        f"{{'answer': text}}, received {text[:200]!r}",
        raw=text, provider=provider, model=model,
    )
