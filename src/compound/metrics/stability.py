"""Stability: how many predictions change between two versions of a model on the same rows.

A retrain can keep its accuracy and still answer differently on many rows: it fixes some and
breaks as many. Downstream, that is a change users and the systems built on the model notice
(a threshold tuned on the old version, a cached answer, a person who learnt what it says).
*Churn* is the share of rows whose predicted label differs; *confident churn* the share whose
label differs while **both** versions were at least ``confidence`` sure of their answer, where
one of them is confidently wrong; *negative flips* (Yan et al., 2021, "positive-congruent
training") the share of rows the ``before`` version had right and the ``after`` version gets
wrong. A retrain that fixes mistakes churns too, even confidently (the old version was sure
and wrong); negative flips are what it breaks.

Example:
    >>> found = prediction_churn(["a", "b", "c", "d"], [0.9, 0.9, 0.6, 0.9],
    ...                          ["a", "c", "d", "e"], [0.9, 0.95, 0.9, 0.5], confidence=0.8,
    ...                          truth=["a", "b", "d", "x"])
    >>> found.churn, found.confident_churn, found.negative_flips, found.rows
    (0.75, 0.25, 0.25, 4)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from compound.errors import UserError


@dataclass(frozen=True)
class Churn:
    """Prediction churn between a ``before`` and an ``after`` version on the same rows.

    Attributes:
        churn: share of rows whose label differs.
        confident_churn: share of rows whose label differs while both versions' confidence
            was at least ``confidence``.
        negative_flips: share of rows ``before`` had right and ``after`` gets wrong (None
            without the true labels).
        rows: how many rows were compared.
        changed: how many labels differ; confident: how many of those were confident flips;
            broken: how many were negative flips.
        confidence: the confidence level a flip counts as confident from.
    """

    churn: float
    confident_churn: float
    negative_flips: float | None
    rows: int
    changed: int
    confident: int
    broken: int
    confidence: float


def prediction_churn(
    before: Sequence[object],
    before_confidence: Sequence[float],
    after: Sequence[object],
    after_confidence: Sequence[float],
    *,
    confidence: float = 0.8,
    truth: Sequence[object] | None = None,
) -> Churn:
    """The churn from ``before``'s labels to ``after``'s on the same rows, in the same order
    (``truth``: the true labels, for the negative flips).

    Raises:
        UserError: the sequences differ in length, or there is no row.
    """
    n = len(before)
    if not (n == len(after) == len(before_confidence) == len(after_confidence)):
        raise UserError(
            f"churn compares two versions on the same rows: received {n} and {len(after)} "
            f"labels (with {len(before_confidence)} and {len(after_confidence)} confidences)")
    if n == 0:
        raise UserError("churn needs at least one row to compare the two versions on")
    if truth is not None and len(truth) != n:
        raise UserError(f"churn: {len(truth)} true labels for {n} rows")
    changed = confident = broken = 0
    for i, (b, pb, a, pa) in enumerate(zip(before, before_confidence, after, after_confidence,
                                           strict=True)):
        if b != a:
            changed += 1
            confident += pb >= confidence and pa >= confidence
            broken += truth is not None and b == truth[i]
    return Churn(churn=changed / n, confident_churn=confident / n,
                 negative_flips=None if truth is None else broken / n, rows=n, changed=changed,
                 confident=confident, broken=broken, confidence=confidence)
