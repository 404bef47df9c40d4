"""Monitoring over time: per-interval rollups of traffic, latency, errors, cost, quality and
user signals, kept in the store so that the dashboard can chart them after a restart.

Each server process aggregates in memory into buckets of ``bucket_s`` seconds and writes the
buckets it changed every few seconds (collection ``monitoring``, key
``{hour}/{bucket start}/{instance}``), so processes never overwrite each other and a write costs one
small document per interval, not one per request. :func:`read_series` merges the buckets of
every instance (plus the caller's unwritten ones) into evenly spaced points.

Latency percentiles come from a fixed log-spaced histogram (each bucket 25% wider than the
last), so they merge across instances and intervals exactly; a percentile is reported as the
geometric middle of its bucket (within about 12%).

Example:
    >>> from compound.store import MemoryStore
    >>> store = MemoryStore()
    >>> rollups = Rollups(store, instance="a", bucket_s=60)
    >>> for ms in (4, 5, 6, 200):
    ...     rollups.record_request("classify", latency_s=ms / 1000, error=None, now=120.0)
    >>> rollups.flush()
    1
    >>> point = read_series(store, since=120, until=180, step_s=60)[0]
    >>> point["requests"], point["errors"], round(point["p50_ms"])
    (4, 0, 5)
"""

from __future__ import annotations

import bisect
import math
import threading
import time
from collections.abc import Mapping
from typing import Any

from compound.production.monitoring.metrics import fell_back
from compound.store.base import Store

COLLECTION = "monitoring"
_EDGES = [1e-4 * 1.25 ** i for i in range(80)]  # 0.1 ms .. about 5 minutes


def _empty(start: float) -> dict[str, Any]:
    return {"t": start, "requests": 0, "errors": 0, "error_types": {}, "latency": {},
            "workflows": {}, "tokens": 0, "cost_usd": 0.0, "fallbacks": 0, "cache_hits": 0,
            "cache_lookups": 0, "verdicts": {}, "feedback": {}, "thumbs_up": 0,
            "thumbs_down": 0, "rating_sum": 0.0, "rating_n": 0, "quality": {}}


def _bump(counts: dict[str, Any], key: str, by: float = 1) -> None:
    counts[key] = counts.get(key, 0) + by


class Rollups:
    """In-memory rollups of one process, written to the store by :meth:`flush`.

    Args:
        store: where buckets are written.
        instance: names this process in bucket keys (several servers share a store).
        bucket_s: the interval each bucket covers.
    """

    def __init__(self, store: Store, *, instance: str, bucket_s: float = 10.0) -> None:
        self.store = store
        self.instance = instance
        self.bucket_s = bucket_s
        self._buckets: dict[float, dict[str, Any]] = {}
        self._dirty: set[float] = set()
        self._lock = threading.Lock()

    def _bucket(self, now: float | None) -> dict[str, Any]:
        t = time.time() if now is None else now
        start = math.floor(t / self.bucket_s) * self.bucket_s
        bucket = self._buckets.get(start)
        if bucket is None:
            bucket = self._buckets[start] = _empty(start)
        self._dirty.add(start)
        return bucket

    # -- recording --------------------------------------------------------------------------

    def record_request(self, workflow: str, *, latency_s: float, error: str | None,
                       now: float | None = None) -> None:
        """One finished run (or a request that failed before running)."""
        index = str(bisect.bisect_left(_EDGES, latency_s))
        with self._lock:
            b = self._bucket(now)
            b["requests"] += 1
            _bump(b["workflows"], workflow)
            _bump(b["latency"], index)
            if error is not None:
                b["errors"] += 1
                _bump(b["error_types"], error)

    def record_span(self, span: Mapping[str, Any], now: float | None = None) -> None:
        """Tokens, cost, fallbacks, cache lookups and guardrail verdicts of an ended span."""
        attrs: Mapping[str, Any] = span.get("attributes") or {}
        kind = span.get("kind")
        with self._lock:
            b = self._bucket(now)
            if kind == "model":
                b["tokens"] += int(attrs.get("gen_ai.usage.input_tokens") or 0) + int(
                    attrs.get("gen_ai.usage.output_tokens") or 0)
                b["cost_usd"] += float(attrs.get("compound.cost_usd") or 0.0)
            if "compound.cache.hit" in attrs:
                b["cache_lookups"] += 1
                b["cache_hits"] += bool(attrs["compound.cache.hit"])
            if fell_back(attrs):
                b["fallbacks"] += 1
            if "compound.rail.action" in attrs:
                _bump(b["verdicts"], str(attrs["compound.rail.action"]))

    def record_feedback(self, kind: str, value: str, now: float | None = None) -> None:
        with self._lock:
            b = self._bucket(now)
            _bump(b["feedback"], kind)
            if kind == "thumbs":
                b["thumbs_up" if value == "up" else "thumbs_down"] += 1
            elif kind == "rating":
                b["rating_sum"] += float(value)
                b["rating_n"] += 1

    def record_quality(self, metric: str, value: float, now: float | None = None) -> None:
        with self._lock:
            b = self._bucket(now)
            pair = b["quality"].setdefault(metric, [0.0, 0])
            pair[0] += float(value)
            pair[1] += 1

    # -- persistence ------------------------------------------------------------------------

    def flush(self, now: float | None = None) -> int:
        """Write the buckets changed since the last flush; forget old written ones.

        Returns:
            how many buckets were written.
        """
        t = time.time() if now is None else now
        with self._lock:
            dirty = {start: _copy(self._buckets[start]) for start in self._dirty}
            self._dirty.clear()
            for start in [s for s in self._buckets if s < t - 3 * self.bucket_s
                          and s not in dirty]:
                del self._buckets[start]
        if dirty:
            with self.store.transaction():
                for start, bucket in dirty.items():
                    self.store.put(COLLECTION, _key(start, self.instance), bucket)
        return len(dirty)

    def live(self) -> list[dict[str, Any]]:
        """Copies of the buckets held in memory (some not yet written)."""
        with self._lock:
            return [_copy(b) for b in self._buckets.values()]


def _copy(bucket: dict[str, Any]) -> dict[str, Any]:
    out = dict(bucket)
    for key in ("error_types", "latency", "workflows", "verdicts", "feedback"):
        out[key] = dict(bucket[key])
    out["quality"] = {k: list(v) for k, v in bucket["quality"].items()}
    return out


def _merge(into: dict[str, Any], b: Mapping[str, Any]) -> None:
    for key in ("requests", "errors", "tokens", "cost_usd", "fallbacks", "cache_hits",
                "cache_lookups", "thumbs_up", "thumbs_down", "rating_sum", "rating_n"):
        into[key] += b.get(key, 0)
    for key in ("error_types", "latency", "workflows", "verdicts", "feedback"):
        for name, count in (b.get(key) or {}).items():
            _bump(into[key], name, count)
    for metric, (total, n) in (b.get("quality") or {}).items():
        pair = into["quality"].setdefault(metric, [0.0, 0])
        pair[0] += total
        pair[1] += n


def percentile(latency: Mapping[str, int], q: float) -> float | None:
    """The ``q`` quantile (0-1) in seconds of a rollup latency histogram, or None if empty."""
    counts = sorted((int(k), v) for k, v in latency.items())
    total = sum(v for _, v in counts)
    if not total:
        return None
    rank = q * total
    seen = 0
    for index, count in counts:
        seen += count
        if seen >= rank:
            upper = _EDGES[min(index, len(_EDGES) - 1)]
            lower = _EDGES[index - 1] if index > 0 else upper / 1.25
            return math.sqrt(lower * upper)
    return _EDGES[-1]


def _key(start: float, instance: str) -> str:
    return f"{int(start // 3600):08d}/{start:015.3f}/{instance}"


def read_series(store: Store, *, since: float, until: float, step_s: float,
                live: Rollups | None = None) -> list[dict[str, Any]]:
    """Evenly spaced points from ``since`` to ``until``, every instance merged.

    Args:
        store: holds the written buckets.
        since: the first point's start (seconds since the epoch).
        until: the end of the last point.
        step_s: the interval of a point (a multiple of the bucket size reads best).
        live: this process's rollups; its buckets in memory replace their written copies,
            which may be a few seconds old.

    Returns:
        one dict per point: ``t``, ``requests``, ``rps``, ``errors``, ``error_rate``,
        ``p50_ms``/``p95_ms``/``p99_ms``, ``tokens``, ``cost_usd``, ``fallback_rate``,
        ``cache_hit_rate``, ``blocked``, ``feedback`` (by kind), ``thumbs_up_rate``,
        ``mean_rating``, ``quality`` (metric -> mean).
    """
    steps = max(1, math.ceil((until - since) / step_s))
    points = [_empty(since + i * step_s) for i in range(steps)]
    held = live.live() if live is not None else []
    replaced = {_key(b["t"], live.instance) for b in held} if live is not None else set()
    for hour in range(int(since // 3600), int(until // 3600) + 1):
        for key, bucket in store.items(COLLECTION, prefix=f"{hour:08d}/"):
            if key not in replaced and since <= bucket["t"] < until:
                _place(points, bucket, since, step_s)
    for bucket in held:
        if since <= bucket["t"] < until:
            _place(points, bucket, since, step_s)
    return [_summarise(p, step_s) for p in points]


def _place(points: list[dict[str, Any]], bucket: Mapping[str, Any], since: float,
           step_s: float) -> None:
    index = int((bucket["t"] - since) // step_s)
    if 0 <= index < len(points):
        _merge(points[index], bucket)


def _summarise(p: dict[str, Any], step_s: float) -> dict[str, Any]:
    n = p["requests"]

    def ms(q: float) -> float | None:
        value = percentile(p["latency"], q)
        return None if value is None else round(value * 1000, 3)

    thumbs = p["thumbs_up"] + p["thumbs_down"]
    blocked = sum(v for k, v in p["verdicts"].items() if k in ("block", "escalate"))
    return {
        "t": p["t"], "requests": n, "rps": round(n / step_s, 3), "errors": p["errors"],
        "error_rate": round(p["errors"] / n, 4) if n else None,
        "error_types": p["error_types"], "workflows": p["workflows"],
        "p50_ms": ms(0.5), "p95_ms": ms(0.95), "p99_ms": ms(0.99),
        "tokens": p["tokens"], "cost_usd": round(p["cost_usd"], 6),
        "fallback_rate": round(p["fallbacks"] / n, 4) if n else None,
        "cache_hit_rate": (round(p["cache_hits"] / p["cache_lookups"], 4)
                           if p["cache_lookups"] else None),
        "verdicts": p["verdicts"], "blocked": blocked, "feedback": p["feedback"],
        "thumbs_up_rate": round(p["thumbs_up"] / thumbs, 4) if thumbs else None,
        "mean_rating": round(p["rating_sum"] / p["rating_n"], 3) if p["rating_n"] else None,
        "quality": {m: round(total / count, 4) for m, (total, count) in p["quality"].items()
                    if count},
    }
