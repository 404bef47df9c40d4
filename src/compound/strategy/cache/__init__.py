"""Caching model calls: an exact cache keyed by everything that changes the answer, and an
optional semantic cache guarded against matching different questions; both with a time to
live and invalidation when a model's version changes.

* :mod:`~compound.strategy.cache.keys`: what a key is made of;
* :mod:`~compound.strategy.cache.exact`: :class:`ExactCache`, memory and store backends;
* :mod:`~compound.strategy.cache.semantic`: :class:`SemanticCache` and its guards;
* :mod:`~compound.strategy.cache.llm`: :class:`LLMCache` and the drop-in :class:`CachedLLM`.
"""

from compound.strategy.cache.exact import (
    CacheBackend,
    CacheStats,
    ExactCache,
    MemoryBackend,
    StoreBackend,
)
from compound.strategy.cache.keys import CacheKey, cache_key, llm_cache_key
from compound.strategy.cache.llm import CachedLLM, CacheOutcome, LLMCache
from compound.strategy.cache.semantic import (
    Guard,
    IntentGuard,
    NegationGuard,
    NumbersGuard,
    SemanticCache,
    SemanticHit,
)

__all__ = [
    "CacheBackend",
    "CacheKey",
    "CacheOutcome",
    "CacheStats",
    "CachedLLM",
    "ExactCache",
    "Guard",
    "IntentGuard",
    "LLMCache",
    "MemoryBackend",
    "NegationGuard",
    "NumbersGuard",
    "SemanticCache",
    "SemanticHit",
    "StoreBackend",
    "cache_key",
    "llm_cache_key",
]
