"""The right model for the job: a trained model where the answer is a label or a number, an
LLM where it is open-ended language.

* ``llm-as-classifier``: an LLM asked for a label from a fixed set, or a number;
* ``classifier-on-open-language``: a text classifier whose "labels" are free text;
* ``llm-on-structured-input``: an LLM reading only numbers and flags, which a tabular model
  learns from rows.

Example:
    >>> fixed_output({"type": "object", "properties": {"label": {"enum": ["a", "b"]}}})
    'a label from a fixed set (a, b)'
    >>> fixed_output({"type": "object", "properties": {"answer": {"type": "string"}}}) is None
    True
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from compound.design_review.finding import Hit, Rule
from compound.design_review.paths import gated, llm_steps, served

if TYPE_CHECKING:
    from compound.system import System

_ROUTE_FIX = ("train a predictor on labelled rows (`kind: predictor`, `task: "
              "text_classification`, or `regression` for a number) and let it answer, sending "
              "only what it is unsure of to the LLM (a `when:` on the LLM step reading the "
              "predictor's probability, or a confidence router under `strategy.routers`)")
#: a label set this large is not "fixed" enough to be worth a classifier's training data
_MAX_LABELS = 50
#: a classifier's training rows read to tell labels from free text
_ROWS_READ = 2000


def fixed_output(schema: Mapping[str, Any] | None) -> str | None:
    """What a JSON schema asks for when it is a label from a fixed set, a yes/no or a number
    (on its own or as every property of an object); None for anything open-ended."""
    if not isinstance(schema, Mapping):
        return None
    choices = schema.get("enum")
    if isinstance(choices, list) and 0 < len(choices) <= _MAX_LABELS:
        shown = ", ".join(str(c) for c in choices[:6]) + (", ..." if len(choices) > 6 else "")
        return f"a label from a fixed set ({shown})"
    if "const" in schema:
        return "a fixed value"
    kind = schema.get("type")
    if kind == "boolean":
        return "a yes/no"
    if kind in ("number", "integer"):
        return "a number"
    properties = schema.get("properties")
    if kind == "object" and isinstance(properties, Mapping) and 0 < len(properties) <= 3:
        parts = [fixed_output(p) for p in properties.values()]
        if all(parts):
            return " and ".join(dict.fromkeys(p for p in parts if p))
    return None


def _llm_as_classifier(system: System) -> Iterator[Hit]:
    for wf_name, index, step, llm in llm_steps(system, served(system)):
        wanted = fixed_output(step.options.get("json_schema"))
        if wanted is None or step.agent is not None:
            continue
        if gated(system.workflows[wf_name], step.name) is not None:
            continue  # something decides before the LLM is asked: routing, not volume
        yield Hit(("workflows", wf_name, "steps", index, "options", "json_schema"),
                  f"step '{step.name}' of served workflow '{wf_name}' asks LLM '{llm}' for "
                  f"{wanted} on every request", _ROUTE_FIX)
    llms = system.llms()
    for name, ev in system.evals.items():
        target = ev.target
        llm = target.model if target.model in llms else _llm_of_output(system, target)
        if llm is None:
            continue
        scored = _label_metrics(ev)
        wanted = fixed_output(target.json_schema) if target.model else None
        if not scored and wanted is None:
            continue
        what = (f"scored as a label or a number ({', '.join(scored)})" if scored
                else f"asked for {wanted}")
        yield Hit(("evals", name, "target"),
                  f"eval '{name}' measures LLM '{llm}' as a classifier: its answer is {what}",
                  _ROUTE_FIX)


def _llm_of_output(system: System, target: Any) -> str | None:
    """The LLM whose step ``target.output`` (``STEP.FIELD`` of a workflow) scores."""
    if target.workflow not in system.workflows or not target.output:
        return None
    step_name = target.output.split(".")[0]
    step = next((s for s in system.workflows[target.workflow].steps if s.name == step_name), None)
    return step.uses if step is not None and step.uses in system.llms() else None


def _label_metrics(ev: Any) -> list[str]:
    from compound.errors import UserError
    from compound.metrics.registry import get_metric

    found = []
    for spec in ev.metric_specs():
        if spec.function:
            continue
        try:
            compares = get_metric(spec.registered_name).compares
        except UserError:
            continue  # an unknown metric is compound check's to report
        if compares in ("label", "number"):
            found.append(spec.name)
    return found


def _classifier_on_open_language(system: System) -> Iterator[Hit]:
    from compound.design_review.rows import column_values

    for name, model in system.predictors().items():
        if model.task != "text_classification":
            continue
        labels = [str(v) for v in column_values(system, model.dataset, model.target,
                                                limit=_ROWS_READ)]
        if len(labels) < 20:
            continue
        distinct = len(set(labels))
        words = sum(len(label.split()) for label in labels) / len(labels)
        if distinct / len(labels) < 0.5 and words < 6:
            continue
        yield Hit(("models", name, "target"),
                  f"predictor '{name}' learns '{model.target}' as a class, but in the first "
                  f"{len(labels)} rows of {model.dataset} it has {distinct} distinct values of "
                  f"{words:.1f} words on average: open-ended text, which a classifier can only "
                  "repeat from its training rows",
                  "answer with an LLM (with retrieval for the facts, and an eval of its "
                  "answers); keep classifiers for a fixed set of labels, such as the intent "
                  "that decides where a request goes")


_STRUCTURED = {"int", "float", "bool", "int | None", "float | None", "bool | None"}


def _llm_on_structured_input(system: System) -> Iterator[Hit]:
    for wf_name, index, step, llm in llm_steps(system, served(system)):
        if step.agent is not None or not step.inputs:
            continue
        types = system.workflows[wf_name].input
        fields = [source.split(".", 1)[1] if source.startswith("input.") else None
                  for source in step.inputs.values()]
        if not all(f is not None and types.get(f, "").replace(" ", "") in
                   {t.replace(" ", "") for t in _STRUCTURED} for f in fields):
            continue
        yield Hit(("workflows", wf_name, "steps", index, "inputs"),
                  f"step '{step.name}' gives LLM '{llm}' only numbers and flags "
                  f"({', '.join(str(f) for f in fields)} of workflow '{wf_name}'s input)",
                  "train a tabular predictor (`task: tabular_classification` or `regression`) "
                  "on those fields to decide, and keep the LLM for putting its decision into "
                  "words, as examples/credit_risk does")


RULES = (
    Rule("llm-as-classifier", "warning",
         "a label from a fixed set, or a number, is a trained model's job: at volume it "
         "answers in milliseconds, the same way every time, and says how sure it is; an "
         "LLM is slower, costlier and less stable at it", _llm_as_classifier),
    Rule("classifier-on-open-language", "warning",
         "open-ended language needs an LLM: a classifier can only choose among the answers "
         "it was trained on", _classifier_on_open_language),
    Rule("llm-on-structured-input", "warning",
         "numbers and flags are a trained model's input: it learns from every row how they "
         "relate to the outcome, where an LLM guesses from a few in its prompt",
         _llm_on_structured_input),
)
