"""What `compound check` verifies about evaluation beyond the spec's own types: metric names,
their options, and whether each eval's target produces what its metrics compare.

* every metric under ``evals.*.metrics`` and ``serve.online_evals`` is registered (or names
  its ``function:``), with a did-you-mean; its options are ones the metric takes;
* every criterion's explicit ``metric:`` is a registered metric, a metric an eval measures
  under that name, or one a trained model reports (accuracy, roc_auc, rmse...);
* a metric comparing labels or numbers (accuracy, recall, exact_match, mae...) is not given a
  structured output (a record with no text, such as a predictor step's ``Prediction``): it
  would score 0 on every row. The fix names the field to score (``output: classify.label``).

:func:`refuse_structured` is the same rule at run time, for outputs no check saw.

Example:
    >>> structured_type(str), structured_type(int | None)
    (None, None)
    >>> from compound.intelligence.ml.types import Prediction
    >>> structured_type(Prediction), structured_type(list[str])
    ('Prediction', 'list[str]')
"""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator, Mapping
from types import NoneType
from typing import TYPE_CHECKING, Any

from compound.errors import UserError
from compound.evaluation.spec import MetricSpec
from compound.specfile import did_you_mean

if TYPE_CHECKING:
    from compound.evaluation.plan import EvalPlan
    from compound.evaluation.targets import TargetOutput
    from compound.metrics.base import Metric
    from compound.system import System

Location = tuple[str | int, ...]

#: what a trained model's test metrics are named (see compound.intelligence.ml.evaluate)
MODEL_METRICS = frozenset({
    "accuracy", "macro_f1", "log_loss", "brier", "ece", "ece_uncalibrated", "roc_auc", "pr_auc",
    "mae", "rmse", "r2",
})
_AT_K = re.compile(r"^(ndcg|mrr|map|recall|precision)@\d+$")


def metric_problems(system: System) -> Iterator[tuple[Location, str]]:
    """Unknown metric names (with a did-you-mean) and options a metric does not take."""
    from compound.evaluation.plan import resolve_metric
    from compound.metrics.registry import available_metrics

    known = available_metrics()
    measured: set[str] = set()
    for name, ev in system.evals.items():
        for index, item in enumerate(ev.metrics):
            spec = MetricSpec(name=item) if isinstance(item, str) else item
            measured.add(spec.name)
            if spec.function:
                continue  # a reference: checked with the spec's other code
            loc: Location = ("evals", name, "metrics", index)
            if not isinstance(item, str):
                loc = (*loc, "metric" if item.metric else "name")
            if spec.registered_name not in known:
                yield loc, _unknown(spec.registered_name, known, where=f"eval '{name}'")
                continue
            try:
                resolve_metric(spec)
            except UserError as exc:
                yield loc, f"eval '{name}': {exc}"
    for name, online in system.serve.online_evals.items():
        measured.add(name)
        if ":" not in online.metric and online.metric not in known:
            yield (("serve", "online_evals", name, "metric"),
                   _unknown(online.metric, known, where=f"online eval '{name}'"))
    scored = set(known) | measured | (MODEL_METRICS if system.predictors() else set())
    for key, criterion in system.criteria.items():
        metric = criterion.metric
        if metric is None or metric in scored or (system.predictors() and _AT_K.match(metric)):
            continue
        yield ("criteria", key, "metric"), (
            f"criterion '{key}' gates metric '{metric}', which is neither registered nor "
            f"measured by an eval{did_you_mean(metric, scored)}; registered metrics: "
            f"{', '.join(known)}; eval metrics: {', '.join(sorted(measured)) or 'none'}"
        )


def _unknown(name: str, known: list[str], *, where: str) -> str:
    return (f"{where}: no metric named '{name}'{did_you_mean(name, known)}; registered "
            f"metrics: {', '.join(known)}; or score with your own function: "
            "{name: ..., function: module:function}")


def target_problems(system: System, workflows: Mapping[str, Any]) -> Iterator[
        tuple[Location, str]]:
    """Each eval whose target's output type cannot be compared by one of its metrics, and
    each ``output: STEP.FIELD`` naming a field the step's output does not have.

    Args:
        system: the loaded spec.
        workflows: the built workflows by name (those that failed to build are left out).
    """
    for name, ev in system.evals.items():
        target = ev.target
        if target.kind == "workflow":
            flow = workflows.get(target.workflow or "")
            if flow is None:
                continue
            found = _workflow_output_type(flow, target.output)
            if isinstance(found, str):
                yield ("evals", name, "target", "output"), f"eval '{name}': {found}"
                continue
            output_type, fix = found, _workflow_fix(flow)
        elif target.kind == "function" and target.function:
            output_type = _return_type(system, target.function)
            fix = ("return the label itself (a string or a number) from the function, or a "
                   "mapping with it under 'text'")
        else:
            continue  # LLMs answer text; predictors and rails answer labels
        shown = structured_type(output_type)
        if shown is None:
            continue
        for index, metric_name, metric in _comparing_metrics(ev.metrics):
            loc: Location = ("evals", name, "metrics", index)
            yield loc, (
                f"eval '{name}': metric '{metric_name}' compares the answer with the "
                f"expected '{ev.dataset.expected or 'value'}' as a {metric.compares}, but the "
                f"target's output is a {shown}, a structured value, not a {metric.compares}: "
                f"it would score (close to) 0 on every row; {fix}"
            )


def structured_type(tp: Any) -> str | None:
    """How a type is named when values of it are structured (a record, a list): what a label
    or number metric cannot compare. None for text, numbers, labels, LLM outputs, and types
    that are not known (``Any``, a plain mapping, a union)."""
    from compound.type_fit import describe, fields_of, item_type

    if tp is Any or tp is None or tp is NoneType:
        return None
    args = [a for a in typing.get_args(tp) if a is not NoneType]
    if typing.get_origin(tp) in (typing.Union, _UnionType) and len(args) == 1:
        tp = args[0]
    if tp in (str, int, float, bool) or getattr(tp, "__name__", "") == "LLMOutput":
        return None
    if isinstance(tp, type) and issubclass(tp, str | int | float):
        return None
    if item_type(tp) is not None:
        return describe(tp)
    return describe(tp) if fields_of(tp) is not None else None


_UnionType = type(int | None)


def refuse_structured(plan: EvalPlan, output: TargetOutput) -> None:
    """Stop an eval whose label or number metric was given a structured output.

    Raises:
        UserError: naming the eval, the metric, the output's type and what to score instead.
    """
    comparing = [m for m in plan.metrics if m.metric.compares != "text"]
    if not comparing or output.structured is None:
        return
    first = comparing[0]
    raise UserError(
        f"eval '{plan.name}': metric '{first.name}' compares the answer with the expected "
        f"value as a {first.metric.compares}, but target '{getattr(plan.target, 'name', '')}' "
        f"returned a {output.structured} (structured, shown as {output.text[:80]!r}), which "
        "never equals one. Score one field of it: for a workflow target add "
        "'output: STEP.FIELD' to the eval's target (e.g. 'output: classify.label'); a function "
        "target should return the label itself"
    )


def _comparing_metrics(items: list[str | MetricSpec]) -> Iterator[tuple[int, str, Metric]]:
    from compound.metrics.registry import available_metrics, get_metric

    known = set(available_metrics())
    for index, item in enumerate(items):
        spec = MetricSpec(name=item) if isinstance(item, str) else item
        if spec.function or spec.registered_name not in known:
            continue
        metric = get_metric(spec.registered_name)
        if metric.compares != "text":
            yield index, spec.name, metric


def _workflow_output_type(flow: Any, output: str | None) -> Any:
    """The type an eval of ``flow`` scores, or a message when ``output`` names no field."""
    from compound.type_fit import describe, fields_of

    if output is None:
        return flow.output_type
    step, *path = output.split(".")
    if step not in flow.by_name:
        return (f"workflow '{flow.name}' has no step '{step}'{did_you_mean(step, flow.by_name)};"
                f" its steps: {', '.join(flow.by_name)}")
    tp = flow.by_name[step].output_type
    walked = step
    for part in path:
        fields = fields_of(_not_none(tp))
        if fields is None:
            return Any  # not a known record: what it holds is found out at run time
        if part not in fields and not hasattr(_not_none(tp), part):
            return (f"target output '{output}': step '{walked}' outputs a {describe(tp)}, which "
                    f"has no field '{part}'{did_you_mean(part, fields)}; its fields: "
                    f"{', '.join(fields)}")
        tp = fields.get(part, Any)
        walked = f"{walked}.{part}"
    return tp


def _not_none(tp: Any) -> Any:
    args = [a for a in typing.get_args(tp) if a is not NoneType]
    return args[0] if typing.get_origin(tp) in (typing.Union, _UnionType) and len(args) == 1 \
        else tp


def _workflow_fix(flow: Any) -> str:
    """What to write instead: ``output: STEP.FIELD`` for a step that predicts a label, or for a
    text field of the output step."""
    from compound.type_fit import fields_of

    hints = [f"{name}.label" for name, node in flow.by_name.items()
             if "label" in (fields_of(_not_none(node.output_type)) or {})]
    out = fields_of(_not_none(flow.output_type)) or {}
    hints += [f"{flow.output_step}.{f}" for f, tp in out.items() if _not_none(tp) in (str, int)]
    example = f" (e.g. 'output: {hints[0]}'" + (
        f"; or {', '.join(hints[1:4])})" if len(hints) > 1 else ")") if hints else ""
    return f"score one field of it: add 'output: STEP.FIELD' to the eval's target{example}"


def _return_type(system: System, reference: str) -> Any:
    from compound.code.guard import UnverifiedReference
    from compound.code.references import BadReference, resolve

    try:
        fn = resolve(reference, base=system.base_dir)
    except (BadReference, UnverifiedReference):  # reported (or noted) by the reference check
        return Any
    try:
        return typing.get_type_hints(fn).get("return", Any)
    except Exception:  # an annotation that does not resolve: nothing to check against
        return Any
