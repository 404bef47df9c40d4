"""The output cache: a model's answer kept by (model, parameters, input), so a re-run is free.

The key is the sha256 of the provider, the model, the settings that change what it generates
(the generation parameters after the spec's defaults, the prompt template options of base
models) and the messages. Failures are never cached: an error may be transient. A hit returns
the original completion, with its original latency and cost, flagged as cached; what the re-run
actually spent is counted separately (:attr:`OutputCache.saved_usd`). A judge or a workflow's
models go through it as ``CachedLLM(llm, OutputCache(store))``
(:class:`~compound.strategy.cache.llm.CachedLLM`).

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
from typing import Any

from compound.evaluation.datasets import canonical_json
from compound.intelligence.llm import LLM, Completion
from compound.intelligence.llm.types import GenerationParams, Prompt, as_messages
from compound.store import Store
from compound.strategy.cache.keys import IDENTITY_ATTRIBUTES
from compound.strategy.cache.llm import CacheOutcome

COLLECTION = "eval_cache"
# Attributes of providers that change what the same messages produce: the strategy cache's
# (one list), and a scripted model's replies.
_IDENTITY_ATTRIBUTES = (*IDENTITY_ATTRIBUTES, "replies")


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
        return self._key(llm, prompt, llm.params(**params))

    def _key(self, llm: LLM, prompt: Prompt, params: GenerationParams) -> str:
        messages = [dataclasses.asdict(m) for m in as_messages(prompt)]
        payload = {"llm": llm_identity(llm), "params": dataclasses.asdict(params),
                   "messages": messages}
        return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()

    def cacheable(self, params: GenerationParams) -> bool:
        """Whether calls go through the cache: every call, sampled ones too, unless disabled
        (an evaluation re-run must see the answers it scored)."""
        return self.enabled

    def lookup(self, llm: LLM, prompt: Prompt, params: GenerationParams, *,
               version: str | int | None = None) -> CacheOutcome | None:
        """The stored answer of this call (its original latency and cost), or None.

        ``version`` is not used: the key holds the model's identity (:func:`llm_identity`).
        """
        stored = self.store.get(COLLECTION, self._key(llm, prompt, params))
        if stored is None:
            return None
        completion = Completion.from_dict(stored)
        with self._lock:
            self.hits += 1
            self.saved_usd += completion.cost_usd
        return CacheOutcome(completion, "exact")

    def put(self, llm: LLM, prompt: Prompt, params: GenerationParams, completion: Completion,
            *, version: str | int | None = None) -> None:
        """Keep a fresh completion (a miss: the model ran)."""
        self.store.put(COLLECTION, self._key(llm, prompt, params), completion.to_dict())
        with self._lock:
            self.misses += 1

    def complete(self, llm: LLM, prompt: Prompt, **params: Any) -> tuple[Completion, bool]:
        """``llm.complete(prompt, **params)``, or the stored answer of the same call.

        Returns:
            the completion and whether it came from the cache.
        """
        if not self.enabled:
            return llm.complete(prompt, **params), False
        merged = llm.params(**params)
        found = self.lookup(llm, prompt, merged)
        if found is not None:
            return found.completion, True
        completion = llm.complete(prompt, **params)
        self.put(llm, prompt, merged, completion)
        return completion, False
