"""The semantic cache: an answer for a paraphrase of a question seen before, with guards.

Similar wording is not the same question: "transfer $50 to Sam" and "transfer $500 to Sam"
embed almost identically, as do "I can log in" and "I can't log in". Two rules keep the cache
from answering a different question (the failure reported in litellm #12234):

* **Scope.** Only the last user message is compared by meaning. Everything else (model,
  version, generation settings, system prompt, earlier turns, tools) must match exactly: it is
  the ``scope`` key. A long shared template therefore cannot make unrelated questions look
  alike.
* **Guards.** A candidate above the similarity threshold is still refused when a guard sees a
  difference: :class:`NumbersGuard` (the numbers differ), :class:`NegationGuard` (one is
  negated, the other not), :class:`IntentGuard` (a classifier gives them different intents).
  Candidates are tried from most to least similar, so a refused one does not hide a good one.

Example:
    >>> from compound.intelligence.embedders import FakeEmbedder
    >>> from compound.strategy.cache.keys import cache_key
    >>> cache = SemanticCache(embedder=FakeEmbedder(dim=256), threshold=0.8)
    >>> scope = cache_key(model="scripted:m", version="1", params={}, input="system prompt")
    >>> cache.put(scope, "how do I transfer 50 dollars to Sam", "Use Payments > Transfer.")
    >>> cache.lookup(scope, "how do I transfer 50 dollars to Sam please").value
    'Use Payments > Transfer.'
    >>> cache.lookup(scope, "how do I transfer 500 dollars to Sam please") is None
    True
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from compound.strategy.cache.exact import CacheStats
from compound.strategy.cache.keys import CacheKey

if TYPE_CHECKING:
    from compound.intelligence.embedders import Embedder


class Guard(Protocol):
    """Refuses a semantic match that would answer a different question."""

    name: str

    def features(self, texts: Sequence[str]) -> list[Any]:
        """What the guard compares, for each text (computed once per text)."""
        ...

    def refuses(self, query: Any, cached: Any) -> str | None:
        """Why the cached answer must not be used for the query, or None."""
        ...


_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


class NumbersGuard:
    """The same numbers (amounts, dates, ids) must appear in both texts."""

    name = "numbers"

    def features(self, texts: Sequence[str]) -> list[Any]:
        return [tuple(sorted(n.replace(",", "") for n in _NUMBER.findall(t))) for t in texts]

    def refuses(self, query: Any, cached: Any) -> str | None:
        if query != cached:
            return f"numbers differ ({list(query)} vs {list(cached)})"
        return None


_NEGATION = re.compile(r"\b(?:not|no|never|none|nothing|cannot|without)\b|n't\b", re.IGNORECASE)


class NegationGuard:
    """Both texts are negated, or neither is ("can" vs "can't")."""

    name = "negation"

    def features(self, texts: Sequence[str]) -> list[Any]:
        return [len(_NEGATION.findall(t.replace("’", "'"))) % 2 == 1 for t in texts]

    def refuses(self, query: Any, cached: Any) -> str | None:
        if query != cached:
            return "one is negated and the other is not"
        return None


class IntentGuard:
    """A classifier must give both texts the same intent.

    Args:
        classify: texts -> labels (e.g. ``lambda t: [p.label for p in
            predictor.predict_batch(t)]`` with the ML layer's Predictor).
    """

    name = "intent"

    def __init__(self, classify: Callable[[list[str]], Sequence[Any]]) -> None:
        self.classify = classify

    @classmethod
    def from_predictor(cls, predictor: Any) -> IntentGuard:
        """The guard over a predictor with ``predict_batch`` returning labelled predictions."""
        return cls(lambda texts: [p.label for p in predictor.predict_batch(texts)])

    def features(self, texts: Sequence[str]) -> list[Any]:
        return list(self.classify(list(texts)))

    def refuses(self, query: Any, cached: Any) -> str | None:
        if query != cached:
            return f"intents differ ({query} vs {cached})"
        return None


@dataclass(frozen=True, slots=True)
class SemanticHit:
    """A cached answer for a similar question: the value, the similarity, the question it
    was cached for."""

    value: Any
    similarity: float
    matched: str


@dataclass
class _Scope:
    texts: list[str] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)
    features: list[list[Any]] = field(default_factory=list)
    expires: list[float | None] = field(default_factory=list)
    vectors: np.ndarray | None = None


class SemanticCache:
    """Answers for similar questions within an exact scope, in this process's memory.

    Args:
        embedder: turns questions into unit vectors (the retrieval embedder).
        threshold: the least cosine similarity of a match.
        guards: checks a match must pass (default: numbers and negation).
        ttl_s: seconds an entry stays valid; None: until invalidated.
        max_entries: entries kept per scope; the oldest go first.
        clock: seconds since the epoch (tests pass a fake).
    """

    def __init__(self, *, embedder: Embedder, threshold: float = 0.92,
                 guards: Sequence[Guard] | None = None, ttl_s: float | None = 86_400.0,
                 max_entries: int = 10_000, clock: Any = time.time) -> None:
        self.embedder = embedder
        self.threshold = threshold
        self.guards: list[Guard] = (list(guards) if guards is not None
                                    else [NumbersGuard(), NegationGuard()])
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.clock = clock
        self.stats = CacheStats()
        self.refusals: dict[str, int] = {}
        self._scopes: dict[str, _Scope] = {}
        self._lock = threading.Lock()

    def _features(self, text: str) -> list[Any]:
        return [guard.features([text])[0] for guard in self.guards]

    def lookup(self, scope: CacheKey, text: str) -> SemanticHit | None:
        """The answer cached for the most similar question that passes every guard."""
        with self._lock:
            entries = self._scopes.get(scope.storage)
            if entries is None or entries.vectors is None or not entries.texts:
                self.stats.misses += 1
                return None
            vectors = entries.vectors
        query = self.embedder.embed([text])[0]
        similarities = vectors @ query
        order = np.argsort(-similarities)
        now = self.clock()
        query_features: list[Any] | None = None
        for index in order:
            similarity = float(similarities[index])
            if similarity < self.threshold:
                break
            expires = entries.expires[index]
            if expires is not None and expires <= now:
                continue
            if query_features is None:
                query_features = self._features(text)
            refusal = next(
                (guard.name for guard, q, c in zip(self.guards, query_features,
                                                   entries.features[index], strict=True)
                 if guard.refuses(q, c)), None)
            if refusal is not None:
                self.stats.refused += 1
                self.refusals[refusal] = self.refusals.get(refusal, 0) + 1
                continue
            self.stats.hits += 1
            self.stats.semantic_hits += 1
            return SemanticHit(entries.values[index], similarity, entries.texts[index])
        self.stats.misses += 1
        return None

    def put(self, scope: CacheKey, text: str, value: Any) -> None:
        """Cache ``value`` as the answer to ``text`` within ``scope``."""
        vector = self.embedder.embed([text])[0]
        features = self._features(text)
        expires = None if self.ttl_s is None else self.clock() + self.ttl_s
        with self._lock:
            self._drop_other_versions(scope)
            entries = self._scopes.setdefault(scope.storage, _Scope())
            entries.texts.append(text)
            entries.values.append(value)
            entries.features.append(features)
            entries.expires.append(expires)
            stacked = vector[None, :] if entries.vectors is None else np.vstack(
                [entries.vectors, vector[None, :]])
            if len(entries.texts) > self.max_entries:
                for name in ("texts", "values", "features", "expires"):
                    del getattr(entries, name)[0]
                stacked = stacked[1:]
            entries.vectors = stacked

    def _drop_other_versions(self, scope: CacheKey) -> None:
        for storage in [s for s in self._scopes
                        if s.startswith(f"{scope.model}|") and
                        not s.startswith(f"{scope.model}|{scope.version}|")]:
            self.stats.invalidated += len(self._scopes.pop(storage).texts)

    def invalidate(self, model: str, *, keep_version: str | None = None) -> int:
        """Drop the entries of ``model`` (all, or all but ``keep_version``'s)."""
        with self._lock:
            doomed = [s for s in self._scopes if s.startswith(f"{model}|") and not (
                keep_version is not None and s.startswith(f"{model}|{keep_version}|"))]
            dropped = sum(len(self._scopes.pop(s).texts) for s in doomed)
        self.stats.invalidated += dropped
        return dropped
