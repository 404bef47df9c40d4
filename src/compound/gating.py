"""The gate: one check per criterion, tolerance or rule, and whether together they let a change
through.

Every gate of compound is this one: ``compound eval`` and the scorecard of ``compound up``
(:mod:`compound.evaluation.gates` reads an eval run), the promotion of a model version
(:mod:`compound.intelligence.promotion` reads its test metrics) and ``compound improve`` (which
adds its own checks to the promotion's). Each check is a :class:`GateCheck`; :func:`failures`
and :func:`passed` decide on a list of them.

It lives at the bottom of the package, beside nothing it needs: the ML layer
(``compound.intelligence``) sits below ``compound.evaluation``, so a gate inside
``evaluation`` would make the model registry import upward. This module imports no other part
of compound at run time; the callers say each metric's direction, which the metric's own
definition gives (:func:`compound.metrics.registry.lower_is_better`).

A check's ``kind`` says what it measures: a ``latency`` check depends on how busy the machine
is, so ``compound up`` only warns when one fails (``latency_warns``), unless ``--strict``;
``compound eval``, the gate CI runs, fails on it like on any other.

Example:
    >>> check = criterion_check("f1", metric="token_f1", value=0.5, threshold=0.6,
    ...                         direction="higher", baseline=None, tolerance=0.0)
    >>> check.status, check.message, passed([check])
    ('fail', 'token_f1 = 0.5, needs >= 0.6', False)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel

Status = Literal["pass", "fail", "regressed", "unmeasured"]
Direction = Literal["higher", "lower"]
Kind = Literal["quality", "latency"]
FAILING: tuple[Status, ...] = ("fail", "regressed")
_EPSILON = 1e-12


class GateCheck(BaseModel):
    """One line of the gate: a criterion, a tolerance, a suite or a rule, and whether it held.

    Attributes:
        name: the criterion's key, or what the check is (``error_rate``, ``suite:injection``).
        metric: the metric it reads.
        value: the measured value (None when unmeasured).
        status: ``pass``, ``fail`` (threshold or rule not met), ``regressed`` (worse than the
            baseline beyond the tolerance) or ``unmeasured``.
        threshold: the value to meet, if any; ``direction`` says which side.
        baseline: the value it was compared with (the baseline run, production's version).
        tolerance: how far behind the baseline it may fall.
        message: what was measured against what, and what went wrong.
        kind: ``latency`` when the value depends on how busy the machine is.
    """

    name: str
    metric: str
    value: float | None
    status: Status
    threshold: float | None = None
    direction: Direction = "higher"
    baseline: float | None = None
    tolerance: float | None = None
    message: str = ""
    kind: Kind = "quality"

    @property
    def failed(self) -> bool:
        """The check failed or regressed."""
        return self.status in FAILING


def meets(value: float, threshold: float, direction: Direction) -> bool:
    """Whether ``value`` is on the right side of ``threshold``."""
    return value >= threshold if direction == "higher" else value <= threshold


def gain(value: float, baseline: float, direction: Direction) -> float:
    """How much better ``value`` is than ``baseline`` (negative: worse)."""
    return value - baseline if direction == "higher" else baseline - value


def criterion_check(
    name: str,
    *,
    metric: str,
    value: float,
    threshold: float,
    direction: Direction,
    baseline: float | None,
    tolerance: float,
    kind: Kind = "quality",
) -> GateCheck:
    """A measured criterion: ``fail`` under the threshold, ``regressed`` when worse than the
    baseline by more than ``tolerance`` (``fail`` wins when both hold, saying both)."""
    op = ">=" if direction == "higher" else "<="
    problems: list[str] = []
    status: Status = "pass"
    if not meets(value, threshold, direction):
        problems.append(f"{metric} = {value:.4g}, needs {op} {threshold:g}")
        status = "fail"
    if baseline is not None and gain(value, baseline, direction) < -tolerance - _EPSILON:
        problems.append(f"{metric} regressed {baseline:.4g} -> {value:.4g}, beyond the "
                        f"tolerance of {tolerance:g}")
        status = "fail" if status == "fail" else "regressed"
    message = "; ".join(problems) or (
        f"{metric} = {value:.4g}, meets {op} {threshold:g}"
        + (f" (baseline {baseline:.4g})" if baseline is not None else ""))
    return GateCheck(name=name, metric=metric, value=value, status=status, threshold=threshold,
                     direction=direction, baseline=baseline, tolerance=tolerance,
                     message=message, kind=kind)


def baseline_check(
    name: str,
    *,
    metric: str,
    value: float,
    baseline: float | None,
    direction: Direction,
    tolerance: float = 0.0,
    min_gain: float = 0.0,
    kind: Kind = "quality",
) -> GateCheck:
    """A metric held against its baseline alone, with no threshold: ``regressed`` when it is
    worse by more than ``tolerance``, or gains less than ``min_gain`` over it; ``pass`` when
    there is no baseline to compare with."""
    common = {"name": name, "metric": metric, "value": value, "baseline": baseline,
              "direction": direction, "tolerance": tolerance, "kind": kind}
    if baseline is None:
        return GateCheck(status="pass", message=f"{metric} = {value:.4g}; no baseline to "
                         "compare with", **common)  # type: ignore[arg-type]
    change = gain(value, baseline, direction)
    ok = change >= min_gain - tolerance - _EPSILON
    if min_gain:
        message = (f"{metric} {baseline:.4g} -> {value:.4g}: {change:+.4f}, "
                   + ("at least" if ok else "less than") + f" the {min_gain:g} required")
    elif ok:
        message = f"{metric} = {value:.4g}, baseline {baseline:.4g}"
    else:
        message = (f"{metric} regressed {baseline:.4g} -> {value:.4g}, beyond the tolerance "
                   f"of {tolerance:g}")
    return GateCheck(status="pass" if ok else "regressed", message=message,
                     **common)  # type: ignore[arg-type]


def unmeasured_check(name: str, *, metric: str, why: str, threshold: float | None = None,
                     direction: Direction = "higher", value: float | None = None,
                     required: bool = False, kind: Kind = "quality") -> GateCheck:
    """A criterion that could not be judged: ``unmeasured``, or ``fail`` when ``required``."""
    return GateCheck(name=name, metric=metric, value=value,
                     status="fail" if required else "unmeasured", threshold=threshold,
                     direction=direction, message=why, kind=kind)


def rule_check(name: str, *, metric: str, value: float, threshold: float, direction: Direction,
               problem: str) -> GateCheck:
    """A rule such as an error rate or a pass rate: ``fail`` saying ``problem`` when ``value``
    is on the wrong side of ``threshold``."""
    ok = meets(value, threshold, direction)
    return GateCheck(name=name, metric=metric, value=value, status="pass" if ok else "fail",
                     threshold=threshold, direction=direction, message="" if ok else problem)


def failures(checks: Iterable[GateCheck], *, strict: bool = False,
             latency_warns: bool = False) -> list[GateCheck]:
    """The checks that make the gate fail: failed or regressed ones, and with ``strict`` the
    unmeasured ones too. With ``latency_warns`` a failed latency check is left out: it only
    warns (:func:`warnings`)."""
    failing = (*FAILING, "unmeasured") if strict else FAILING
    return [c for c in checks if c.status in failing
            and not (latency_warns and c.kind == "latency" and c.failed)]


def warnings(checks: Iterable[GateCheck]) -> list[GateCheck]:
    """The failed latency checks, which only warn where ``latency_warns`` is given."""
    return [c for c in checks if c.kind == "latency" and c.failed]


def passed(checks: Iterable[GateCheck], *, strict: bool = False,
           latency_warns: bool = False) -> bool:
    """No check makes the gate fail (see :func:`failures`)."""
    return not failures(checks, strict=strict, latency_warns=latency_warns)
