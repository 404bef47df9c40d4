"""Can this judge be trusted? Its agreement with human labels, by Cohen's kappa.

Kappa is the agreement beyond what chance would give: 1 is perfect, 0 is chance, below 0 is
worse than chance. A judge whose kappa against human labels reaches ``min_kappa`` (0.6 by
default, "substantial" on the usual reading) is marked trusted; below it, its scores should
not gate a release. Weighted kappa (``linear``/``quadratic``) credits near misses on ordinal
scales.

Example:
    >>> agreement = judge_agreement([5, 4, 1, 2, 5], [5, 4, 1, 1, 5], min_kappa=0.6)
    >>> round(agreement.kappa, 3), agreement.trusted
    (0.722, True)
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Literal

from compound.errors import UserError


def cohen_kappa(
    a: Sequence[Hashable],
    b: Sequence[Hashable],
    *,
    weights: Literal["linear", "quadratic"] | None = None,
) -> float:
    """Cohen's kappa between two raters' labels of the same items.

    When chance agreement is already total (both raters always give the same single label)
    kappa is undefined; this returns 1.0 if they agree everywhere, else 0.0.

    Raises:
        UserError: the sequences differ in length or are empty.
    """
    if len(a) != len(b) or not a:
        raise UserError(
            f"kappa needs two equally long, non-empty label lists; received {len(a)} and {len(b)}"
        )
    labels = sorted({*a, *b}, key=lambda x: (str(type(x)), x))  # type: ignore[arg-type,return-value]
    index = {label: i for i, label in enumerate(labels)}
    k, n = len(labels), len(a)
    observed = [[0.0] * k for _ in range(k)]
    for x, y in zip(a, b, strict=True):
        observed[index[x]][index[y]] += 1 / n
    row = [sum(r) for r in observed]
    col = [sum(observed[i][j] for i in range(k)) for j in range(k)]

    def weight(i: int, j: int) -> float:
        if weights is None:
            return 0.0 if i == j else 1.0
        distance = abs(i - j) / max(k - 1, 1)
        return distance if weights == "linear" else distance**2

    disagree_obs = sum(weight(i, j) * observed[i][j] for i in range(k) for j in range(k))
    disagree_exp = sum(weight(i, j) * row[i] * col[j] for i in range(k) for j in range(k))
    if disagree_exp == 0:
        return 1.0 if disagree_obs == 0 else 0.0
    return 1 - disagree_obs / disagree_exp


@dataclass(frozen=True)
class JudgeAgreement:
    """How a judge's labels compare with humans' on the same rows."""

    kappa: float
    observed: float
    n: int
    min_kappa: float

    @property
    def trusted(self) -> bool:
        return self.kappa >= self.min_kappa


def judge_agreement(
    judge_labels: Sequence[Hashable],
    human_labels: Sequence[Hashable],
    *,
    min_kappa: float = 0.6,
    weights: Literal["linear", "quadratic"] | None = None,
) -> JudgeAgreement:
    """Kappa and raw agreement between a judge and human labels, and whether to trust it."""
    observed = sum(x == y for x, y in zip(judge_labels, human_labels, strict=True))
    return JudgeAgreement(
        kappa=cohen_kappa(judge_labels, human_labels, weights=weights),
        observed=observed / len(judge_labels) if judge_labels else 0.0,
        n=len(judge_labels), min_kappa=min_kappa,
    )
