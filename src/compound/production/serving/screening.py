"""The output rails over a streamed run's tokens, before the client sees them.

A served workflow's LLM steps publish their text as ``token`` events
(:class:`~compound.production.serving.served_llm.ServedLLM`). When the rails around the
workflow (:func:`~compound.production.rails.steps.run_guard`) include output rails that can
judge a partial answer (``streams = True``: ``pii``, ``secrets``), the run's channel hands its
tokens to a :class:`TokenScreen` instead: each step's text goes through a
:class:`~compound.production.rails.stream.GuardedStream` on a thread of its own, which holds
back the last characters until what follows is known, redacts what the rails redact, and
stops the step's tokens when a rail blocks. Rails that need the whole answer (``schema``,
``groundedness``) judge the run's output, as in a run that is not streamed; the ``done``
event carries that checked output and the decision.

The verdicts on partial text are not traced: the check of the whole output is, once.

Example:
    >>> import asyncio
    >>> from compound.production.rails.engine import Guard
    >>> from compound.production.rails.pii import PIIRail
    >>> from compound.production.serving.events import RunChannel
    >>> async def stream() -> list[str]:
    ...     channel = RunChannel("0" * 32)
    ...     channel.screen = TokenScreen(Guard([PIIRail(stages=["output"])]), channel)
    ...     for piece in ["Write to ada@exa", "mple.com", " today."]:
    ...         channel.publish("token", {"text": piece, "step": "draft"})
    ...     await asyncio.to_thread(channel.screen.close)
    ...     await asyncio.sleep(0)
    ...     return [channel.queue.get_nowait()[1]["text"] for _ in range(channel.queue.qsize())]
    >>> "".join(asyncio.run(stream()))
    'Write to <EMAIL_ADDRESS> today.'
"""

from __future__ import annotations

import queue
import threading
from typing import TYPE_CHECKING, Any

from compound.production.rails.stream import GuardedStream

if TYPE_CHECKING:
    from compound.production.rails.engine import Guard
    from compound.production.serving.events import RunChannel


class TokenScreen:
    """A run's token events through the output rails, one guarded stream per step.

    Args:
        guard: the rails that check partial text (the streaming output rails of the run's
            guard).
        channel: where the tokens the rails let through go.
    """

    def __init__(self, guard: Guard, channel: RunChannel) -> None:
        self.guard = guard
        self.channel = channel
        self._pieces: dict[Any, queue.SimpleQueue[str | None]] = {}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def take(self, data: dict[str, Any]) -> None:
        """One token event from a model call (any thread)."""
        step = data.get("step")
        with self._lock:
            pieces = self._pieces.get(step)
            if pieces is None:
                pieces = self._pieces[step] = queue.SimpleQueue()
                thread = threading.Thread(target=self._screen, args=(step, pieces),
                                          name="compound-token-screen", daemon=True)
                self._threads.append(thread)
                thread.start()
        pieces.put(str(data.get("text", "")))

    def _screen(self, step: Any, pieces: queue.SimpleQueue[str | None]) -> None:
        for shown in GuardedStream(self.guard, iter(pieces.get, None)):
            self.channel.emit("token", {"text": shown, "step": step})

    def close(self, timeout_s: float = 30.0) -> None:
        """End every step's stream and wait for its last tokens (blocking: call it on a
        thread)."""
        with self._lock:
            for pieces in self._pieces.values():
                pieces.put(None)
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout_s)
