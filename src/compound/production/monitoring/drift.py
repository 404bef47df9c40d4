"""Drift statistics: is the current window of inputs distributed like the reference window?

* :func:`psi`: the population stability index of a numeric feature, over ten bins cut at the
  reference's deciles (or over categories with :func:`psi_categorical`). Rule of thumb: below
  0.1 stable, 0.1 to 0.2 a moderate shift, above 0.2 a shift worth acting on. The rule
  assumes thousands of values: with a hundred per window, two samples of the *same*
  distribution average a PSI near 0.2 by chance. :func:`psi_p_value` says how likely a PSI
  that large is by chance (PSI times ``n*m/(n+m)`` is close to a chi-square statistic with
  ``bins - 1`` degrees of freedom), so a check can ask for both a large and a significant PSI.
* :func:`ks_2samp`: the two-sample Kolmogorov-Smirnov test: the largest gap between the two
  empirical distribution functions, and its asymptotic p-value.
* :func:`embedding_drift`: for text, a kernel two-sample test (maximum mean discrepancy with an
  RBF kernel, bandwidth by the median heuristic) on sentence embeddings, with a permutation
  p-value, plus the cosine distance between the two windows' mean embeddings as an effect
  size a person can read.

Each works on plain numpy arrays; :mod:`~compound.production.monitoring.drift_monitor` feeds
them windows of logged inputs.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> reference, same = rng.normal(0, 1, 500), rng.normal(0, 1, 500)
    >>> shifted = rng.normal(1, 1, 500)
    >>> psi(reference, same) < 0.1, psi(reference, shifted) > 0.2
    (True, True)
    >>> ks_2samp(reference, shifted).p_value < 0.001
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_EPS = 1e-4  # floor for empty bins: PSI's log would be infinite otherwise


def _proportions(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    shares = counts / total if total else np.full(len(counts), 1.0 / len(counts))
    return np.clip(shares, _EPS, None)


def _psi_of(ref: np.ndarray, cur: np.ndarray) -> float:
    r, c = _proportions(ref), _proportions(cur)
    return float(np.sum((c - r) * np.log(c / r)))


def psi(reference: Sequence[float] | np.ndarray, current: Sequence[float] | np.ndarray, *,
        bins: int = 10) -> float:
    """Population stability index of ``current`` against ``reference`` (numeric values).

    Bins are cut at the reference's quantiles, so each holds about the same share of the
    reference; values outside the reference's range fall in the end bins.
    """
    return psi_bins(reference, current, bins=bins)[0]


def psi_bins(reference: Sequence[float] | np.ndarray, current: Sequence[float] | np.ndarray,
             *, bins: int = 10) -> tuple[float, int]:
    """:func:`psi` and the number of bins it used (fewer than asked when the reference has
    repeated values)."""
    ref = np.asarray(reference, dtype=float)
    cur = np.asarray(current, dtype=float)
    if ref.size == 0 or cur.size == 0:
        raise ValueError("psi needs at least one value in each window")
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1))[1:-1])
    ref_counts = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=len(edges) + 1)
    cur_counts = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=len(edges) + 1)
    return _psi_of(ref_counts.astype(float), cur_counts.astype(float)), len(edges) + 1


def psi_categorical(reference: Sequence[object], current: Sequence[object]) -> float:
    """Population stability index over categories (strings, booleans, labels)."""
    categories = sorted({str(v) for v in reference} | {str(v) for v in current})
    index = {c: i for i, c in enumerate(categories)}
    ref = np.zeros(len(categories))
    cur = np.zeros(len(categories))
    for v in reference:
        ref[index[str(v)]] += 1
    for v in current:
        cur[index[str(v)]] += 1
    return _psi_of(ref, cur)


def _chi2_sf(x: float, df: int) -> float:
    """P(X > x) for a chi-square variable with ``df`` degrees of freedom (the regularised
    upper incomplete gamma function Q(df/2, x/2), by its series or continued fraction)."""
    if x <= 0:
        return 1.0
    a, z = df / 2.0, x / 2.0
    log_prefix = a * math.log(z) - z - math.lgamma(a)
    if z < a + 1:  # series for P, then Q = 1 - P
        term = total = 1.0 / a
        n = a
        for _ in range(500):
            n += 1
            term *= z / n
            total += term
            if abs(term) < abs(total) * 1e-14:
                break
        return max(0.0, 1.0 - total * math.exp(log_prefix))
    b = z + 1 - a  # continued fraction for Q (modified Lentz)
    c, d = 1.0 / 1e-300, 1.0 / b
    h = d
    for i in range(1, 500):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = 1e-300 if abs(d) < 1e-300 else d
        c = b + an / c
        c = 1e-300 if abs(c) < 1e-300 else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-14:
            break
    return min(1.0, math.exp(log_prefix) * h)


def psi_p_value(value: float, n_reference: int, n_current: int, bins: int) -> float:
    """How likely a PSI of at least ``value`` is between two samples of one distribution."""
    if bins < 2:
        return 1.0
    statistic = value * n_reference * n_current / (n_reference + n_current)
    return _chi2_sf(statistic, bins - 1)


@dataclass(frozen=True)
class TestResult:
    """A two-sample test: its statistic and p-value."""

    statistic: float
    p_value: float


def _kolmogorov_sf(x: float) -> float:
    """P(K > x) for the Kolmogorov distribution (the KS statistic's limit)."""
    if x < 0.2:
        return 1.0
    total = 0.0
    for k in range(1, 101):
        term = 2 * (-1) ** (k - 1) * math.exp(-2 * k * k * x * x)
        total += term
        if abs(term) < 1e-12:
            break
    return min(1.0, max(0.0, total))


def ks_2samp(reference: Sequence[float] | np.ndarray, current: Sequence[float] | np.ndarray
             ) -> TestResult:
    """Two-sample Kolmogorov-Smirnov test (two-sided, asymptotic p-value).

    The statistic is ``max |F_ref(x) - F_cur(x)|`` over all observed x; the p-value uses the
    Kolmogorov limit distribution with Stephens' small-sample correction, which is accurate
    to about 0.01 from twenty values per window.
    """
    a = np.sort(np.asarray(reference, dtype=float))
    b = np.sort(np.asarray(current, dtype=float))
    n, m = a.size, b.size
    if n == 0 or m == 0:
        raise ValueError("ks_2samp needs at least one value in each window")
    points = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, points, side="right") / n
    cdf_b = np.searchsorted(b, points, side="right") / m
    d = float(np.max(np.abs(cdf_a - cdf_b)))
    en = math.sqrt(n * m / (n + m))
    return TestResult(d, _kolmogorov_sf((en + 0.12 + 0.11 / en) * d))


@dataclass(frozen=True)
class EmbeddingDrift:
    """The result of :func:`embedding_drift`.

    Attributes:
        mmd2: the squared maximum mean discrepancy between the windows (0 when alike).
        p_value: share of label permutations with an MMD at least as large.
        centroid_distance: cosine distance between the windows' mean embeddings.
    """

    mmd2: float
    p_value: float
    centroid_distance: float


def _mmd2(kernel: np.ndarray, n: int) -> float:
    xx = kernel[:n, :n]
    yy = kernel[n:, n:]
    xy = kernel[:n, n:]
    m = kernel.shape[0] - n
    # unbiased estimate: leave out the diagonal of the within-window blocks
    within_x = (xx.sum() - np.trace(xx)) / (n * (n - 1))
    within_y = (yy.sum() - np.trace(yy)) / (m * (m - 1))
    return float(within_x + within_y - 2 * xy.mean())


def embedding_drift(reference: np.ndarray, current: np.ndarray, *, permutations: int = 200,
                    max_samples: int = 400, seed: int = 0) -> EmbeddingDrift:
    """Kernel two-sample test between two windows of embeddings (rows are vectors).

    Args:
        reference: ``(n, dim)`` embeddings of the reference window.
        current: ``(m, dim)`` embeddings of the current window.
        permutations: label shuffles for the p-value (its resolution is ``1 / (p + 1)``).
        max_samples: each window is subsampled to this many rows (cost grows with its square).
        seed: for the subsampling and the permutations, so a check is reproducible.
    """
    rng = np.random.default_rng(seed)
    x = np.asarray(reference, dtype=np.float64)
    y = np.asarray(current, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"expected two (rows, dim) arrays of the same dim; received {x.shape} "
                         f"and {y.shape}")
    if len(x) < 2 or len(y) < 2:
        raise ValueError("embedding_drift needs at least two rows in each window")
    if len(x) > max_samples:
        x = x[rng.choice(len(x), max_samples, replace=False)]
    if len(y) > max_samples:
        y = y[rng.choice(len(y), max_samples, replace=False)]
    pooled = np.vstack([x, y])
    sq = np.sum(pooled * pooled, axis=1)
    dist2 = np.maximum(sq[:, None] + sq[None, :] - 2 * pooled @ pooled.T, 0.0)
    off_diagonal = dist2[np.triu_indices(len(pooled), k=1)]
    bandwidth = float(np.median(off_diagonal)) or 1.0
    kernel = np.exp(-dist2 / bandwidth)
    n = len(x)
    observed = _mmd2(kernel, n)
    at_least = 0
    for _ in range(permutations):
        order = rng.permutation(len(pooled))
        if _mmd2(kernel[np.ix_(order, order)], n) >= observed:
            at_least += 1
    cx, cy = x.mean(axis=0), y.mean(axis=0)
    denom = float(np.linalg.norm(cx) * np.linalg.norm(cy)) or 1.0
    return EmbeddingDrift(observed, (at_least + 1) / (permutations + 1),
                          float(1.0 - (cx @ cy) / denom))
