"""Calibrating a confidence router's threshold on labelled data, to hit a declared target.

For each candidate threshold the ML model answers the requests whose confidence is at least
the threshold (*coverage*), with some accuracy on that share (*covered accuracy*); the rest go
to the fallback, at the fallback's cost and quality. Two targets:

* ``covered_accuracy``: the lowest threshold (most coverage) whose covered accuracy is at
  least the target;
* ``quality_ratio``: the cheapest threshold whose system quality (ML on the covered share,
  fallback on the rest) is at least that share of the best single option's quality.

``confidence_level`` (optional) asks for a one-sided Wilson lower bound of covered accuracy to
clear the target instead of the point estimate, for a margin against sampling noise.

Example:
    >>> import numpy as np
    >>> confidence = np.array([0.99, 0.95, 0.9, 0.6, 0.4])
    >>> correct = np.array([True, True, True, False, True])
    >>> found = calibrate_threshold(confidence, correct, covered_accuracy=1.0,
    ...                             fallback_cost_usd=0.001)
    >>> found.chosen.threshold, found.chosen.coverage, found.chosen.cost_per_1k_usd
    (0.9, 0.6, 0.4)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from compound.errors import UserError

if TYPE_CHECKING:
    from rich.table import Table


@dataclass(frozen=True, slots=True)
class ThresholdPoint:
    """What one threshold gives on the calibration data.

    Attributes:
        threshold: the model answers when its confidence is at least this.
        coverage: the share of requests the model answers.
        covered_accuracy: its accuracy on that share (None when it answers none).
        system_accuracy: accuracy of the whole system, when the fallback's is known.
        cost_per_1k_usd: what 1,000 requests cost (model on the covered share, fallback on
            the rest).
        covered_lower: the one-sided Wilson lower bound of covered accuracy, when a
            confidence level was asked for.
        covered_upper: the matching upper bound: with ``covered_lower`` a two-sided interval
            at ``2 * level - 1`` (90% for a 95% bound).
    """

    threshold: float
    coverage: float
    covered_accuracy: float | None
    system_accuracy: float | None
    cost_per_1k_usd: float
    covered_lower: float | None = None
    covered_upper: float | None = None


@dataclass(frozen=True)
class Calibration:
    """A calibration curve and the threshold chosen on it.

    Attributes:
        points: the curve, by increasing threshold.
        chosen: the chosen point; None when no threshold meets the target.
        target: the target in words.
        rows: how many labelled rows it was calibrated on.
        confidence_level: the level of the lower bound the threshold had to clear (None: the
            point estimate).
        source: which confidences it was calibrated on, in words.
    """

    points: tuple[ThresholdPoint, ...]
    chosen: ThresholdPoint | None
    target: str
    rows: int
    confidence_level: float | None = None
    source: str = ""

    @property
    def met(self) -> bool:
        """Whether some threshold meets the target."""
        return self.chosen is not None

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "rows": self.rows,
                "confidence_level": self.confidence_level, "source": self.source,
                "chosen": asdict(self.chosen) if self.chosen else None,
                "points": [asdict(p) for p in self.points]}

    def expected(self) -> str:
        """The chosen threshold's expected covered accuracy with its interval, in words.

        Example:
            >>> found = calibrate_threshold([0.9] * 95 + [0.2] * 5, [True] * 95 + [False] * 5,
            ...                             covered_accuracy=0.95, confidence_level=0.95)
            >>> text = found.expected()
            >>> text[:51]
            'threshold 0.9000: covered accuracy 100.00% expected'
            >>> text[52:]
            '(90% interval 97.2% to 100.0%) at 95.0% coverage'
        """
        point = self.chosen
        if point is None:
            return f"no threshold meets {self.target}"
        text = (f"threshold {point.threshold:.4f}: covered accuracy "
                f"{_pct(point.covered_accuracy)} expected")
        if point.covered_lower is not None and point.covered_upper is not None \
                and self.confidence_level is not None:
            text += (f" ({2 * self.confidence_level - 1:.0%} interval "
                     f"{point.covered_lower:.1%} to {point.covered_upper:.1%})")
        return text + f" at {point.coverage:.1%} coverage"

    def table(self, *, every: int = 1) -> Table:
        """The curve as a Rich table (every ``every``-th point, and the chosen one)."""
        from rich.table import Table

        table = Table(title=f"threshold calibration: {self.target} ({self.rows} rows)",
                      title_justify="left")
        bounded = self.confidence_level is not None
        columns = ["threshold", "coverage", "covered acc"]
        if bounded:
            columns.append(f"{self.confidence_level:.0%} lower bound")
        for column in (*columns, "system acc", "$ / 1k"):
            table.add_column(column, justify="right")
        for index, point in enumerate(self.points):
            mine = point is self.chosen
            if index % every and not mine:
                continue
            style = "bold green" if mine else None
            cells = [f"{point.threshold:.4f}", f"{point.coverage:.1%}",
                     _pct(point.covered_accuracy)]
            if bounded:
                cells.append(_pct(point.covered_lower))
            table.add_row(*cells, _pct(point.system_accuracy),
                          f"{point.cost_per_1k_usd:.4f}", style=style)
        return table


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def wilson_lower(successes: int, total: int, confidence_level: float) -> float:
    """One-sided Wilson lower bound of a proportion at ``confidence_level``."""
    return _wilson(successes, total, confidence_level, -1.0)


def wilson_upper(successes: int, total: int, confidence_level: float) -> float:
    """One-sided Wilson upper bound of a proportion at ``confidence_level``."""
    return _wilson(successes, total, confidence_level, 1.0)


def _wilson(successes: int, total: int, confidence_level: float, side: float) -> float:
    if total == 0:
        return 0.0 if side < 0 else 1.0
    from statistics import NormalDist

    z = NormalDist().inv_cdf(confidence_level)
    p = successes / total
    centre = p + z * z / (2 * total)
    spread = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total))
    return (centre + side * spread) / (1 + z * z / total)


def threshold_curve(
    confidence: Sequence[float] | np.ndarray,
    correct: Sequence[bool] | np.ndarray,
    *,
    thresholds: Sequence[float] | np.ndarray | None = None,
    fallback_correct: Sequence[bool] | np.ndarray | float | None = None,
    model_cost_usd: float = 0.0,
    fallback_cost_usd: float = 0.0,
    confidence_level: float | None = None,
) -> list[ThresholdPoint]:
    """Coverage, covered accuracy and cost for each threshold.

    Args:
        confidence: the model's confidence per labelled request.
        correct: whether the model's answer was right, per request.
        thresholds: the candidates; default: every distinct confidence (exact), plus 1.0.
        fallback_correct: the fallback's correctness per request, or its accuracy as one
            number (1.0 for human review), or None when unknown.
        model_cost_usd: cost of one request answered by the model.
        fallback_cost_usd: cost of one request sent to the fallback.
        confidence_level: also compute the Wilson lower bound of covered accuracy.
    """
    conf = np.asarray(confidence, dtype=float)
    ok = np.asarray(correct, dtype=bool)
    if conf.shape != ok.shape or conf.ndim != 1 or len(conf) == 0:
        raise UserError(f"confidence and correct must be equal-length non-empty lists; "
                        f"received {conf.shape} and {ok.shape}")
    n = len(conf)
    fb: np.ndarray | None = None
    if fallback_correct is not None and not isinstance(fallback_correct, int | float):
        fb = np.asarray(fallback_correct, dtype=float)
        if fb.shape != conf.shape:
            raise UserError("fallback_correct must have one value per request")
    grid = np.unique(np.append(conf, 1.0)) if thresholds is None else np.unique(thresholds)
    # sort once; for each threshold the covered set is a suffix of the order by confidence
    order = np.argsort(conf, kind="stable")
    sorted_conf = conf[order]
    correct_suffix = np.append(np.cumsum(ok[order][::-1])[::-1], 0)
    fallback_prefix = np.insert(np.cumsum(fb[order]), 0, 0.0) if fb is not None else None
    points = []
    for threshold in grid:
        start = int(np.searchsorted(sorted_conf, threshold, side="left"))
        covered = n - start
        right = int(correct_suffix[start])
        covered_acc = right / covered if covered else None
        system = None
        if fallback_prefix is not None:
            system = (right + float(fallback_prefix[start])) / n
        elif isinstance(fallback_correct, int | float):
            system = (right + float(fallback_correct) * start) / n
        cost = (covered * model_cost_usd + start * fallback_cost_usd) / n * 1000
        bounded = confidence_level is not None and covered
        lower = wilson_lower(right, covered, confidence_level) if bounded else None
        upper = wilson_upper(right, covered, confidence_level) if bounded else None
        points.append(ThresholdPoint(round(float(threshold), 6), covered / n, covered_acc,
                                     system, round(cost, 10), lower, upper))
    return points


def calibrate_threshold(
    confidence: Sequence[float] | np.ndarray,
    correct: Sequence[bool] | np.ndarray,
    *,
    covered_accuracy: float | None = None,
    quality_ratio: float | None = None,
    fallback_correct: Sequence[bool] | np.ndarray | float | None = None,
    model_cost_usd: float = 0.0,
    fallback_cost_usd: float = 0.0,
    thresholds: Sequence[float] | np.ndarray | None = None,
    confidence_level: float | None = None,
) -> Calibration:
    """Choose the threshold that meets the target (set exactly one of the two).

    Args:
        confidence, correct, fallback_correct, model_cost_usd, fallback_cost_usd,
            thresholds, confidence_level: as for :func:`threshold_curve`.
        covered_accuracy: the least accuracy on the share the model answers.
        quality_ratio: the least share of the best single option's quality (needs
            ``fallback_correct``).

    Returns:
        The curve and the chosen point (``chosen`` is None when the target is out of reach).
    """
    if (covered_accuracy is None) == (quality_ratio is None):
        raise UserError("calibrate_threshold: set exactly one of covered_accuracy or "
                        "quality_ratio")
    if quality_ratio is not None and fallback_correct is None:
        raise UserError("calibrate_threshold: quality_ratio needs fallback_correct (the "
                        "fallback's correctness per request, or its accuracy)")
    points = threshold_curve(
        confidence, correct, thresholds=thresholds, fallback_correct=fallback_correct,
        model_cost_usd=model_cost_usd, fallback_cost_usd=fallback_cost_usd,
        confidence_level=confidence_level,
    )
    rows = len(np.asarray(confidence))
    chosen: ThresholdPoint | None = None
    if covered_accuracy is not None:
        level = f" at {confidence_level:.0%} confidence" if confidence_level else ""
        target = f"covered accuracy >= {covered_accuracy:g}{level}"
        for point in points:  # increasing threshold: the first that qualifies covers most
            value = point.covered_lower if confidence_level else point.covered_accuracy
            if value is not None and value >= covered_accuracy - 1e-12:
                chosen = point
                break
    else:
        assert quality_ratio is not None
        ml_quality = float(np.mean(np.asarray(correct, dtype=float)))
        fb_quality = (float(fallback_correct) if isinstance(fallback_correct, int | float)
                      else float(np.mean(np.asarray(fallback_correct, dtype=float))))
        best = max(ml_quality, fb_quality)
        target = f"system accuracy >= {quality_ratio:g} x best option ({best:.4f}), cheapest"
        good = [p for p in points
                if p.system_accuracy is not None and p.system_accuracy >= quality_ratio * best]
        if good:
            chosen = min(good, key=lambda p: (p.cost_per_1k_usd, -p.system_accuracy))  # type: ignore[operator]
    return Calibration(tuple(points), chosen, target, rows, confidence_level)

