"""Model strategy (step 5 of the framework): which component answers a request, what happens
when it fails, and what it costs.

Modules, by concept:

* :mod:`~compound.strategy.answers`: the handler interface routers and ensembles work
  through, and adapters for ML models, LLMs and functions;
* :mod:`~compound.strategy.routing`: confidence, rule and learned routers;
  :mod:`~compound.strategy.calibration` and :mod:`~compound.strategy.plot`: thresholds
  calibrated to a target, with the curve as a table and an SVG;
* :mod:`~compound.strategy.fallback`, :mod:`~compound.strategy.streaming`,
  :mod:`~compound.strategy.retry`: fallback chains with time limits, retries with backoff,
  and streamed answers that fall back too;
* :mod:`~compound.strategy.ensembles`: vote, agreement check, best-of-n with a judge;
* :mod:`~compound.strategy.review`: the human review queue and its labelled data;
* :mod:`~compound.strategy.cache`: exact and semantic caches;
* :mod:`~compound.strategy.batching`, :mod:`~compound.strategy.budgets`: batching and
  token/cost budgets;
* :mod:`~compound.strategy.spec`, :mod:`~compound.strategy.build`: the ``strategy:``
  section of `compound.yaml` and the components built from it;
* :mod:`~compound.strategy.trace`: how decisions are recorded in the trace.

Names are imported on first use.
"""

import typing as _typing

from compound.lazy import attach as _attach

_EXPORTS: dict[str, str] = {
    "Answer": "compound.strategy.answers",
    "Handler": "compound.strategy.answers",
    "PredictorHandler": "compound.strategy.answers",
    "LLMHandler": "compound.strategy.answers",
    "FunctionHandler": "compound.strategy.answers",
    "ConfidenceRouter": "compound.strategy.routing",
    "RuleRouter": "compound.strategy.routing",
    "LearnedRouter": "compound.strategy.routing",
    "RouteDecision": "compound.strategy.routing",
    "Routed": "compound.strategy.routing",
    "routing_examples": "compound.strategy.routing",
    "Calibration": "compound.strategy.calibration",
    "ThresholdPoint": "compound.strategy.calibration",
    "calibrate_threshold": "compound.strategy.calibration",
    "threshold_curve": "compound.strategy.calibration",
    "calibration_svg": "compound.strategy.plot",
    "FallbackChain": "compound.strategy.fallback",
    "ChainOption": "compound.strategy.attempts",
    "ChainResult": "compound.strategy.attempts",
    "Attempt": "compound.strategy.attempts",
    "FallbackExhausted": "compound.strategy.attempts",
    "FallbackNotice": "compound.strategy.streaming",
    "Backoff": "compound.strategy.retry",
    "Ensemble": "compound.strategy.ensembles",
    "BestOfN": "compound.strategy.ensembles",
    "ReviewQueue": "compound.strategy.review",
    "ReviewItem": "compound.strategy.review",
    "ReviewHandler": "compound.strategy.review",
    "ExactCache": "compound.strategy.cache",
    "SemanticCache": "compound.strategy.cache",
    "LLMCache": "compound.strategy.cache",
    "CachedLLM": "compound.strategy.cache",
    "MicroBatcher": "compound.strategy.batching",
    "complete_many": "compound.strategy.batching",
    "PeriodBudget": "compound.strategy.budgets",
    "BudgetExceeded": "compound.strategy.budgets",
    "StrategyBuilder": "compound.strategy.build",
    "StrategySpec": "compound.strategy.spec",
}

__all__ = [
    "Answer",
    "Attempt",
    "Backoff",
    "BestOfN",
    "BudgetExceeded",
    "CachedLLM",
    "Calibration",
    "ChainOption",
    "ChainResult",
    "ConfidenceRouter",
    "Ensemble",
    "ExactCache",
    "FallbackChain",
    "FallbackExhausted",
    "FallbackNotice",
    "FunctionHandler",
    "Handler",
    "LLMCache",
    "LLMHandler",
    "LearnedRouter",
    "MicroBatcher",
    "PeriodBudget",
    "PredictorHandler",
    "ReviewHandler",
    "ReviewItem",
    "ReviewQueue",
    "RouteDecision",
    "Routed",
    "RuleRouter",
    "SemanticCache",
    "StrategyBuilder",
    "StrategySpec",
    "ThresholdPoint",
    "calibrate_threshold",
    "calibration_svg",
    "complete_many",
    "routing_examples",
    "threshold_curve",
]

if _typing.TYPE_CHECKING:
    from compound.strategy.answers import (
        Answer,
        FunctionHandler,
        Handler,
        LLMHandler,
        PredictorHandler,
    )
    from compound.strategy.attempts import Attempt, ChainOption, ChainResult, FallbackExhausted
    from compound.strategy.batching import MicroBatcher, complete_many
    from compound.strategy.budgets import BudgetExceeded, PeriodBudget
    from compound.strategy.build import StrategyBuilder
    from compound.strategy.cache import CachedLLM, ExactCache, LLMCache, SemanticCache
    from compound.strategy.calibration import (
        Calibration,
        ThresholdPoint,
        calibrate_threshold,
        threshold_curve,
    )
    from compound.strategy.ensembles import BestOfN, Ensemble
    from compound.strategy.fallback import FallbackChain
    from compound.strategy.plot import calibration_svg
    from compound.strategy.retry import Backoff
    from compound.strategy.review import ReviewHandler, ReviewItem, ReviewQueue
    from compound.strategy.routing import (
        ConfidenceRouter,
        LearnedRouter,
        Routed,
        RouteDecision,
        RuleRouter,
        routing_examples,
    )
    from compound.strategy.spec import StrategySpec
    from compound.strategy.streaming import FallbackNotice


__getattr__, __dir__ = _attach(__name__, _EXPORTS)
