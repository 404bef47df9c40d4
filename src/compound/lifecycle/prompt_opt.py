"""The flywheel for LLM steps: candidate prompts from the answers people stood behind, chosen
on dev rows, promoted only through the gate on held-out rows.

For one prompt (``support.answer``: step ``answer`` of workflow ``support``):

1. **The pool**: few-shot examples from signals, edited and accepted answers and review
   resolutions (:mod:`compound.lifecycle.prompt_signals`), PII redacted; or a pool given.
2. **The rows**: the eval that judges the prompt (the one whose target is its workflow, as
   ``compound prompts promote`` reads it) is cut in two, seeded: *dev* rows choose among the
   candidates, *gate* rows (held out: no choice read them) decide the promotion. The pool
   never scores anything, so feedback cannot grade its own examples.
3. **The candidates**: few-shot sets of 1 to 3 examples drawn from the pool, and instruction
   variants from a fixed list, alone and with a few-shot set
   (:mod:`compound.lifecycle.prompt_candidates`). No instruction is written by a model; no
   text from the pool is run as anything but text.
4. **The budget**: before the first model call the plan is stated in model calls (production
   and each candidate on the dev rows, then production and the best candidate on the gate
   rows; :class:`~compound.lifecycle.prompt_candidates.CallPlan`); fewer candidates are
   tried when the budget has room for fewer, and every call is counted
   (:class:`~compound.lifecycle.call_budget.CountedLLM`): the budget is never exceeded.
   Answers the eval's cache holds cost nothing.
5. **The gate**: the best candidate on the dev rows, if it beats production there, is
   registered as a candidate version (``source: improve``) and held against production on the
   gate rows by the registry's promotion gate (the spec's criteria, the eval's error rate),
   plus `improve`'s own rule: a real gain on the task's metric (more than ``min_gain``; a
   tie is not a gain). Only then is it production; otherwise production is untouched and the
   registry's audit log says why (``"by": "improve"``).

Poisoned feedback (edits that are wrong answers) gives candidates that do worse on the
eval's rows, so it promotes nothing: the eval's rows are the judge, not the feedback.

Example:
    >>> outcome = PromptOutcome("support.answer", "unchanged", "no signals for support.answer")
    >>> outcome.status, outcome.gain
    ('unchanged', None)
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from compound.errors import UserError
from compound.lifecycle.prompt_candidates import (
    CallPlan,
    Candidate,
    as_examples,
    candidates,
    fit_plan,
    split_rows,
)

if TYPE_CHECKING:
    from rich.console import Console

    from compound.evaluation.plan import EvalPlan
    from compound.evaluation.results import RunSummary
    from compound.gating import GateCheck
    from compound.lifecycle.call_budget import CallBudget
    from compound.orchestration.prompts import PromptExample, PromptVersion
    from compound.store import Store
    from compound.system import System

Status = Literal["promoted", "refused", "unchanged"]

_SKIP_METRICS = ("latency", "cost", "tokens", "error")


@dataclass(frozen=True)
class Tried:
    """One version's score on the dev rows."""

    label: str
    value: float | None
    errors: int = 0


@dataclass(frozen=True)
class PromptOutcome:
    """What `improve` did for one LLM step's prompt.

    Attributes:
        name: the prompt (``workflow.step``).
        status: ``promoted``, ``refused`` (the gate said no) or ``unchanged`` (nothing to
            do, or no candidate beat production on the dev rows).
        message: one line saying why.
        examples: examples in the pool; origins: by where they came from.
        skipped: signals that gave no example, by reason.
        metric: the task's metric the candidates were chosen by.
        plan: the stated budget of model calls (None when nothing was planned).
        calls: model calls made.
        tried: each version's score on the dev rows, production first.
        before: production's metrics on the gate rows; after: the candidate's.
        production: production's version (None: the spec's text); candidate: the new one.
        checks: the gate's checks.
        split: the ids of the eval's rows that chose (``dev``) and decided (``gate``).
        seconds: how long it took.
    """

    name: str
    status: Status
    message: str
    examples: int = 0
    origins: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    metric: str = ""
    plan: CallPlan | None = None
    calls: int = 0
    tried: list[Tried] = field(default_factory=list)
    before: dict[str, float] = field(default_factory=dict)
    after: dict[str, float] = field(default_factory=dict)
    production: int | None = None
    candidate: int | None = None
    checks: list[GateCheck] = field(default_factory=list)
    split: dict[str, list[str]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def gain(self) -> float | None:
        """The candidate's metric minus production's on the gate rows (None without both)."""
        if self.metric in self.before and self.metric in self.after:
            return self.after[self.metric] - self.before[self.metric]
        return None


def optimise_prompt(
    system: System,
    store: Store,
    name: str,
    *,
    pool: Sequence[PromptExample | Mapping[str, Any]] | None = None,
    eval_name: str | None = None,
    budget: int = 200,
    wanted: int = 6,
    limit: int | None = None,
    dev_share: float = 0.5,
    min_gain: float = 0.0,
    seed: int = 0,
    calls: CallBudget | None = None,
    console: Console | None = None,
    progress: bool = False,
) -> PromptOutcome:
    """Propose candidate prompts for ``name``, choose one on dev rows and promote it only when
    it beats production on the held-out gate rows (see the module docstring).

    Args:
        system: the spec.
        store: the system's store (signals, the prompt registry, eval runs, the cache).
        name: the prompt, ``workflow.step``.
        pool: the examples to draw few-shot sets from (default: the store's signals).
        eval_name: the eval that judges the prompt (default: the one running its workflow).
        budget: the most model calls (a hard limit).
        wanted: the most candidates to try.
        limit: use only the first ``limit`` rows of the eval (after its ``sample``).
        dev_share: the share of the rows that choose; the rest decide.
        min_gain: how much the candidate must beat production by on the gate rows.
        seed: for the split and the draws.
        calls: the budget to take calls from (shared by several prompts); a new one of
            ``budget`` calls when None.
        console: where the plan and each candidate's score are printed.
        progress: show the eval runner's progress bar.

    Raises:
        UserError: an unknown prompt or eval, an empty or malformed pool, too few rows, or a
            budget with no room for one candidate (before any model call).
    """
    from compound.evaluation.plan import plan_eval
    from compound.evaluation.prompt_promotion import prompt_eval, spec_prompt
    from compound.lifecycle.call_budget import CallBudget
    from compound.lifecycle.export import Redactor
    from compound.lifecycle.prompt_signals import signal_examples
    from compound.orchestration.prompts import EVENTS, PromptRegistry, seed_from_spec

    started = time.perf_counter()
    prompt = spec_prompt(system, name)
    chosen_eval = prompt_eval(system, name, eval_name)
    if budget < 1:
        raise UserError(f"--budget is a number of model calls, at least 1; received {budget}")
    origins: dict[str, int] = {}
    skipped: dict[str, int] = {}
    if pool is None:
        found = signal_examples(store, name, redactor=Redactor.for_system(system))
        examples, origins, skipped = found.examples, found.origins, found.skipped
    else:
        examples = as_examples(pool)
        origins = {"given": len(examples)}
    if not examples:
        reasons = "; ".join(f"{n} {why}" for why, n in skipped.items()) or "no edited or " \
            "accepted answers and no review resolutions of its runs"
        raise UserError(f"prompt '{name}' has no examples to learn from ({reasons}); record "
                        "edits, ratings or review resolutions of its runs first")
    seed_from_spec(system, store)
    registry = PromptRegistry(store)
    production = registry.production(name)
    plan = plan_eval(system, chosen_eval, store=store, limit=limit)
    dev, gate = split_rows(plan.examples, dev_share=dev_share, seed=seed,
                           what=f"eval '{chosen_eval}'")
    metric = primary_metric(system, plan)
    tries = candidates(examples, production_instructions=production.instructions
                       if production else "", wanted=wanted, seed=seed)
    if not tries:
        raise UserError(f"prompt '{name}': no candidate could be made from {len(examples)} "
                        "example(s) (each too long for the context?)")
    per_row = _calls_per_row(system, prompt.workflow, plan)
    stated = fit_plan(wanted=len(tries), dev_rows=len(dev), gate_rows=len(gate),
                      per_row=per_row, budget=budget if calls is None else calls.left)
    tries = tries[:stated.candidates]
    counter = calls if calls is not None else CallBudget(budget)
    used_before = counter.used
    say = console.print if console is not None else (lambda *a, **k: None)
    say(f"{name}: {len(examples)} examples ({_origins(origins)}); {stated.text()}")
    base: dict[str, Any] = {"name": name, "examples": len(examples), "origins": origins,
                            "skipped": skipped, "metric": metric, "plan": stated,
                            "production": production.version if production else None,
                            "split": {"dev": [e.id for e in dev], "gate": [e.id for e in gate]}}
    evaluate = _Evaluator(system, store, plan, prompt.workflow, counter, progress=progress)

    def done(status: Status, message: str, **more: Any) -> PromptOutcome:
        spent = counter.used - used_before
        if status == "unchanged":  # promote and refusal write their own audit event
            store.append(EVENTS, {"event": "unchanged", "prompt": name, "by": "improve",
                                  "message": message, "calls": spent})
        return PromptOutcome(status=status, message=message, calls=spent,
                             seconds=time.perf_counter() - started, **{**base, **more})

    baseline = evaluate(None, dev, "dev")
    tried = [Tried("production", _value(baseline, metric), baseline.counts.get("error", 0))]
    say(f"  production: {metric} {_shown(tried[0].value)} on the dev rows")
    versions = []
    for number, candidate in enumerate(tries, 1):
        version = _unregistered(name, production, prompt, candidate)
        run = evaluate(version, dev, "dev")
        tried.append(Tried(candidate.label, _value(run, metric), run.counts.get("error", 0)))
        versions.append(version)
        say(f"  candidate {number}/{len(tries)} ({candidate.label}): {metric} "
            f"{_shown(tried[-1].value)}")
        if evaluate.spent:
            return done("unchanged", f"the budget of {stated.budget} model calls ran out on "
                        "the dev rows; production is unchanged", tried=tried)
    higher = _higher_is_better(baseline, metric)
    best = _best(tried[1:], higher)
    if best is None or tried[0].value is None or not _beats(
            tried[1 + best].value, tried[0].value, higher):
        return done("unchanged", f"no candidate beat production's {metric} "
                    f"({_shown(tried[0].value)}) on the {len(dev)} dev rows; production is "
                    "unchanged", tried=tried)
    winner = tries[best]
    record = registry.register(
        name, instructions=winner.instructions, examples=list(winner.examples),
        source="improve", note=f"improve: {winner.label}; {metric} on {len(dev)} dev rows "
        f"{_shown(tried[1 + best].value)}, production {_shown(tried[0].value)}")
    gate_before = evaluate(None, gate, "gate")
    gate_after = evaluate(record, gate, "gate")
    if evaluate.spent:
        return done("unchanged", f"the budget of {stated.budget} model calls ran out on the "
                    f"gate rows; {record.ref} stays a candidate", tried=tried,
                    candidate=record.version)
    from compound.evaluation.gates import error_rate_check
    from compound.evaluation.prompt_promotion import directed_criteria, metric_values

    before, after = metric_values(gate_before), metric_values(gate_after)
    extra = [gain_check(metric, after.get(metric), before.get(metric), higher=higher,
                        min_gain=min_gain)]
    errors = error_rate_check(gate_after, system.evals[chosen_eval].max_error_rate)
    if errors is not None:
        extra.append(errors)
    decision = registry.promote(
        name, record.version, metrics=after, baseline=before,
        criteria=directed_criteria(system.criteria, gate_after), extra_checks=extra,
        by="improve", evaluated={"eval": chosen_eval, "rows": len(gate), "split": "gate",
                                 "run": gate_after.id, "baseline_run": gate_before.id})
    return done("promoted" if decision.promoted else "refused", decision.message, tried=tried,
                before=before, after=after, candidate=record.version, checks=decision.checks)


def gain_check(metric: str, value: float | None, baseline: float | None, *, higher: bool,
               min_gain: float = 0.0) -> GateCheck:
    """`improve`'s rule for a prompt: a real gain over production on the gate rows, more
    than ``min_gain`` (a tie is no gain: the candidate was made to do better).

    Example:
        >>> gain_check("token_f1", 0.5, 0.5, higher=True).status
        'fail'
        >>> gain_check("token_f1", 0.6, 0.5, higher=True).status
        'pass'
    """
    from compound.gating import GateCheck

    name = f"{metric} (improve)"
    if value is None or baseline is None:
        return GateCheck(name=name, metric=metric, value=value, status="unmeasured",
                         baseline=baseline, message=f"{metric} was not measured on the gate "
                         "rows for both versions")
    change = value - baseline if higher else baseline - value
    ok = change > min_gain
    return GateCheck(name=name, metric=metric, value=value, baseline=baseline,
                     status="pass" if ok else "fail",
                     message=f"{metric} {baseline:.4g} -> {value:.4g} on the gate rows: "
                             f"{change:+.4f}, " + ("more than" if ok else "not more than")
                             + f" the {min_gain:g} required")


def primary_metric(system: System, plan: EvalPlan) -> str:
    """The metric candidates are chosen by: the first of the eval's metrics that a criterion
    reads and that measures answers (not latency or cost), else its first such metric.

    Raises:
        UserError: the eval measures nothing about answers.
    """
    names = [m.name for m in plan.metrics
             if not any(word in m.name or word in m.metric.name for word in _SKIP_METRICS)]
    read = {c.metric or key for key, c in system.criteria.items()}
    for metric in names:
        if metric in read:
            return metric
    if names:
        return names[0]
    raise UserError(f"eval '{plan.name}' measures no quality of the answers (only "
                    f"{', '.join(m.name for m in plan.metrics) or 'nothing'}); add a metric "
                    "such as token_f1 or exact_match to choose prompts by")


class _Evaluator:
    """Runs the eval on some rows with a version pinned, every model call counted."""

    def __init__(self, system: System, store: Store, plan: EvalPlan, workflow: str,
                 budget: CallBudget, *, progress: bool) -> None:
        from compound.evaluation.cache import OutputCache
        from compound.intelligence.llm import build_llm
        from compound.lifecycle.call_budget import CountedLLM
        from compound.strategy.cache.llm import CachedLLM

        self.system, self.store, self.plan, self.workflow = system, store, plan, workflow
        self.budget = budget
        self.progress = progress
        spec = system.evals[plan.name]
        cache = OutputCache(store) if spec.target.cache else None
        self.llms: dict[str, Any] = {}
        for model, model_spec in system.llms().items():
            counted = CountedLLM(build_llm(model_spec), budget)
            self.llms[model] = counted if cache is None else CachedLLM(counted, cache)
        self.judge = plan.judge
        if plan.judge is not None:  # the judge's calls count too
            self.judge = CountedLLM(plan.judge, budget)
        self.spent = False

    def __call__(self, version: PromptVersion | None, rows: list[Any], split: str
                 ) -> RunSummary:
        from compound.evaluation.runner import EvalRunner
        from compound.evaluation.workflow_target import WorkflowTarget

        spec = self.system.evals[self.plan.name]
        target = WorkflowTarget.from_system(
            self.system, self.workflow, cache=None, output=spec.target.output, store=self.store,
            prompts={} if version is None else {version.name: version}, llms=self.llms)
        plan = dataclasses.replace(self.plan, name=f"{self.plan.name}.improve-{split}",
                                   target=target, examples=list(rows), suites=[],
                                   judge=self.judge)
        run = EvalRunner(self.store, progress=self.progress).run(plan, resume=False)
        if self.budget.left <= 0 and run.counts.get("error", 0):
            self.spent = True
        return run


def _calls_per_row(system: System, workflow: str, plan: EvalPlan) -> int:
    """Model calls one row takes at most: the workflow's LLM steps (an agent's each of its
    turns), and the judge."""
    llms = system.llms()
    calls = 0
    for step in system.workflows[workflow].steps:
        if step.uses in llms:
            calls += int(getattr(step.agent, "max_steps", 1) or 1) if step.agent else 1
    return max(calls, 1) + (1 if plan.judge is not None else 0)


def _unregistered(name: str, production: PromptVersion | None, prompt: Any,
                  candidate: Candidate) -> PromptVersion:
    """A candidate as a version to pin, not registered (``name@0``): only the best is."""
    from compound.orchestration.prompts import PromptVersion

    return PromptVersion(
        name=name, version=0, created=time.time(),
        template=production.template if production else prompt.template,
        system=production.system if production else prompt.system,
        instructions=candidate.instructions, examples=list(candidate.examples),
        source="improve", note=candidate.label)


def _value(run: RunSummary, metric: str) -> float | None:
    for m in run.metrics:
        if m.name == metric:
            return m.value
    return None


def _higher_is_better(run: RunSummary, metric: str) -> bool:
    for m in run.metrics:
        if m.name == metric:
            return m.higher_is_better
    return True


def _best(tried: Sequence[Tried], higher: bool) -> int | None:
    scored = [(t.value, i) for i, t in enumerate(tried) if t.value is not None]
    if not scored:
        return None
    # the first of equals: candidates come most different first
    value = (max if higher else min)(v for v, _ in scored)
    return next(i for v, i in scored if v == value)


def _beats(value: float | None, baseline: float | None, higher: bool) -> bool:
    if value is None or baseline is None:
        return False
    return value > baseline if higher else value < baseline


def _shown(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _origins(origins: Mapping[str, int]) -> str:
    return ", ".join(f"{n} {k}" for k, n in origins.items()) or "none"


def improve_prompts(
    system: System,
    store: Store,
    *,
    names: Sequence[str] | None = None,
    budget: int = 200,
    min_gain: float = 0.0,
    console: Console | None = None,
    progress: bool = False,
) -> list[PromptOutcome]:
    """`compound improve` for LLM steps: :func:`optimise_prompt` for each prompt with
    examples from signals, within one budget of model calls for all of them.

    A prompt with no signals, or that no eval judges, is ``unchanged`` (nothing to learn
    from, or nothing to decide with), not an error.

    Args:
        system: the spec.
        store: the system's store.
        names: only these prompts (``workflow.step``; all of them by default).
        budget: the most model calls, for all the prompts together.
        min_gain: how much a candidate must beat production by on the gate rows.
        console: where plans and scores are printed.
        progress: show the eval runner's progress bars.

    Raises:
        UserError: ``names`` holds something that is not an LLM step's prompt.
    """
    from compound.evaluation.prompt_promotion import spec_prompt
    from compound.lifecycle.call_budget import CallBudget
    from compound.lifecycle.export import Redactor
    from compound.lifecycle.prompt_signals import signal_examples
    from compound.orchestration.prompts import spec_prompts

    chosen = list(names) if names is not None else list(spec_prompts(system))
    for name in chosen:
        spec_prompt(system, name)
    calls = CallBudget(budget)
    outcomes = []
    for name in chosen:
        pool = signal_examples(store, name, redactor=Redactor.for_system(system))
        if not pool.examples:
            outcomes.append(PromptOutcome(name, "unchanged", f"no edited or accepted answers "
                                          f"or review resolutions for {name}",
                                          skipped=pool.skipped))
            continue
        if not any(e.target.kind == "workflow" and e.target.workflow == name.split(".")[0]
                   for e in system.evals.values()):
            outcomes.append(PromptOutcome(
                name, "unchanged", f"no eval runs workflow '{name.split('.')[0]}', so no "
                "candidate can be judged; declare one under 'evals'",
                examples=len(pool.examples), origins=pool.origins, skipped=pool.skipped))
            continue
        if calls.left <= 0:
            outcomes.append(PromptOutcome(name, "unchanged", f"the budget of {budget} model "
                                          "calls was spent on the prompts before it",
                                          examples=len(pool.examples), origins=pool.origins))
            continue
        try:
            outcome = optimise_prompt(system, store, name, calls=calls, budget=calls.left,
                                      min_gain=min_gain, console=console, progress=progress)
        except UserError as exc:  # a budget too small for this prompt: say so, go on
            outcome = PromptOutcome(name, "unchanged", str(exc), examples=len(pool.examples),
                                    origins=pool.origins, skipped=pool.skipped)
        outcomes.append(outcome)
    return outcomes


def prompts_table(outcomes: Sequence[PromptOutcome]) -> Any:
    """Production's and the candidate's metric on the gate rows, with the calls and the
    decision, one line a prompt."""
    from rich.table import Table

    from compound.console import plain

    table = Table(title="improve: LLM steps' prompts, production and the best candidate on "
                        "the gate rows", title_justify="left")
    for column in ("prompt", "examples", "metric", "dev best", "before", "after", "change",
                   "calls", "decision"):
        table.add_column(column, justify="left" if column in ("prompt", "metric", "decision")
                         else "right")
    colours = {"promoted": "green", "refused": "red", "unchanged": "yellow"}
    for o in outcomes:
        versions = f"v{o.production}" if o.production is not None else "-"
        if o.candidate is not None:
            versions += f"→v{o.candidate}"
        best = max((t.value for t in o.tried[1:] if t.value is not None), default=None)
        before, after = o.before.get(o.metric), o.after.get(o.metric)
        table.add_row(
            plain(f"{o.name} {versions}"), f"{o.examples:,}", plain(o.metric or "-"),
            _shown(best), _shown(before), _shown(after),
            "-" if o.gain is None else f"{o.gain:+.4f}",
            f"{o.calls:,}" + (f" of {o.plan.calls:,}" if o.plan else ""),
            plain(o.status, style=colours[o.status]))
    return table
