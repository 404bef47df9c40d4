"""Prompt templates for the embedded models: base (completion) and instruction-tuned (chat).

A base model (such as the embedded Gemma 3 270M) continues text; it does not follow chat turns. So a
conversation is rendered as a document it knows how to continue (:func:`render_prompt`): an
instruction line, a few Question/Answer examples, earlier turns as further pairs, tool results
as ``Observation:`` lines, and an open ``Answer:``. Generation stops at the next ``Question:``
or a blank line.

An instruction-tuned model gets chat messages (:func:`chat_messages`) that its own chat
template (read from the GGUF file) turns into its prompt: the same instruction as a system
message, examples (only when given) as earlier turns, tool calls as the action JSON and tool
results as ``Observation:`` user turns, so that any template works, also one that knows no
``tool`` role.

For structured output (JSON, tool calls) both say what is expected and a grammar built from
the JSON schema guarantees the shape; see :func:`action_schema`.
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
    several: bool = False,
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
    blocks = [_instruction(messages, instruction, json_schema, tools, tool_required, several)]
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
            turn.append(f"Answer: {_assistant_text(message)}")
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


def chat_messages(
    messages: Sequence[Message],
    *,
    few_shot: Sequence[Sequence[str]] | None = None,
    instruction: str | None = None,
    json_schema: Mapping[str, Any] | None = None,
    tools: Sequence[ToolDefinition] = (),
    tool_required: bool = False,
    several: bool = False,
) -> list[dict[str, str]]:
    """``messages`` as plain chat turns for an instruction-tuned model's chat template.

    One system message (the system messages, else ``instruction``, with what structured
    output is expected), the ``few_shot`` pairs as earlier turns (none unless given: an
    instruction-tuned model follows the instruction without them), then the conversation;
    a tool call becomes the action JSON and a tool result an ``Observation:`` user turn.

    Example:
        >>> from compound.intelligence.llm.types import Message
        >>> chat_messages([Message("user", "2+2?")])
        [{'role': 'system', 'content': 'Answer each question with a short, factual answer.'}, \
{'role': 'user', 'content': '2+2?'}]
    """
    turns = [{"role": "system",
              "content": _instruction(messages, instruction, json_schema, tools, tool_required,
                                      several)}]
    if not tools and json_schema is None:
        for question, answer in few_shot or ():
            turns += [{"role": "user", "content": question},
                      {"role": "assistant", "content": answer}]
    for message in messages:
        if message.role == "system":
            continue
        if message.role == "assistant":
            turns.append({"role": "assistant", "content": _assistant_text(message)})
        elif message.role == "user":
            turns.append({"role": "user", "content": message.content.strip()})
        else:
            turns.append({"role": "user", "content": f"Observation: {message.content.strip()}"})
    return turns


def _instruction(
    messages: Sequence[Message],
    instruction: str | None,
    json_schema: Mapping[str, Any] | None,
    tools: Sequence[ToolDefinition],
    tool_required: bool = False,
    several: bool = False,
) -> str:
    """The system messages (or the instruction), and what structured output is expected."""
    systems = [m.content.strip() for m in messages if m.role == "system"]
    lines = [" ".join(systems) if systems else (instruction or DEFAULT_INSTRUCTION)]
    if tools:
        call = ('{"calls": [{"tool": NAME, "arguments": {...}}, ...]} (one or more calls)'
                if several else '{"tool": NAME, "arguments": {...}}')
        lines.append(f"Call one of these tools by answering with JSON {call}:" if tool_required
                     else f"You may call one of these tools by answering with JSON {call}, or "
                          'answer directly with {"answer": TEXT}:')
        for tool in tools:
            lines.append(f"- {tool.name}: {tool.description} "
                         f"arguments: {json.dumps(tool.parameters.get('properties', {}))}")
    elif json_schema is not None:
        lines.append(f"Answer with JSON matching this schema: {json.dumps(json_schema)}")
    return "\n".join(lines)


def _assistant_text(message: Message) -> str:
    calls = [{"tool": c.name, "arguments": dict(c.arguments)} for c in message.tool_calls]
    if len(calls) > 1:
        return json.dumps({"calls": calls})
    return json.dumps(calls[0]) if calls else message.content.strip()


def action_schema(tools: Sequence[ToolDefinition], *, required: bool = False,
                  several: bool = False) -> dict[str, Any]:
    """A JSON schema for one action: call one of ``tools`` (or, with ``several``, a list of
    calls ``{"calls": [...]}``), or answer directly (unless a call is ``required``)."""
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
    if several:
        options = [{"type": "object", "properties": {
            "calls": {"type": "array", "items": {"oneOf": options}, "minItems": 1}},
            "required": ["calls"]}]
    if not required:
        options.append({"type": "object", "properties": {"answer": {"type": "string"}},
                        "required": ["answer"]})
    return {"oneOf": options}


def parse_action(
    text: str, tools: Sequence[ToolDefinition], *, provider: str, model: str
) -> tuple[str, tuple[ToolCall, ...]]:
    """Read a model's action JSON: ``(answer, ())``, ``("", (tool_call,))``, or, for a list
    ``{"calls": [...]}``, ``("", (tool_call, ...))``.

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

    def is_call(item: Any) -> bool:
        return (isinstance(item, dict) and item.get("tool") in names
                and isinstance(item.get("arguments", {}), dict))

    if is_call(value):
        return "", (ToolCall(value["tool"], value.get("arguments", {}), id="call_0"),)
    listed = value.get("calls") if isinstance(value, dict) else None
    if isinstance(listed, list) and listed and all(is_call(item) for item in listed):
        return "", tuple(ToolCall(item["tool"], item.get("arguments", {}), id=f"call_{i}")
                         for i, item in enumerate(listed))
    raise InvalidResponse(
        f"expected {{'tool': one of {sorted(names)}, 'arguments': {{...}}}} or "
        f"{{'answer': text}}, received {text[:200]!r}",
        raw=text, provider=provider, model=model,
    )
