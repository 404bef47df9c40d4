"""Cutting one dataset into training, calibration and test rows, reproducibly.

Classification splits are stratified: each class keeps its share in every part (a class with
a single row stays in training). Ranking splits move whole queries, so that no query is
half-seen in training. The same seed gives the same rows on every machine.

Example:
    >>> import numpy as np
    >>> y = np.array([0] * 8 + [1] * 2)
    >>> held, rest = holdout(np.arange(10), fraction=0.5, seed=0, strata=y)
    >>> sorted(y[held].tolist())
    [0, 0, 0, 0, 1]
"""

from __future__ import annotations

import numpy as np


def holdout(
    rows: np.ndarray,
    *,
    fraction: float,
    seed: int,
    strata: np.ndarray | None = None,
    groups: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``rows`` (positions) into a held-out part of about ``fraction`` and the rest.

    Args:
        rows: the row positions to split.
        fraction: the share to hold out (0 holds out nothing).
        seed: the random seed.
        strata: per-row class indices to stratify on (aligned with ``rows``).
        groups: per-row group ids whose rows stay together (aligned with ``rows``).

    Returns:
        ``(held_out, rest)`` row positions, each sorted.
    """
    rng = np.random.default_rng(seed)
    if fraction <= 0 or len(rows) == 0:
        return rows[:0], rows
    if groups is not None:
        unique = np.unique(groups)
        count = max(1, round(fraction * len(unique))) if len(unique) > 1 else 0
        chosen = rng.permutation(unique)[:count]
        mask = np.isin(groups, chosen)
    elif strata is not None:
        mask = np.zeros(len(rows), dtype=bool)
        for value in np.unique(strata):
            members = np.flatnonzero(strata == value)
            if len(members) < 2:
                continue
            count = min(len(members) - 1, max(1, round(fraction * len(members))))
            mask[rng.permutation(members)[:count]] = True
    else:
        count = min(len(rows) - 1, max(1, round(fraction * len(rows))))
        mask = np.zeros(len(rows), dtype=bool)
        mask[rng.permutation(len(rows))[:count]] = True
    return np.sort(rows[mask]), np.sort(rows[~mask])
