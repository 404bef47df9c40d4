"""Signals become data: user corrections and review resolutions, as labelled rows for the
trained models whose predictions they correct.

Two sources, read in the order they were stored:

* ``correction`` signals (stream ``feedback``): a user says what a step should have
  predicted (``{"run_id": ..., "kind": "correction", "step": "classify", "value": "..."}``);
* review resolutions (stream ``review:resolutions``): a reviewer approved the proposed label
  or corrected it. Rejections carry no label and are left out.

Each is traced back to its run: the run record holds the workflow's input and the
checkpoints hold each step's output, so the model's features are rebuilt exactly as the step
received them (its ``inputs`` wiring, e.g. ``text: input.question``). A resolution without a
run counts when its ``source`` names the model and its input holds the model's features.

Rules, so that a row says one thing:

* the latest signal of a run wins (a user who changes their mind);
* rows with the same features are one row; when they disagree, reviewers outrank users, then
  the majority label wins; a tie is a *conflict* and the row is left out;
* a label the model does not know (a typo, a class it never saw) is left out, with the reason.

Everything left out is counted by reason in :attr:`CollectedLabels.skipped`.

Example:
    >>> from compound.store import MemoryStore
    >>> from compound.system import System
    >>> system = System.from_yaml('''
    ... name: desk
    ... loop: hybrid
    ... task: Route requests.
    ... models:
    ...   intent: {kind: predictor, task: text_classification, dataset: train.jsonl,
    ...            target: label, features: [text]}
    ... workflows:
    ...   answer:
    ...     input: {question: str}
    ...     steps:
    ...       - {name: classify, uses: intent, inputs: {text: input.question}}
    ... ''')
    >>> store = MemoryStore()
    >>> store.put("runs", "r1", {"workflow": "answer", "input": {"question": "card late?"}})
    >>> _ = store.append("feedback", {"run_id": "r1", "kind": "correction",
    ...                               "value": "card_arrival"})
    >>> collect_labels(system, store).models["intent"].rows
    [{'text': 'card late?', 'label': 'card_arrival'}]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from compound.intelligence.spec import PredictorSpec
    from compound.store import Store
    from compound.system import System
    from compound.workflow.spec import StepSpec, WorkflowSpec

Origin = Literal["user", "review"]
FEEDBACK, RESOLUTIONS = "feedback", "review:resolutions"


@dataclass(frozen=True)
class Correction:
    """One signal, traced back to the model it labels.

    Attributes:
        model: the predictor under ``models``.
        features: the model's input, as the step received it.
        label: the right output (a class, or a number for regression).
        origin: ``user`` (a correction signal) or ``review`` (a reviewer's resolution).
        ref: where it came from: ``feedback#12``, ``review:support_desk#8``.
        key: what later signals of the same origin replace (the run, else the ref).
    """

    model: str
    features: dict[str, Any]
    label: Any
    origin: Origin
    ref: str
    key: str


@dataclass(frozen=True)
class ModelLabels:
    """The labelled rows for one model, after the dedupe and conflict rules.

    Attributes:
        model: the predictor.
        rows: the features and the target, one row per distinct input, in first-seen order.
        refs: the signals behind each row (same order as ``rows``).
        origins: how many rows a reviewer or a user labelled.
        conflicts: distinct inputs left out because their labels tied.
        signals: signals that went into the rows (before dedupe).
    """

    model: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    refs: list[list[str]] = field(default_factory=list)
    origins: dict[str, int] = field(default_factory=dict)
    conflicts: int = 0
    signals: int = 0


@dataclass(frozen=True)
class CollectedLabels:
    """Labelled rows per model, and what was left out, by reason."""

    models: dict[str, ModelLabels]
    skipped: dict[str, int]

    @property
    def total(self) -> int:
        return sum(len(m.rows) for m in self.models.values())


class _Skip(Exception):
    """A signal that gives no row; the message is the reason (counted, not raised)."""


def collect_labels(
    system: System,
    store: Store,
    *,
    models: Sequence[str] | None = None,
    classes: Mapping[str, Collection[Any]] | None = None,
) -> CollectedLabels:
    """Labelled rows per predictor from the store's corrections and review resolutions.

    Args:
        system: the spec (its workflows say which step used which model, and how).
        store: where runs, checkpoints, feedback and review resolutions are.
        models: only these predictors (all by default).
        classes: the labels each classifier knows; a label outside them is left out.
    """
    predictors = system.predictors()
    wanted = set(models) if models is not None else set(predictors)
    skipped: Counter[str] = Counter()
    found: list[Correction] = []
    events = [(r.seq, "user", r.data) for r in store.read(FEEDBACK)
              if isinstance(r.data, Mapping) and r.data.get("kind") == "correction"]
    events += [(r.seq, "review", r.data) for r in store.read(RESOLUTIONS)
               if isinstance(r.data, Mapping)]
    for seq, origin, data in sorted(events, key=lambda e: e[0]):
        try:
            if origin == "user":
                correction = _from_signal(system, store, seq, data)
            else:
                correction = _from_resolution(system, store, data)
            if correction.model not in wanted:
                continue
            _check_label(correction, predictors[correction.model],
                         None if classes is None else classes.get(correction.model))
        except _Skip as why:
            skipped[str(why)] += 1
            continue
        found.append(correction)
    return CollectedLabels(models=_merge(found, predictors, wanted), skipped=dict(skipped))


def _merge(found: list[Correction], predictors: Mapping[str, PredictorSpec],
           wanted: Collection[str]) -> dict[str, ModelLabels]:
    from compound.evaluation.datasets import canonical_json

    latest: dict[tuple[str, str, str], Correction] = {}
    for c in found:  # oldest first: a later signal of the same run and origin replaces it
        latest.pop((c.model, c.origin, c.key), None)
        latest[(c.model, c.origin, c.key)] = c
    by_input: dict[tuple[str, str], list[Correction]] = {}
    for c in latest.values():
        by_input.setdefault((c.model, canonical_json(c.features)), []).append(c)
    result = {name: ModelLabels(name) for name in sorted(wanted) if name in predictors}
    conflicts: Counter[str] = Counter()
    signals: Counter[str] = Counter()
    for (model, _), group in by_input.items():
        labels = result[model]
        signals[model] += len(group)
        voters = [c for c in group if c.origin == "review"] or group  # reviewers outrank users
        votes = Counter(canonical_json(c.label) for c in voters).most_common()
        if len(votes) > 1 and votes[0][1] == votes[1][1]:
            conflicts[model] += 1
            continue
        winner = next(c for c in voters if canonical_json(c.label) == votes[0][0])
        labels.rows.append({**winner.features, predictors[model].target: winner.label})
        labels.refs.append([c.ref for c in group])
        labels.origins[winner.origin] = labels.origins.get(winner.origin, 0) + 1
    return {name: ModelLabels(name, labels.rows, labels.refs, labels.origins,
                              conflicts[name], signals[name])
            for name, labels in result.items()}


def _from_signal(system: System, store: Store, seq: int, data: Mapping[str, Any]
                 ) -> Correction:
    run_id = str(data.get("run_id", ""))
    step, run = _step_of_run(system, store, run_id, data.get("step"), proposed=None)
    model = step.uses
    return Correction(model, _features(store, run_id, run, step, system.predictors()[model]),
                      _value(data, system.predictors()[model]), "user", f"feedback#{seq}",
                      f"run:{run_id}")


def _from_resolution(system: System, store: Store, data: Mapping[str, Any]) -> Correction:
    ref = f"review:{data.get('queue')}#{data.get('item')}"
    if data.get("action") not in ("approve", "correct") or data.get("label") is None:
        raise _Skip("review rejected (no label)")
    run_id = data.get("run_id")
    predictors = system.predictors()
    if run_id and store.get("runs", str(run_id)) is not None:
        step, run = _step_of_run(system, store, str(run_id), None, proposed=data.get("proposed"))
        spec = predictors[step.uses]
        return Correction(step.uses, _features(store, str(run_id), run, step, spec),
                          data["label"], "review", ref, f"run:{run_id}")
    source = str(data.get("source") or "")
    if source not in predictors:
        raise _Skip("run not in the store" if run_id else
                    "review item without a run, from a source that is not a trained model")
    spec = predictors[source]
    given = data.get("input")
    if not isinstance(given, Mapping) or any(f not in given for f in spec.features):
        raise _Skip(f"review input lacks the features of model '{source}'")
    return Correction(source, {f: given[f] for f in spec.features}, data["label"], "review",
                      ref, ref)


def _step_of_run(system: System, store: Store, run_id: str, step_name: Any, *,
                 proposed: Any) -> tuple[StepSpec, dict[str, Any]]:
    """The trained-model step a signal about ``run_id`` corrects, and the run's record."""
    run = store.get("runs", run_id)
    if run is None:
        raise _Skip("run not in the store")
    workflow: WorkflowSpec | None = system.workflows.get(str(run.get("workflow")))
    if workflow is None:
        raise _Skip("run of a workflow the spec does not declare")
    predictors = system.predictors()
    steps = {s.name: s for s in workflow.steps}
    if step_name is not None:
        step = steps.get(str(step_name))
        if step is None:
            raise _Skip("names a step the workflow does not have")
        if step.uses not in predictors:
            raise _Skip("names a step that is not a trained model (LLM answers: use an edit "
                        "signal and 'compound export')")
        return step, run
    candidates = [s for s in workflow.steps if s.uses in predictors]
    if len(candidates) > 1 and proposed is not None:  # the step whose prediction was proposed
        candidates = [s for s in candidates
                      if _output_label(store, run_id, s.name) == proposed] or candidates
    if not candidates:
        raise _Skip("run of a workflow without a trained-model step")
    if len(candidates) > 1:
        raise _Skip("workflow has several trained-model steps and the signal names none")
    return candidates[0], run


def _output_label(store: Store, run_id: str, step: str) -> Any:
    saved = store.get("checkpoints", f"{run_id}/{step}") or {}
    output = saved.get("output")
    return output.get("label") if isinstance(output, Mapping) else None


def _features(store: Store, run_id: str, run: Mapping[str, Any], step: StepSpec,
              spec: PredictorSpec) -> dict[str, Any]:
    """The model's input, rebuilt from the run's input and checkpoints through the step's
    ``inputs`` wiring (an unwired feature is read from the input field of the same name)."""
    features: dict[str, Any] = {}
    for feature in spec.features:
        source = step.inputs.get(feature, f"input.{feature}")
        head, *path = source.split(".")
        if head == "input":
            value: Any = run.get("input")
        else:
            value = (store.get("checkpoints", f"{run_id}/{head}") or {}).get("output")
        for part in path:
            if not isinstance(value, Mapping) or part not in value:
                raise _Skip(f"feature '{feature}' ({source}) not recorded for the run")
            value = value[part]
        if value is None:
            raise _Skip(f"feature '{feature}' ({source}) not recorded for the run")
        features[feature] = value
    return features


def _value(data: Mapping[str, Any], spec: PredictorSpec) -> Any:
    own = "value" if spec.task in ("regression", "ranking") else "label"
    if spec.task == "ranking":
        raise _Skip("corrections of ranking models are not used (a grade needs its query)")
    if data.get("field") not in (None, own):
        raise _Skip(f"corrects a field other than the model's '{own}'")
    return data.get("value")


def _check_label(correction: Correction, spec: PredictorSpec,
                 known: Collection[Any] | None) -> None:
    label = correction.label
    if spec.task == "regression":
        if isinstance(label, bool) or not isinstance(label, int | float):
            raise _Skip("regression correction that is not a number")
        return
    if known is not None and label not in known:
        raise _Skip(f"label is not a class of model '{correction.model}'")
