"""Fusing ranked lists from several retrievers into one.

* :func:`reciprocal_rank_fusion`: each list gives ``weight / (k + rank)``; only ranks count,
  so it needs no calibration between BM25 scores and cosine similarities.
* :func:`weighted_score_fusion`: each list's scores are min-max normalised to [0, 1] over its
  own candidates, then summed with weights. Uses how *much* better a candidate is, which on
  SciFact beats RRF (see ``bench/retrieval.py``).

A candidate missing from a list gets nothing from it. Ties break by id, so fusion is
deterministic.

Example:
    >>> lexical = [("a", 12.0), ("b", 9.0), ("c", 1.0)]
    >>> dense = [("b", 0.9), ("c", 0.8), ("a", 0.1)]
    >>> [doc for doc, _ in reciprocal_rank_fusion({"lexical": lexical, "dense": dense})]
    ['b', 'a', 'c']
    >>> [doc for doc, _ in weighted_score_fusion({"lexical": lexical, "dense": dense})]
    ['b', 'a', 'c']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from compound.errors import UserError

Ranked = Sequence[tuple[str, float]]


def _weights(lists: Mapping[str, Ranked], weights: Mapping[str, float] | None) -> dict[str, float]:
    weights = dict(weights or {})
    unknown = sorted(set(weights) - set(lists))
    if unknown:
        raise UserError(
            f"fusion weights name unknown lists {unknown}; the lists are {sorted(lists)}"
        )
    out = {name: float(weights.get(name, 1.0)) for name in lists}
    if any(w < 0 for w in out.values()) or not any(w > 0 for w in out.values()):
        raise UserError(f"fusion weights must be 0 or more, one above 0; received {out}")
    return out


def _ordered(scores: Mapping[str, float]) -> list[tuple[str, float]]:
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def reciprocal_rank_fusion(
    lists: Mapping[str, Ranked], *, k: int = 60, weights: Mapping[str, float] | None = None
) -> list[tuple[str, float]]:
    """Fuse by reciprocal rank: ``sum(weight / (k + rank))`` over the lists.

    Args:
        lists: name to ``(id, score)`` pairs, best first.
        k: damping; larger values flatten the advantage of the top ranks (60 is standard).
        weights: per-list weight, 1 when absent.

    Returns:
        ``(id, fused score)`` pairs, best first.
    """
    if k < 0:
        raise UserError(f"the RRF constant k must be 0 or more; received {k}")
    w = _weights(lists, weights)
    fused: dict[str, float] = {}
    for name, ranked in lists.items():
        for rank, (item, _) in enumerate(ranked, start=1):
            fused[item] = fused.get(item, 0.0) + w[name] / (k + rank)
    return _ordered(fused)


def weighted_score_fusion(
    lists: Mapping[str, Ranked], *, weights: Mapping[str, float] | None = None
) -> list[tuple[str, float]]:
    """Fuse by min-max normalised scores: ``sum(weight * (s - min) / (max - min))``.

    A list whose candidates all score the same gives each of them its full weight.

    Args:
        lists: name to ``(id, score)`` pairs, best first.
        weights: per-list weight, 1 when absent.

    Returns:
        ``(id, fused score)`` pairs, best first.
    """
    w = _weights(lists, weights)
    fused: dict[str, float] = {}
    for name, ranked in lists.items():
        if not ranked:
            continue
        values = [score for _, score in ranked]
        low, high = min(values), max(values)
        span = high - low
        for item, score in ranked:
            normalised = (score - low) / span if span > 0 else 1.0
            fused[item] = fused.get(item, 0.0) + w[name] * normalised
    return _ordered(fused)
