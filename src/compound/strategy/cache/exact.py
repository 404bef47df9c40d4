"""The exact cache: answers by key, with a time to live and invalidation on a new version.

Entries live in a backend: :class:`MemoryBackend` (a bounded LRU in this process, the fast
path) or :class:`StoreBackend` (the store's ``cache`` collection, shared by processes and kept
across restarts). When a model is seen with a version other than the one its entries were
made with, the entries of the other versions are dropped; and since the version is part of
every key, an entry of another version can never be returned, even before that purge.

Example:
    >>> cache = ExactCache(ttl_s=60)
    >>> key = cache_key(model="scripted:m", version="1", params={"t": 0}, input="hi")
    >>> cache.get(key) is None
    True
    >>> cache.put(key, {"text": "hello"})
    >>> cache.get(key), cache.stats.hits, cache.stats.misses
    ({'text': 'hello'}, 1, 1)
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from compound.strategy.cache.keys import CacheKey, cache_key

if TYPE_CHECKING:
    from compound.store import Store

__all__ = ["CacheBackend", "CacheStats", "ExactCache", "MemoryBackend", "StoreBackend",
           "cache_key"]
VERSION_PREFIX = "~version|"


class CacheBackend(Protocol):
    """Where cache entries are kept: four methods over string keys and JSON entries."""

    def get(self, key: str) -> dict[str, Any] | None: ...

    def put(self, key: str, entry: dict[str, Any]) -> None: ...

    def delete(self, key: str) -> None: ...

    def keys(self, prefix: str) -> Iterator[str]: ...


class MemoryBackend:
    """Entries in this process, least recently used dropped beyond ``max_entries``."""

    def __init__(self, *, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: str, entry: dict[str, Any]) -> None:
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def delete(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def keys(self, prefix: str) -> Iterator[str]:
        with self._lock:
            found = [k for k in self._entries if k.startswith(prefix)]
        return iter(found)


class StoreBackend:
    """Entries in the store's ``cache`` collection (or another), durable and shared."""

    def __init__(self, store: Store, *, collection: str = "cache") -> None:
        self.store = store
        self.collection = collection

    def get(self, key: str) -> dict[str, Any] | None:
        entry: dict[str, Any] | None = self.store.get(self.collection, key)
        return entry

    def put(self, key: str, entry: dict[str, Any]) -> None:
        self.store.put(self.collection, key, entry)

    def delete(self, key: str) -> None:
        self.store.delete(self.collection, key)

    def keys(self, prefix: str) -> Iterator[str]:
        return (k for k, _ in self.store.items(self.collection, prefix=prefix))


@dataclass
class CacheStats:
    """Counters of one cache: hits and misses, what was refused, expired or invalidated, and
    what hits saved."""

    hits: int = 0
    misses: int = 0
    semantic_hits: int = 0
    refused: int = 0
    expired: int = 0
    invalidated: int = 0
    saved_tokens: int = 0
    saved_cost_usd: float = 0.0

    @property
    def hit_rate(self) -> float:
        """Hits (exact and semantic) over lookups."""
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"hits": self.hits, "misses": self.misses, "semantic_hits": self.semantic_hits,
                "refused": self.refused, "expired": self.expired,
                "invalidated": self.invalidated, "hit_rate": round(self.hit_rate, 6),
                "saved_tokens": self.saved_tokens,
                "saved_cost_usd": round(self.saved_cost_usd, 9)}


class ExactCache:
    """Answers by exact key.

    Args:
        backend: where entries live; a :class:`MemoryBackend` by default.
        ttl_s: seconds an entry stays valid; None: until invalidated.
        clock: seconds since the epoch (tests pass a fake).
    """

    def __init__(self, *, backend: CacheBackend | None = None, ttl_s: float | None = 86_400.0,
                 clock: Any = time.time) -> None:
        self.backend: CacheBackend = backend if backend is not None else MemoryBackend()
        self.ttl_s = ttl_s
        self.clock = clock
        self.stats = CacheStats()
        self._versions: dict[str, str] = {}

    def _note_version(self, key: CacheKey) -> None:
        known = self._versions.get(key.model)
        if known == key.version:
            return
        if known is None:
            stored = self.backend.get(VERSION_PREFIX + key.model)
            known = stored["version"] if stored else None
        if known is not None and known != key.version:
            self.invalidate(key.model, keep_version=key.version)
        self.backend.put(VERSION_PREFIX + key.model, {"version": key.version})
        self._versions[key.model] = key.version

    def get(self, key: CacheKey) -> Any:
        """The cached value, or None (a miss)."""
        self._note_version(key)
        entry = self.backend.get(key.storage)
        if entry is not None and entry["expires_at"] is not None \
                and entry["expires_at"] <= self.clock():
            self.backend.delete(key.storage)
            self.stats.expired += 1
            entry = None
        if entry is None:
            self.stats.misses += 1
            return None
        self.stats.hits += 1
        return entry["value"]

    def put(self, key: CacheKey, value: Any) -> None:
        """Cache ``value`` (JSON data) under ``key``."""
        self._note_version(key)
        now = self.clock()
        self.backend.put(key.storage, {
            "value": value, "created_at": now,
            "expires_at": None if self.ttl_s is None else now + self.ttl_s,
        })

    def invalidate(self, model: str, *, keep_version: str | None = None) -> int:
        """Drop the entries of ``model`` (all, or all but ``keep_version``'s); returns how
        many."""
        dropped = 0
        for storage in list(self.backend.keys(f"{model}|")):
            if keep_version is not None and storage.startswith(f"{model}|{keep_version}|"):
                continue
            self.backend.delete(storage)
            dropped += 1
        self._versions.pop(model, None)
        self.stats.invalidated += dropped
        return dropped
