"""The output cache: a model's answer kept by (model, parameters, input), so a re-run is free.

The key is the sha256 of the provider, the model, the settings that change what it generates
(the generation parameters after the spec's defaults, the prompt template options of base
models) and the messages. Failures are never cached: an error may be transient. A hit returns
the original completion, with its original latency and cost, flagged as cached; what the re-run
actually spent is counted separately (:attr:`OutputCache.saved_usd`).

Example:
    >>> from compound.intelligence.llm import ScriptedLLM
    >>> from compound.store import MemoryStore
    >>> cache = OutputCache(MemoryStore())
    >>> llm = ScriptedLLM(["Paris."])
    >>> first, hit1 = cache.complete(llm, "Capital of France?", max_tokens=8)
    >>> again, hit2 = cache.complete(llm, "Capital of France?", max_tokens=8)
    >>> again.text, hit1, hit2, len(llm.calls)
    ('Paris.', False, True, 1)
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections.abc import Mapping
from typing import Any

from compound.evaluation.datasets import canonical_json
from compound.intelligence.llm import LLM, Completion, Usage
from compound.intelligence.llm.types import Prompt, ToolCall, as_messages
from compound.store import Store

COLLECTION = "eval_cache"
# Attributes of providers that change what the same messages produce.
_IDENTITY_ATTRIBUTES = ("model_path", "few_shot", "instruction", "base_url", "replies")


def llm_identity(llm: LLM) -> dict[str, Any]:
    """What identifies ``llm``'s behaviour beyond its parameters: provider, model, template."""
    identity: dict[str, Any] = {"provider": llm.provider, "model": llm.model}
    for name in _IDENTITY_ATTRIBUTES:
        value = getattr(llm, name, None)
        if value is not None and not callable(value):
            identity[name] = value if isinstance(value, str | int | float) else repr(value)
        elif callable(value):
            identity[name] = f"callable:{getattr(value, '__qualname__', type(value).__name__)}"
    return identity


class OutputCache:
    """Completions in a store collection, keyed by model, parameters and input.

    Args:
        store: where entries live (collection ``eval_cache``).
        enabled: False turns the cache into a pass-through (every call runs).
    """

    def __init__(self, store: Store, *, enabled: bool = True) -> None:
        self.store = store
        self.enabled = enabled
        self.hits = 0
        self.misses = 0
        self.saved_usd = 0.0
        self._lock = threading.Lock()

    def key(self, llm: LLM, prompt: Prompt, **params: Any) -> str:
        """The cache key of this call."""
        merged = dataclasses.asdict(llm.params(**params))
        messages = [dataclasses.asdict(m) for m in as_messages(prompt)]
        payload = {"llm": llm_identity(llm), "params": merged, "messages": messages}
        return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()

    def complete(self, llm: LLM, prompt: Prompt, **params: Any) -> tuple[Completion, bool]:
        """``llm.complete(prompt, **params)``, or the stored answer of the same call.

        Returns:
            the completion and whether it came from the cache.
        """
        if not self.enabled:
            return llm.complete(prompt, **params), False
        key = self.key(llm, prompt, **params)
        stored = self.store.get(COLLECTION, key)
        if stored is not None:
            completion = _completion_from_json(stored)
            with self._lock:
                self.hits += 1
                self.saved_usd += completion.cost_usd
            return completion, True
        completion = llm.complete(prompt, **params)
        self.store.put(COLLECTION, key, _completion_to_json(completion))
        with self._lock:
            self.misses += 1
        return completion, False


def _completion_to_json(c: Completion) -> dict[str, Any]:
    return {
        "text": c.text, "provider": c.provider, "model": c.model,
        "usage": [c.usage.prompt_tokens, c.usage.completion_tokens],
        "latency_s": c.latency_s, "cost_usd": c.cost_usd, "finish_reason": c.finish_reason,
        "ttft_s": c.ttft_s, "data": c.data,
        "tool_calls": [[t.name, dict(t.arguments), t.id] for t in c.tool_calls],
    }


def _completion_from_json(d: Mapping[str, Any]) -> Completion:
    return Completion(
        text=d["text"], provider=d["provider"], model=d["model"],
        usage=Usage(*d["usage"]), latency_s=d["latency_s"], cost_usd=d["cost_usd"],
        finish_reason=d["finish_reason"], ttft_s=d.get("ttft_s"), data=d.get("data"),
        tool_calls=tuple(ToolCall(n, a, i) for n, a, i in d.get("tool_calls", [])),
    )


class CachedLLM(LLM):
    """An :class:`LLM` whose ``complete`` goes through an :class:`OutputCache`.

    It stands in for the model wherever an LLM is expected (a judge, a workflow's steps);
    a hit returns the original completion, latency and cost included. Streaming is not cached.

    Args:
        llm: the model.
        cache: the cache; None passes every call through.

    Example:
        >>> from compound.intelligence.llm import ScriptedLLM
        >>> from compound.store import MemoryStore
        >>> inner = ScriptedLLM(["4"])
        >>> llm = CachedLLM(inner, OutputCache(MemoryStore()))
        >>> llm.complete("2+2?").text, llm.complete("2+2?").text, len(inner.calls)
        ('4', '4', 1)
    """

    def __init__(self, llm: LLM, cache: OutputCache | None) -> None:
        super().__init__(model=llm.model, defaults=llm.defaults, timeout_s=llm.timeout_s,
                         price_per_mtok=llm.price_per_mtok)
        self.inner = llm
        self.cache = cache
        self.provider = llm.provider  # type: ignore[misc]

    def load(self) -> None:
        self.inner.load()

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def _stream_raw(self, messages: Any, params: Any) -> Any:
        return self.inner._stream_raw(messages, params)

    def complete(self, prompt: Prompt, **params: Any) -> Completion:  # type: ignore[override]
        if self.cache is None:
            return self.inner.complete(prompt, **params)
        return self.cache.complete(self.inner, prompt, **params)[0]
