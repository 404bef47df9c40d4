"""Caching LLM calls: :class:`LLMCache` (traced, for code that has a run context) and
:class:`CachedLLM` (a drop-in :class:`~compound.intelligence.llm.LLM` for code that takes one,
in front of any :class:`CompletionCache`: an :class:`LLMCache`, or the evaluation's
:class:`~compound.evaluation.cache.OutputCache`, which keeps answers with their original cost).

A lookup tries the exact cache, then the semantic cache when there is one. A hit returns the
cached completion with no usage and no cost (nothing was consumed) and the lookup's latency;
what it saved is counted in ``stats``. Errors are never cached. Calls that sample
(``temperature > 0`` without a ``seed``) are not cached unless ``cache_sampled=True``: their
answers are meant to differ.

Inside a traced model call of a run (:data:`compound.workflow.effects.model_span`),
:class:`CachedLLM` notes on the call's span whether the cache answered
(``compound.cache.hit``, ``compound.cache.kind``): a hit's span has no tokens and no cost.

Example:
    >>> from compound.intelligence.llm import ScriptedLLM
    >>> llm = CachedLLM(ScriptedLLM(["first", "second"]))
    >>> llm.complete("hi").text, llm.complete("hi").text, llm.complete("hello").text
    ('first', 'first', 'second')
    >>> llm.cache.stats.hits, llm.cache.stats.misses
    (1, 2)
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, Protocol

from compound.intelligence.llm.base import LLM
from compound.intelligence.llm.types import (
    Completion,
    GenerationParams,
    Message,
    Prompt,
    StreamEvent,
    TextDelta,
    Usage,
    as_messages,
)
from compound.intelligence.llm.wrapped import WrappedLLM
from compound.strategy.cache.exact import CacheStats, ExactCache
from compound.strategy.cache.keys import CacheKey, cache_key, llm_cache_key
from compound.strategy.trace import decision_span, note
from compound.workflow.effects import model_span

if TYPE_CHECKING:
    from compound.strategy.cache.semantic import SemanticCache
    from compound.workflow.context import RunContext

Hit = Literal["exact", "semantic"]


@dataclass(frozen=True)
class CacheOutcome:
    """A completion and whether it came from the cache (``exact``/``semantic``) or the model."""

    completion: Completion
    hit: Hit | None = None
    similarity: float | None = None


def _from_json(data: dict[str, Any], latency_s: float) -> Completion:
    cached = Completion.from_dict(data)
    return replace(cached, usage=Usage(0, 0), cost_usd=0.0, latency_s=latency_s, ttft_s=None)


class LLMCache:
    """Exact (and optionally semantic) caching of LLM calls.

    Args:
        exact: the exact cache; a fresh in-memory one when None.
        semantic: the semantic cache, or None for exact caching only.
        cache_sampled: also cache calls that sample without a seed.
        use_exact: look up and keep entries in the exact cache (False: the semantic cache
            alone).
    """

    def __init__(self, *, exact: ExactCache | None = None, semantic: SemanticCache | None = None,
                 cache_sampled: bool = False, use_exact: bool = True) -> None:
        self.exact = exact if exact is not None else ExactCache()
        self.semantic = semantic
        self.cache_sampled = cache_sampled
        self.use_exact = use_exact

    @property
    def stats(self) -> CacheStats:
        """Exact and semantic counters together (a semantic miss after an exact miss counts
        as one miss)."""
        exact = self.exact.stats
        if self.semantic is None:
            return exact
        semantic = self.semantic.stats
        return CacheStats(
            hits=exact.hits + semantic.hits, misses=exact.misses - semantic.hits,
            semantic_hits=semantic.semantic_hits, refused=semantic.refused,
            expired=exact.expired, invalidated=exact.invalidated + semantic.invalidated,
            saved_tokens=exact.saved_tokens, saved_cost_usd=exact.saved_cost_usd,
        )

    def cacheable(self, params: GenerationParams) -> bool:
        """Whether a call with ``params`` may be cached."""
        return self.cache_sampled or params.temperature == 0 or params.seed is not None

    def _semantic_scope(self, llm: LLM, messages: tuple[Message, ...], params: GenerationParams,
                        key: CacheKey) -> tuple[CacheKey, str] | None:
        if self.semantic is None or not messages or messages[-1].role != "user":
            return None
        rest = llm_cache_key(llm, list(messages[:-1]) or "", params, version=key.version or None)
        return cache_key(model=key.model, version=key.version,
                         params={"semantic_scope": rest.digest}, input=None), messages[-1].content

    def lookup(self, llm: LLM, prompt: Prompt, params: GenerationParams, *,
               version: str | int | None = None) -> CacheOutcome | None:
        """The cached completion for this call, or None."""
        start = time.perf_counter()
        key = llm_cache_key(llm, prompt, params, version=version)
        found = self.exact.get(key) if self.use_exact else None
        if found is not None:
            completion = found["completion"]
            self.exact.stats.saved_tokens += completion["prompt_tokens"] + \
                completion["completion_tokens"]
            self.exact.stats.saved_cost_usd += completion["cost_usd"]
            return CacheOutcome(_from_json(completion, time.perf_counter() - start), "exact")
        scoped = self._semantic_scope(llm, as_messages(prompt), params, key)
        if scoped is not None and self.semantic is not None:
            hit = self.semantic.lookup(*scoped)
            if hit is not None:
                return CacheOutcome(_from_json(hit.value, time.perf_counter() - start),
                                    "semantic", hit.similarity)
        return None

    def put(self, llm: LLM, prompt: Prompt, params: GenerationParams, completion: Completion,
            *, version: str | int | None = None) -> None:
        """Cache a fresh completion."""
        key = llm_cache_key(llm, prompt, params, version=version)
        data = completion.to_dict()
        if self.use_exact:
            self.exact.put(key, {"completion": data})
        scoped = self._semantic_scope(llm, as_messages(prompt), params, key)
        if scoped is not None and self.semantic is not None:
            self.semantic.put(scoped[0], scoped[1], data)

    def complete(self, llm: LLM, prompt: Prompt, *, ctx: RunContext | None = None,
                 version: str | int | None = None, **overrides: Any) -> CacheOutcome:
        """A cached completion, or a fresh one (through ``ctx.complete`` when given) that is
        then cached. The lookup is traced as a ``strategy`` span with ``compound.cache.*``."""
        params = llm.params(**overrides)
        if not self.cacheable(params):
            fresh = (ctx.complete(llm, prompt, **overrides) if ctx is not None
                     else llm.complete(prompt, **overrides))
            return CacheOutcome(fresh)
        with decision_span(ctx, "cache") as span:
            outcome = self.lookup(llm, prompt, params, version=version)
            note(span, "compound.cache.hit", outcome is not None)
            if outcome is not None:
                note(span, "compound.cache.kind", outcome.hit)
                if outcome.similarity is not None:
                    note(span, "compound.cache.similarity", outcome.similarity)
            note(span, "compound.cache.hit_rate", self.stats.hit_rate)
        if outcome is not None:
            return outcome
        fresh = (ctx.complete(llm, prompt, **overrides) if ctx is not None
                 else llm.complete(prompt, **overrides))
        self.put(llm, prompt, params, fresh, version=version)
        return CacheOutcome(fresh)


class CompletionCache(Protocol):
    """What :class:`CachedLLM` needs of a cache (:class:`LLMCache` and
    :class:`~compound.evaluation.cache.OutputCache` are two)."""

    def cacheable(self, params: GenerationParams) -> bool:
        """Whether a call with ``params`` goes through the cache."""
        ...

    def lookup(self, llm: LLM, prompt: Prompt, params: GenerationParams, *,
               version: str | int | None = None) -> CacheOutcome | None:
        """The cached completion for this call, or None."""
        ...

    def put(self, llm: LLM, prompt: Prompt, params: GenerationParams, completion: Completion,
            *, version: str | int | None = None) -> None:
        """Keep a fresh completion."""
        ...


class CachedLLM(WrappedLLM):
    """Any LLM behind a cache, usable wherever an LLM is (a judge, a workflow's steps).

    Calls the cache does not take (see :meth:`CompletionCache.cacheable`) go to the model.

    Args:
        llm: the model.
        cache: the cache; a fresh in-memory :class:`LLMCache` when None.
        version: the version cached answers are tied to (see
            :func:`~compound.strategy.cache.keys.llm_version`).

    Example:
        >>> from compound.evaluation.cache import OutputCache
        >>> from compound.intelligence.llm import ScriptedLLM
        >>> from compound.store import MemoryStore
        >>> inner = ScriptedLLM(["4"])
        >>> judge = CachedLLM(inner, OutputCache(MemoryStore()))
        >>> judge.complete("2+2?").text, judge.complete("2+2?").text, len(inner.calls)
        ('4', '4', 1)
    """

    def __init__(self, llm: LLM, cache: CompletionCache | None = None, *,
                 version: str | int | None = None) -> None:
        super().__init__(llm)
        self.cache: CompletionCache = cache if cache is not None else LLMCache()
        self.version = version

    def complete(self, prompt: Prompt, **overrides: Any) -> Completion:  # type: ignore[override]
        params = self.inner.params(**overrides)
        if not self.cache.cacheable(params):
            return self.inner.complete(prompt, **overrides)
        outcome = self.cache.lookup(self.inner, prompt, params, version=self.version)
        _note(outcome)
        if outcome is not None:
            return outcome.completion
        fresh = self.inner.complete(prompt, **overrides)
        self.cache.put(self.inner, prompt, params, fresh, version=self.version)
        return fresh

    def stream(self, prompt: Prompt, **overrides: Any) -> Iterator[StreamEvent]:  # type: ignore[override]
        params = self.inner.params(**overrides)
        if self.cache.cacheable(params):
            outcome = self.cache.lookup(self.inner, prompt, params, version=self.version)
            _note(outcome)
            if outcome is not None:
                yield TextDelta(outcome.completion.text)
                yield outcome.completion
                return
        for event in self.inner.stream(prompt, **overrides):
            if isinstance(event, Completion) and self.cache.cacheable(params):
                self.cache.put(self.inner, prompt, params, event, version=self.version)
            yield event


def _note(outcome: CacheOutcome | None) -> None:
    """Say on the model call's span (when traced) whether the cache answered it."""
    span = model_span.get()
    if span is None:
        return
    span.set("compound.cache.name", "llm")
    span.set("compound.cache.hit", outcome is not None)
    if outcome is not None:
        span.set("compound.cache.kind", outcome.hit)
        if outcome.similarity is not None:
            span.set("compound.cache.similarity", outcome.similarity)
