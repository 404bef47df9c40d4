"""A scripted model for tests, ours and users': it answers from a list, with no network."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from compound.intelligence.llm.base import LLM, RawResult
from compound.intelligence.llm.deadline import Deadline
from compound.intelligence.llm.errors import InvalidResponse
from compound.intelligence.llm.types import GenerationParams, Message, ToolCall, Usage

Reply = str | ToolCall | Sequence[ToolCall] | BaseException
Script = Sequence[Reply] | Callable[[tuple[Message, ...], GenerationParams], Reply]

_WORD = re.compile(r"\S+\s*|\s+")


class ScriptedLLM(LLM):
    """Answers each call with the next reply of a script.

    Args:
        replies: a list of replies used in order (a string, a tool call or list of them, or an
            exception to raise), or a function of (messages, params) returning one.
        cycle: start over when the list runs out (else running out raises InvalidResponse).
        delay_s: seconds to wait before answering (simulates latency).
        token_delay_s: seconds between streamed pieces.
        drop_stream_after: stream only this many pieces, then end without a result
            (simulates a connection dropped midway).
        model: the model id reported in completions.

    Example:
        >>> llm = ScriptedLLM(["Paris is the capital of France."])
        >>> [e.text for e in llm.stream("capital?")][:2]
        ['Paris ', 'is ']
    """

    provider = "scripted"

    def __init__(
        self,
        replies: Script = ("ok",),
        *,
        cycle: bool = True,
        delay_s: float = 0.0,
        token_delay_s: float = 0.0,
        drop_stream_after: int | None = None,
        model: str = "scripted",
        defaults: GenerationParams | None = None,
        timeout_s: float = 60.0,
        **options: Any,
    ) -> None:
        super().__init__(model=model, defaults=defaults, timeout_s=timeout_s)
        self.replies = replies
        self.cycle = cycle
        self.delay_s = delay_s
        self.token_delay_s = token_delay_s
        self.drop_stream_after = drop_stream_after
        self.calls: list[tuple[tuple[Message, ...], GenerationParams]] = []
        self._index = 0
        self._lock = threading.Lock()

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def _next_reply(self, messages: tuple[Message, ...], params: GenerationParams) -> Reply:
        with self._lock:
            self.calls.append((messages, params))
            if callable(self.replies):
                return self.replies(messages, params)
            if self._index >= len(self.replies):
                if not self.cycle or not self.replies:
                    raise InvalidResponse(
                        f"the script ran out after {self._index} replies",
                        provider=self.provider, model=self.model,
                    )
                self._index = 0
            reply = self.replies[self._index]
            self._index += 1
            return reply

    def _sleep(self, seconds: float) -> None:
        """Wait as a slow provider would: the call's deadline cuts the wait short."""
        deadline = Deadline.current()
        if deadline is None:
            time.sleep(seconds)
        else:
            deadline.wait(seconds, provider=self.provider, model=self.model)

    def _stream_raw(
        self, messages: tuple[Message, ...], params: GenerationParams
    ) -> Iterator[str | RawResult]:
        reply = self._next_reply(messages, params)
        if self.delay_s:
            self._sleep(self.delay_s)
        if isinstance(reply, BaseException):
            raise reply
        prompt_tokens = sum(self.count_tokens(m.content) for m in messages)
        if isinstance(reply, ToolCall) or (
            not isinstance(reply, str) and all(isinstance(c, ToolCall) for c in reply)
        ):
            calls = (reply,) if isinstance(reply, ToolCall) else tuple(reply)
            yield RawResult("", Usage(prompt_tokens, 1), "tool_calls", tool_calls=calls)
            return
        text = str(reply)
        for stop in params.stop:
            if stop in text:
                text = text[: text.index(stop)]
        pieces = _WORD.findall(text)
        finish = "stop"
        if len(pieces) > params.max_tokens:
            pieces, finish = pieces[: params.max_tokens], "length"
        for count, piece in enumerate(pieces):
            if self.drop_stream_after is not None and count >= self.drop_stream_after:
                return
            if self.token_delay_s:
                self._sleep(self.token_delay_s)
            yield piece
        yield RawResult("".join(pieces), Usage(prompt_tokens, len(pieces)), finish)  # type: ignore[arg-type]
