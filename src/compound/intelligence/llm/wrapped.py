"""The base of LLMs that wrap another: counting its calls, caching its answers, queueing them.

A wrapper changes one concern and hands the rest to the model it wraps. :class:`WrappedLLM`
does that handing over once, so each wrapper (:class:`~compound.lifecycle.call_budget.CountedLLM`,
:class:`~compound.strategy.cache.llm.CachedLLM`,
:class:`~compound.production.serving.served_llm.ServedLLM`) overrides only what it changes.
"""

from __future__ import annotations

from collections.abc import Iterator

from compound.intelligence.llm.base import LLM, RawResult
from compound.intelligence.llm.types import GenerationParams, Message


class WrappedLLM(LLM):
    """An LLM that is another model with one concern added.

    It takes the wrapped model's model id, default settings, timeout and prices when it is
    made, reports the wrapped model's provider (so spans and prices name the real one), and
    passes :meth:`load`, :meth:`count_tokens` and the raw stream to the wrapped model. A
    subclass overrides what it changes, usually :meth:`~LLM.complete` and
    :meth:`~LLM.stream`; the rest reaches ``inner``.

    Args:
        inner: the wrapped model.

    Example:
        >>> from compound.intelligence.llm import ScriptedLLM
        >>> class Logged(WrappedLLM):
        ...     def complete(self, prompt, **overrides):
        ...         print("asking", self.model)
        ...         return self.inner.complete(prompt, **overrides)
        >>> llm = Logged(ScriptedLLM(["Paris."], model="tiny"))
        >>> llm.complete("Capital of France?").text
        asking tiny
        'Paris.'
        >>> llm.provider, llm.count_tokens("two words")
        ('scripted', 2)
    """

    def __init__(self, inner: LLM) -> None:
        super().__init__(model=inner.model, defaults=inner.defaults, timeout_s=inner.timeout_s,
                         price_per_mtok=inner.price_per_mtok)
        self.inner = inner

    @property  # type: ignore[override]
    def provider(self) -> str:  # spans and prices name the real provider
        """The wrapped model's provider."""
        return self.inner.provider

    def load(self) -> None:
        """Load the wrapped model."""
        self.inner.load()

    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` takes for the wrapped model."""
        return self.inner.count_tokens(text)

    def _stream_raw(self, messages: tuple[Message, ...], params: GenerationParams
                    ) -> Iterator[str | RawResult]:
        return self.inner._stream_raw(messages, params)
