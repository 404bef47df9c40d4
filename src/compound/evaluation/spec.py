"""Spec entries under ``evals:``: what to run, on which dataset, scored by which metrics.

An eval names a dataset (a JSONL/CSV file, a shared public dataset, or a stored version), the
target that produces outputs (an LLM with a prompt template, a trained model, a guardrail, a
workflow or one field of its output, or a Python function), the metrics, optional behavioural
suites and a judge. The system's ``criteria`` become the gate over the metrics this eval
measures.

This module imports nothing heavy: `system.py` imports it at load time.

Example:
    >>> spec = EvalSpec.model_validate({
    ...     "dataset": {"path": "data/qa.jsonl", "expected": "answer"},
    ...     "target": {"model": "llm", "prompt": "Question: {question}"},
    ...     "metrics": ["token_f1", {"name": "em", "metric": "exact_match", "tolerance": 0.02}],
    ... })
    >>> [m.name for m in spec.metric_specs()], spec.metric_specs()[1].metric
    (['token_f1', 'em'], 'exact_match')
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from compound.specfile import SpecModel

Aggregate = Literal["mean", "median", "p50", "p90", "p95", "p99", "sum", "max", "min"]


class DatasetSpec(SpecModel):
    """Where the examples come from and which fields mean what.

    ``path`` is a file relative to the spec (``.jsonl`` or ``.csv``), ``shared:NAME/FILE`` for a
    public dataset found by :func:`compound.public_data.dataset_path`, or ``store:NAME[@VERSION]``
    for a version kept in the store (``compound datasets list``).
    """

    path: str = Field(min_length=1)
    format: Literal["auto", "jsonl", "csv"] = "auto"
    name: str | None = Field(default=None, description="name in the store; defaults to the file")
    split: str | None = Field(default=None, description="keep only rows whose split is this")
    split_field: str = "split"
    id: str | None = Field(default=None, description="field holding a stable example id")
    inputs: list[str] | dict[str, str] | None = Field(
        default=None,
        description="fields passed to the target (a list, or target name -> dataset field); "
        "default: every field but the id, split and expected ones",
    )
    expected: str | None = Field(default=None, description="field holding the reference answer")
    build: str | None = Field(
        default=None, pattern=r"^[\w.]+:[\w.]+$",
        description="for a 'store:' dataset: 'module:function' called as fn(system, store) to "
        "create it when the store does not hold it yet (e.g. a model's held-out split)",
    )


class TargetSpec(SpecModel):
    """What produces an output from an example: exactly one of ``model``, ``function``,
    ``workflow``, ``rail``.

    * ``model``: an LLM answering ``prompt``, or a trained model (``kind: predictor``) whose
      features are the example's inputs: its answer is the predicted label (the value for
      regression; ``output: probability`` for the label's probability), and each result row
      keeps the probability and the model version.
    * ``workflow``: a workflow run on each example; ``output: STEP.FIELD`` scores one field
      of one step's output (e.g. ``classify.label``), else the output step's ``text``.
    * ``rail``: a guardrail deciding about the example's ``text`` (its only input, or the one
      named ``text``); the decision is scored as a label: ``"1"`` when the rail fires
      (block, escalate or redact), ``"0"`` when it allows.
    * ``function``: your own Python ``module:function``.
    """

    model: str | None = Field(
        default=None, description="an LLM or a trained model (predictor) under 'models'"
    )
    prompt: str = Field(
        default="{input}",
        description="template with {field} placeholders for the example's inputs",
    )
    system: str | None = Field(default=None, description="a system message")
    json_schema: dict[str, Any] | None = None
    output: str | None = Field(
        default=None,
        description="the part of the output scored: with json_schema, the JSON field; for a "
        "workflow, STEP.FIELD (or STEP); for a predictor, label, probability or value",
    )
    contexts: str | None = Field(
        default=None, description="input field holding the passages the answer should rest on"
    )
    max_tokens: int | None = Field(default=None, gt=0)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    function: str | None = Field(
        default=None, pattern=r"^[\w.]+:[\w.]+$", description="'module:function' of your system"
    )
    workflow: str | None = Field(default=None, description="a workflow declared under 'workflows'")
    rail: str | None = Field(default=None, description="a rail declared under 'guardrails'")
    options: dict[str, Any] = Field(
        default_factory=dict, description="keyword arguments for a function target"
    )
    cache: bool = Field(default=True, description="reuse model outputs of identical calls")

    @model_validator(mode="after")
    def _schema_patterns(self) -> TargetSpec:
        if self.json_schema is not None:
            _check_schema("json_schema", self.json_schema)
        return self

    @model_validator(mode="after")
    def _one_kind(self) -> TargetSpec:
        chosen = [k for k in ("model", "function", "workflow", "rail") if getattr(self, k)]
        if len(chosen) > 1:
            raise ValueError(
                f"a target is one of 'model', 'function', 'workflow' or 'rail'; received "
                f"{' and '.join(chosen)}: keep one"
            )
        return self

    @property
    def kind(self) -> Literal["model", "function", "workflow", "rail"]:
        if self.function:
            return "function"
        if self.workflow:
            return "workflow"
        if self.rail:
            return "rail"
        return "model"


def _check_schema(field: str, schema: dict[str, Any]) -> None:
    """A JSON schema in the spec: valid for its draft, every pattern in RE2 syntax."""
    import jsonschema

    from compound import linear_regex

    try:
        linear_regex.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ValueError(f"{field} is not a valid JSON schema: {exc.message}") from None
    except linear_regex.PatternError as exc:
        raise ValueError(f"{field}: {exc}") from None


class MetricSpec(SpecModel):
    """One measured number: a registered metric (or your function) under a name.

    ``tolerance`` gates regressions against the baseline run even when no criterion names the
    metric; a criterion's own tolerance wins when both exist.
    """

    name: str = Field(min_length=1)
    metric: str | None = Field(default=None, description="registered metric; defaults to name")
    function: str | None = Field(
        default=None, pattern=r"^[\w.]+:[\w.]+$", description="'module:function' of your metric"
    )
    aggregate: Aggregate | None = Field(default=None, description="default: the metric's own")
    tolerance: float | None = Field(default=None, ge=0.0)
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _schema_patterns(self) -> MetricSpec:
        schema = self.options.get("schema")
        if isinstance(schema, dict):  # json_valid's: its patterns must be RE2
            _check_schema("options.schema", schema)
        return self

    @property
    def registered_name(self) -> str:
        return self.metric or self.name


class JudgeSpec(SpecModel):
    """The model that judges answers, and how far it can be trusted."""

    model: str | None = Field(default=None, description="an LLM under 'models'; default the first")
    rubric: str = Field(
        default="Is the answer correct, complete and supported? 1 = wrong, 5 = fully correct.",
    )
    scale: tuple[int, int] = (1, 5)
    human_field: str | None = Field(
        default=None, description="dataset field with a human's score on the same scale"
    )
    min_kappa: float = Field(default=0.6, ge=-1.0, le=1.0)


class SuiteSpec(SpecModel):
    """A behavioural suite: invariance to perturbations, injection resistance, edge cases."""

    kind: Literal["invariance", "injection", "edge_cases"]
    field: str | None = Field(default=None, description="input field to perturb or fill")
    perturbations: list[Literal["typos", "casing", "paraphrase", "whitespace"]] = Field(
        default_factory=lambda: ["typos", "casing", "paraphrase"]
    )
    sample: int = Field(default=20, gt=0)
    source: str = Field(
        default="shared:prompt-injections/test.jsonl",
        description="for injection: a JSONL of prompts with 'text' and 'label' (1 = injection)",
    )
    min_pass_rate: float | None = Field(default=None, ge=0.0, le=1.0)


class BootstrapSpec(SpecModel):
    """Confidence intervals by the percentile bootstrap."""

    resamples: int = Field(default=1000, ge=50)
    confidence: float = Field(default=0.95, gt=0.5, lt=1.0)


class EvalSpec(SpecModel):
    """One evaluation of a system: dataset, target, metrics, suites, judge, and how to run."""

    dataset: DatasetSpec
    target: TargetSpec = Field(default_factory=TargetSpec)
    metrics: list[str | MetricSpec] = Field(default_factory=list)
    suites: list[SuiteSpec] = Field(default_factory=list)
    judge: JudgeSpec | None = None
    sample: int | None = Field(default=None, gt=0, description="evaluate this many examples")
    concurrency: int = Field(default=4, ge=1, le=256)
    seed: int = 0
    bootstrap: BootstrapSpec = Field(default_factory=BootstrapSpec)
    max_error_rate: float | None = Field(
        default=None, ge=0.0, le=1.0, description="gate: the most rows the target may fail on"
    )
    description: str = ""

    def metric_specs(self) -> list[MetricSpec]:
        """Every metric as a :class:`MetricSpec` (a bare string is its own name)."""
        return [MetricSpec(name=m) if isinstance(m, str) else m for m in self.metrics]

    @model_validator(mode="after")
    def _unique_metric_names(self) -> EvalSpec:
        names = [m.name for m in self.metric_specs()]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(
                f"metric names must be unique within an eval; {', '.join(twice)} appear twice "
                "(give one a different 'name')"
            )
        return self
