"""The ``strategy:`` section of `compound.yaml`: routers, fallback chains, ensembles, human
review, caching and budgets (step 5 of the framework).

Every entry names models declared under ``models:``; :meth:`StrategySpec.reference_problems`
checks those names (with a did-you-mean) when the spec loads, so a typo fails at load time
naming the file and line, not at the first request. Nothing heavy is imported here.

Example:
    >>> spec = StrategySpec.model_validate({
    ...     "routers": {"intent_router": {"kind": "confidence", "model": "intent",
    ...                                   "fallback": "llm", "target": {"covered_accuracy": 0.98}}},
    ...     "fallbacks": {"answer": {"options": ["gpt", {"model": "llm", "timeout_s": 30}]}},
    ... })
    >>> spec.routers["intent_router"].threshold is None, spec.fallbacks["answer"].options[0].model
    (True, 'gpt')
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from compound.plugins import BUILTINS
from compound.specfile import SpecModel, did_you_mean

Loc = tuple[str | int, ...]
#: The name a router, rule or chain uses to send a request to the human review queue.
REVIEW = "review"
#: Failure reasons a fallback chain acts on (``LLMError.reason`` values, plus two of its own).
Reason = Literal["timeout", "rate_limit", "context_overflow", "invalid_response", "unavailable",
                 "error", "low_confidence", "budget"]
ALL_REASONS: tuple[str, ...] = ("timeout", "rate_limit", "context_overflow", "invalid_response",
                                "unavailable", "error", "low_confidence", "budget")
#: the router kinds with their own spec class below (registered in compound.plugins.BUILTINS)
BUILTIN_ROUTER_KINDS = tuple(BUILTINS["compound.routers"])


class TargetSpec(SpecModel):
    """What a calibrated threshold must achieve; set exactly one.

    ``covered_accuracy``: the ML model's accuracy on the requests it answers must be at least
    this (coverage is then as high as possible). ``quality_ratio``: the system's quality must
    be at least this share of the best single option's, at the lowest cost.
    """

    covered_accuracy: float | None = Field(default=None, gt=0.0, le=1.0)
    quality_ratio: float | None = Field(default=None, gt=0.0, le=1.0)

    @model_validator(mode="after")
    def _exactly_one(self) -> TargetSpec:
        if (self.covered_accuracy is None) == (self.quality_ratio is None):
            raise ValueError("set exactly one of 'covered_accuracy' or 'quality_ratio'")
        return self


class ConfidenceRouterSpec(SpecModel):
    """The ML model answers when its calibrated confidence clears ``threshold``; otherwise
    the request goes to ``fallback`` (an LLM, a fallback chain, or ``review``)."""

    kind: Literal["confidence"]
    model: str = Field(description="a predictor under 'models'")
    fallback: str = Field(description="an LLM, a fallback chain, an ensemble, or 'review'")
    threshold: float | None = Field(default=None, ge=0.0, le=1.0,
                                    description="None: calibrate it to 'target'")
    target: TargetSpec | None = None
    calibration_dataset: str | None = Field(
        default=None, description="labelled rows the threshold is calibrated on; None: the "
        "model's out-of-fold predictions (its split.cross_fit, 5 by default for such a "
        "model), else the model's calibration_dataset (cross-fitted)")
    confidence_level: float | None = Field(
        default=0.95, gt=0.5, lt=1.0,
        description="the threshold must hold its covered accuracy at this one-sided "
        "confidence (a Wilson lower bound); null: the point estimate, which is optimistic")
    template: str = Field(default="{input}",
                          description="the prompt of an LLM fallback, with an {input} slot")
    description: str = ""

    @model_validator(mode="after")
    def _threshold_or_target(self) -> ConfidenceRouterSpec:
        if self.threshold is None and self.target is None:
            raise ValueError("set 'threshold', or a 'target' to calibrate it to "
                             "(e.g. target: {covered_accuracy: 0.98})")
        return self


class Rule(SpecModel):
    """Send the request to ``use`` when ``when`` holds.

    ``when`` is an expression over ``input`` (the request) and ``length`` (its characters),
    e.g. ``"length > 2000"`` or ``"'refund' in input"``.
    """

    when: str
    use: str

    @field_validator("when")
    @classmethod
    def _condition_parses(cls, value: str) -> str:
        """Checked at load, like a step's ``when``, so ``compound check`` names the line."""
        from compound.conditions import Condition
        from compound.errors import UserError

        try:
            names = Condition.parse(value, where="when").names
        except UserError as exc:
            raise ValueError(str(exc)) from None
        unknown = sorted(names - {"input", "length"})
        if unknown:
            raise ValueError(f"when: {value!r} reads {', '.join(unknown)}; a rule may read "
                             "'input' and 'length'")
        return value


class RulesRouterSpec(SpecModel):
    """Declared conditions, tried in order; the first that holds picks the component."""

    kind: Literal["rules"]
    rules: list[Rule] = Field(min_length=1)
    default: str
    description: str = ""


class LearnedRouterSpec(SpecModel):
    """A classifier trained through the ML layer predicts which component should answer."""

    kind: Literal["learned"]
    model: str = Field(description="a predictor whose labels name routes")
    routes: dict[str, str] = Field(
        default_factory=dict, description="label -> component; empty: labels are components")
    min_confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    default: str = Field(description="used below min_confidence or for an unknown label")
    description: str = ""


class PluginRouterSpec(SpecModel):
    """A router kind registered by a package under the ``compound.routers`` entry points."""

    kind: str
    options: dict[str, Any] = Field(default_factory=dict)
    description: str = ""

    @field_validator("kind")
    @classmethod
    def _not_builtin(cls, value: str) -> str:
        if value in BUILTIN_ROUTER_KINDS:
            raise ValueError(f"router kind '{value}' takes its own keys, not 'options'")
        return value


def _router_tag(value: Any) -> str:
    kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    return kind if kind in BUILTIN_ROUTER_KINDS else "plugin"


RouterSpec = Annotated[
    Annotated[ConfidenceRouterSpec, Tag("confidence")]
    | Annotated[RulesRouterSpec, Tag("rules")]
    | Annotated[LearnedRouterSpec, Tag("learned")]
    | Annotated[PluginRouterSpec, Tag("plugin")],
    Discriminator(_router_tag),
]


class BackoffSpec(SpecModel):
    """Exponential backoff between retries: ``base_s * factor**n``, capped, with full jitter."""

    base_s: float = Field(default=0.5, ge=0.0)
    factor: float = Field(default=2.0, ge=1.0)
    max_s: float = Field(default=8.0, ge=0.0)
    jitter: bool = True


class ChainOptionSpec(SpecModel):
    """One option of a fallback chain: a model, its time limit and retries."""

    model: str
    timeout_s: float | None = Field(default=None, gt=0, description="None: the model's own")
    retries: int = Field(default=0, ge=0, le=10, description="extra tries on retryable errors")


class FallbackSpec(SpecModel):
    """Options tried in order until one answers; each failure is recorded with its reason."""

    options: list[ChainOptionSpec] = Field(min_length=1)
    on: list[Reason] = Field(default_factory=lambda: list(ALL_REASONS),
                             description="failure reasons that move on to the next option")
    backoff: BackoffSpec = Field(default_factory=BackoffSpec)
    min_confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    partial: Literal["restart", "hide"] = Field(
        default="restart",
        description="streams: show text as it comes and signal a restart on failure, or hide "
                    "each option's text until it finishes")
    timeout_s: float | None = Field(
        default=None, gt=0, description="the longest the whole chain may take, retries and "
                                        "waits included; None: only the run's limit")
    description: str = ""

    @field_validator("options", mode="before")
    @classmethod
    def _names_are_options(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"model": v} if isinstance(v, str) else v for v in value]
        return value


class EnsembleSpec(SpecModel):
    """Several models on one request, combined by vote, agreement check or a judge."""

    members: list[str] = Field(min_length=1)
    combine: Literal["vote", "agreement", "best_of_n"] = "vote"
    judge: str | None = Field(default=None, description="best_of_n: the LLM that picks")
    n: int = Field(default=3, ge=2, le=16, description="best_of_n with one member: samples")
    review_below: float | None = Field(
        default=None, ge=0.0, le=1.0, description="agreement below this goes to review")
    description: str = ""

    @model_validator(mode="after")
    def _judge_for_best_of_n(self) -> EnsembleSpec:
        if self.combine == "best_of_n" and self.judge is None:
            raise ValueError("combine 'best_of_n' needs a 'judge' (an LLM under 'models')")
        if self.combine != "best_of_n" and len(self.members) < 2:
            raise ValueError(f"combine '{self.combine}' needs at least 2 members")
        return self


class ReviewSpec(SpecModel):
    """The human review queue in the store."""

    queue: str = Field(default="default", pattern=r"^[A-Za-z0-9_-]+$")
    below: float | None = Field(default=None, ge=0.0, le=1.0,
                                description="answers with confidence below this go to review")
    labels: list[str] = Field(default_factory=list,
                              description="allowed labels for corrections; empty: any")


class ExactCacheSpec(SpecModel):
    """A cache keyed by everything that changes the answer."""

    enabled: bool = True
    ttl_s: float | None = Field(default=86_400.0, gt=0)
    persist: bool = Field(default=True, description="keep entries in the store")
    max_entries: int = Field(default=10_000, gt=0)


class SemanticCacheSpec(SpecModel):
    """A cache that also answers paraphrases, guarded against matching different intents."""

    enabled: bool = False
    embedder: str = "minilm"
    threshold: float = Field(default=0.92, gt=0.0, le=1.0)
    guards: list[Literal["numbers", "negation", "intent"]] = Field(
        default_factory=lambda: ["numbers", "negation"])
    intent_model: str | None = Field(default=None, description="the 'intent' guard's predictor")
    ttl_s: float | None = Field(default=86_400.0, gt=0)
    max_entries: int = Field(default=10_000, gt=0)

    @model_validator(mode="after")
    def _intent_needs_model(self) -> SemanticCacheSpec:
        if "intent" in self.guards and self.intent_model is None:
            raise ValueError("the 'intent' guard needs 'intent_model' (a predictor)")
        return self


class CacheSpec(SpecModel):
    """Caching of model calls; ``models`` limits it to some LLMs (empty: all)."""

    exact: ExactCacheSpec = Field(default_factory=ExactCacheSpec)
    semantic: SemanticCacheSpec = Field(default_factory=SemanticCacheSpec)
    models: list[str] = Field(default_factory=list)


class LimitSpec(SpecModel):
    """Token and dollar limits."""

    max_tokens: int | None = Field(default=None, gt=0)
    max_cost_usd: float | None = Field(default=None, gt=0)


class PeriodLimitSpec(LimitSpec):
    """Limits over a calendar period (UTC), kept in the store."""

    period: Literal["minute", "hour", "day", "month"]
    name: str = Field(default="default", pattern=r"^[A-Za-z0-9_-]+$")


class BudgetsSpec(SpecModel):
    """Per-request and per-period budgets; prices come from the one cost table."""

    request: LimitSpec = Field(default_factory=LimitSpec)
    periods: list[PeriodLimitSpec] = Field(default_factory=list)


class StrategySpec(SpecModel):
    """Model strategy: which component answers, what happens on failure, and what it costs."""

    routers: dict[str, RouterSpec] = Field(default_factory=dict)
    fallbacks: dict[str, FallbackSpec] = Field(default_factory=dict)
    ensembles: dict[str, EnsembleSpec] = Field(default_factory=dict)
    review: ReviewSpec = Field(default_factory=ReviewSpec)
    cache: CacheSpec = Field(default_factory=CacheSpec)
    budgets: BudgetsSpec = Field(default_factory=BudgetsSpec)

    def component_names(self) -> set[str]:
        """Routers, chains and ensembles: what a rule, router or step may name."""
        return {*self.routers, *self.fallbacks, *self.ensembles}

    def reference_problems(
        self, models: Mapping[str, Any], *, llms: set[str], predictors: set[str]
    ) -> Iterator[tuple[Loc, str]]:
        """Names that do not resolve, yielded as (location in the spec, message).

        Args:
            models: every model under ``models``.
            llms: the names of those that are LLMs.
            predictors: the names of those that are trained ML models.
        """
        ours = self.component_names()
        targets = {*models, *ours, REVIEW}
        for name in sorted(ours & set(models)):
            yield ("strategy",), (f"'{name}' names both a model and a strategy component; "
                                  "rename one so references are unambiguous")

        def ref(loc: Loc, value: str, allowed: set[str], what: str) -> Iterator[tuple[Loc, str]]:
            if value not in allowed:
                yield loc, (f"{what} '{value}' is not declared{did_you_mean(value, allowed)}; "
                            f"declared: {', '.join(sorted(allowed)) or 'none'}")

        base: Loc = ("strategy", "routers")
        for name, router in self.routers.items():
            here = (*base, name)
            if isinstance(router, ConfidenceRouterSpec):
                yield from ref((*here, "model"), router.model, predictors, "predictor")
                yield from ref((*here, "fallback"), router.fallback, targets - {name},
                               "fallback component")
            elif isinstance(router, RulesRouterSpec):
                for index, rule in enumerate(router.rules):
                    yield from ref((*here, "rules", index, "use"), rule.use, targets - {name},
                                   "component")
                yield from ref((*here, "default"), router.default, targets - {name}, "component")
            elif isinstance(router, LearnedRouterSpec):
                yield from ref((*here, "model"), router.model, predictors, "predictor")
                for label, use in router.routes.items():
                    yield from ref((*here, "routes", label), use, targets - {name}, "component")
                yield from ref((*here, "default"), router.default, targets - {name}, "component")
        for name, chain in self.fallbacks.items():
            for index, option in enumerate(chain.options):
                yield from ref(("strategy", "fallbacks", name, "options", index, "model"),
                               option.model, llms, "LLM")
        for name, ensemble in self.ensembles.items():
            for index, member in enumerate(ensemble.members):
                yield from ref(("strategy", "ensembles", name, "members", index), member,
                               set(models), "model")
            if ensemble.judge is not None:
                yield from ref(("strategy", "ensembles", name, "judge"), ensemble.judge, llms,
                               "LLM")
        semantic = self.cache.semantic
        if semantic.intent_model is not None:
            yield from ref(("strategy", "cache", "semantic", "intent_model"),
                           semantic.intent_model, predictors, "predictor")
        for index, model in enumerate(self.cache.models):
            yield from ref(("strategy", "cache", "models", index), model, llms, "LLM")
