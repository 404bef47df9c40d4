"""Aggregating row scores, and how sure we are: percentile bootstrap confidence intervals.

The interval resamples rows with replacement ``resamples`` times (seeded, so a re-run gives the
same interval) and takes the central ``confidence`` mass of the recomputed aggregate. It says
how much a metric would move on another sample of the same size: two runs whose intervals
overlap widely are not clearly different.

Example:
    >>> value, low, high = bootstrap([1, 0, 1, 1, 0, 1, 1, 1, 0, 1], seed=0)
    >>> value, low < value < high
    (0.7, True)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

AGGREGATES = ("mean", "median", "p50", "p90", "p95", "p99", "sum", "max", "min")


def aggregate(values: Sequence[float], how: str = "mean") -> float:
    """Combine row values: ``mean``, ``median``/``p50``, ``p90``/``p95``/``p99``, ``sum``,
    ``max`` or ``min``.

    Raises:
        ValueError: ``how`` is none of these, or there are no values.
    """
    import numpy as np

    if not len(values):
        raise ValueError("no values to aggregate")
    array = np.asarray(values, dtype=float)
    return float(_reduce(array[None, :], how)[0])


def _reduce(matrix: Any, how: str) -> Any:
    import numpy as np

    if how == "mean":
        return matrix.mean(axis=1)
    if how in ("median", "p50"):
        return np.median(matrix, axis=1)
    if how in ("p90", "p95", "p99"):
        return np.percentile(matrix, float(how[1:]), axis=1)
    if how == "sum":
        return matrix.sum(axis=1)
    if how == "max":
        return matrix.max(axis=1)
    if how == "min":
        return matrix.min(axis=1)
    raise ValueError(f"unknown aggregate '{how}'; expected one of {', '.join(AGGREGATES)}")


def bootstrap(
    values: Sequence[float],
    *,
    how: str = "mean",
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """The aggregate of ``values`` and its percentile bootstrap interval.

    Returns:
        ``(value, low, high)``; with one value the interval is that value.
    """
    import numpy as np

    value = aggregate(values, how)
    if len(values) < 2:
        return value, value, value
    array = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    # Resample in blocks so 1000 x 100k rows does not hold 800 MB at once.
    estimates = []
    block = max(1, 2_000_000 // len(array))
    for start in range(0, resamples, block):
        count = min(block, resamples - start)
        picks = rng.integers(0, len(array), size=(count, len(array)))
        estimates.append(_reduce(array[picks], how))
    stats = np.concatenate(estimates)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(stats, [tail, 100 - tail])
    return value, float(low), float(high)


def bootstrap_corpus(
    fn: Callable[[list[Any], list[Any]], float | None],
    predictions: Sequence[Any],
    references: Sequence[Any],
    *,
    resamples: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float | None, float | None, float | None]:
    """Like :func:`bootstrap` for a metric computed over the whole set (macro-F1, nDCG...).

    Each resample recomputes ``fn``, so fewer resamples are used by default.
    """
    import numpy as np

    preds, refs = list(predictions), list(references)
    value = fn(preds, refs)
    if value is None or len(preds) < 2:
        return value, value, value
    rng = np.random.default_rng(seed)
    stats = []
    for _ in range(resamples):
        idx = rng.integers(0, len(preds), size=len(preds))
        stat = fn([preds[i] for i in idx], [refs[i] for i in idx])
        if stat is not None:
            stats.append(stat)
    if not stats:
        return value, value, value
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(np.asarray(stats, dtype=float), [tail, 100 - tail])
    return value, float(low), float(high)
