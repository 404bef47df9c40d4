"""Evaluation before scaling: success criteria, an eval behind each, and enough rows in it to
tell a pass from a fail.

* ``no-criteria``: a system with workflows to serve and no success criteria;
* ``criterion-without-eval``: a criterion whose metric no eval measures;
* ``thin-eval``: an eval with too few rows for its criterion (below).

**How thin is thin.** A criterion on a share (a metric in [0, 1] averaged over rows, with a
threshold in [0, 1]: accuracy, recall, groundedness...) is judged on ``n`` rows. At the
threshold ``p``, the 95% Wilson interval of a share measured on ``n`` rows spans
``± z·sqrt(p(1-p)/n + z²/4n²) / (1 + z²/n)`` (``z`` = 1.96); a value in [0, 1] varies no more
than a share does, so this bounds the interval of any such mean. When that half-width is wider
than ``design_review.resolution`` (0.1 by default) the eval cannot tell a system at the
threshold from one ``resolution`` away from it. A percentile criterion (``p95``) needs at
least ``100 / (100 - q)`` rows (20 for a p95), or the percentile is just the slowest row.
``n`` is what can be known before running: the dataset file's rows (those of ``split`` when
given), or ``sample`` when smaller (at most ``sample`` for a ``store:`` dataset). A metric
that leaves rows out (groundedness scores only rows with passages) is judged on fewer rows
still; the finding says so, since only a run can count them.

Example:
    >>> round(wilson_half_width(0.5, 12), 3), needed_rows(0.5, 0.1)
    (0.246, 93)
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from compound.design_review.finding import Hit, Rule
from compound.design_review.paths import served

if TYPE_CHECKING:
    from compound.system import System

Z95 = 1.959964
_PERCENTILES = {"p90": 90, "p95": 95, "p99": 99}


def wilson_half_width(p: float, n: int, z: float = Z95) -> float:
    """Half the width of the Wilson score interval of a share ``p`` measured on ``n`` rows."""
    return z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)


def needed_rows(p: float, resolution: float, z: float = Z95) -> int:
    """The fewest rows whose Wilson interval at ``p`` is no wider than ``± resolution``."""
    low, high = 1, 1
    while wilson_half_width(p, high, z) > resolution:
        low, high = high, high * 2
    while low < high:
        middle = (low + high) // 2
        if wilson_half_width(p, middle, z) > resolution:
            low = middle + 1
        else:
            high = middle
    return high


def measuring(system: System, metric: str) -> list[tuple[str, Any]]:
    """``(eval, metric spec)`` for each eval that measures a metric named ``metric``."""
    return [(name, spec) for name, ev in system.evals.items() for spec in ev.metric_specs()
            if spec.name == metric]


def _no_criteria(system: System) -> Iterator[Hit]:
    if system.criteria or not served(system):
        return
    yield Hit(("criteria",), f"system '{system.name}' serves {len(served(system))} workflow(s) "
                             "and declares no success criteria",
              "declare `criteria:` (a metric and the threshold it must meet, for quality and "
              "for latency) and an eval under `evals:` that measures each")


def _criterion_without_eval(system: System) -> Iterator[Hit]:
    for key, criterion in system.criteria.items():
        metric = criterion.metric or key
        if measuring(system, metric):
            continue
        yield Hit(("criteria", key),
                  f"criterion '{key}' holds metric '{metric}' to {criterion.threshold:g}, but "
                  f"no eval measures '{metric}'" + (f" (evals: {', '.join(system.evals)})"
                                                    if system.evals else " (no evals declared)"),
                  f"add an eval under `evals:` whose `metrics:` include '{metric}', on a "
                  "dataset of the requests the system will serve")


def _thin_eval(system: System) -> Iterator[Hit]:
    from compound.design_review.rows import eval_rows
    from compound.evaluation.gates import declared_direction

    resolution = system.design_review.resolution
    for key, criterion in system.criteria.items():
        metric = criterion.metric or key
        op = ">=" if declared_direction(system, key) == "higher" else "<="
        rule = f"{metric} {op} {criterion.threshold:g}"
        for eval_name, spec in measuring(system, metric):
            ev = system.evals[eval_name]
            counted = eval_rows(system, ev.dataset, ev.sample)
            if counted is None:
                continue
            rows, how = counted
            aggregate, partial = _reading(spec)
            here = ("evals", eval_name, "sample" if ev.sample else "dataset")
            judged = f"criterion '{key}' ({rule}) is judged by eval '{eval_name}' on {how}"
            if aggregate in _PERCENTILES:
                need = math.ceil(100 / (100 - _PERCENTILES[aggregate]))
                if rows < need:
                    yield Hit(here, f"{judged}: a {aggregate} of fewer than {need} rows is the "
                                    "slowest row, not a percentile",
                              f"evaluate at least {need} rows (`sample: {need}` or more)")
                continue
            p = criterion.threshold
            if aggregate != "mean" or not 0 <= p <= 1 or _is_latency(spec):
                continue
            half = wilson_half_width(p, rows)
            if half <= resolution:
                continue
            need = needed_rows(p, resolution)
            message = (f"{judged}: at the threshold a 95% interval spans ±{half:.2f}, wider "
                       f"than the ±{resolution:g} the review asks for")
            if partial:
                message += f"; {partial}"
            yield Hit(here, message,
                      f"evaluate at least {need} rows that the criterion scores (`sample: "
                      f"{need}` or more, or a larger dataset)"
                      + ("; for a metric that leaves rows out, count the rows it scored in "
                         "the eval run's report" if partial else ""))


def _reading(spec: Any) -> tuple[str, str]:
    """The metric's aggregate, and why it may score fewer rows than the eval runs on."""
    from compound.errors import UserError
    from compound.metrics.registry import get_metric

    if spec.function:
        return spec.aggregate or "mean", ""
    try:
        metric = get_metric(spec.registered_name)
    except UserError:
        return spec.aggregate or "mean", ""
    partial = ""
    if "contexts" in metric.requested():
        partial = (f"{spec.registered_name} scores only the rows that have passages (the "
                   "requests answered from retrieval), so it may judge fewer rows than that; "
                   "only a run can count them")
    return spec.aggregate or metric.aggregate, partial


def _is_latency(spec: Any) -> bool:
    return "latency" in spec.name or "latency" in spec.registered_name


RULES = (
    Rule("no-criteria", "error",
         "evaluation before scaling: a system is served against success criteria it is "
         "measured on, or nobody can say it works", _no_criteria),
    Rule("criterion-without-eval", "error",
         "a criterion no eval measures is a wish, not a gate: `compound up` reports it "
         "unmeasured and stops", _criterion_without_eval),
    Rule("thin-eval", "warning",
         "an eval on too few rows cannot tell a pass from a fail: what it measures moves more "
         "from one sample of rows to the next than the difference that matters", _thin_eval),
)
