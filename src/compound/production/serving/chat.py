"""Chat with one of the system's LLMs as a run: traced, recorded, and open to feedback.

The OpenAI-compatible endpoint runs a chat request through a one-step workflow per LLM
(``chat:<model>``) instead of calling the model bare, so a chat completion has a run id, a
trace in the store and a place for user signals, like every other request.

Example:
    >>> from compound.intelligence.llm import ScriptedLLM
    >>> flow = chat_workflow("llm", ScriptedLLM(["Hello!"]))
    >>> flow.run(messages=[{"role": "user", "content": "hi"}]).output.text
    'Hello!'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from compound.intelligence.llm.types import Message

if TYPE_CHECKING:
    from compound.intelligence.llm import LLM, Completion
    from compound.workflow.context import RunContext
    from compound.workflow.graph import Workflow


@dataclass(frozen=True)
class ChatInput:
    """A chat request: the messages and the generation settings the client chose."""

    messages: list[dict[str, Any]]
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: list[str] | None = None


@dataclass(frozen=True)
class ChatOutput:
    """The assistant's answer and what it cost."""

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


class ChatStep:
    """One model call on a conversation, as a workflow step."""

    output_type = ChatOutput

    def __init__(self, llm: LLM, *, name: str) -> None:
        self.llm = llm
        self.name = name
        self.input_types: dict[str, Any] = {"input": ChatInput}

    def _call(self, input: ChatInput) -> tuple[list[Message], dict[str, Any]]:
        messages = [Message(m["role"], m.get("content") or "") for m in input.messages]
        params = {"max_tokens": input.max_tokens, "temperature": input.temperature,
                  "top_p": input.top_p, "seed": input.seed, "stop": input.stop}
        return messages, params

    @staticmethod
    def _output(completion: Completion) -> ChatOutput:
        return ChatOutput(completion.text, completion.finish_reason,
                          completion.usage.prompt_tokens, completion.usage.completion_tokens)

    def run(self, ctx: RunContext | None, *, input: ChatInput) -> ChatOutput:
        from compound.workflow.context import RunContext

        messages, params = self._call(input)
        context = ctx if ctx is not None else RunContext()
        return self._output(context.complete(self.llm, messages, **params))

    async def arun(self, ctx: RunContext | None, *, input: ChatInput) -> ChatOutput:
        from compound.workflow.context import RunContext

        messages, params = self._call(input)
        context = ctx if ctx is not None else RunContext()
        return self._output(await context.acomplete(self.llm, messages, **params))


def chat_workflow(model: str, llm: LLM) -> Workflow:
    """The one-step workflow ``chat:<model>`` that answers a conversation with ``llm``."""
    from compound.workflow.graph import Workflow
    from compound.workflow.step import Step

    return Workflow([Step(ChatStep(llm, name="chat"), name="chat")], name=f"chat:{model}",
                    input=ChatInput, description=f"chat with the LLM '{model}'")
