"""Routers: which component handles a request.

* :class:`ConfidenceRouter`: an ML model answers when its calibrated confidence clears a
  threshold; otherwise the request goes to a fallback (an LLM, a chain, or review). Batches go
  through the model's batch prediction, and only the deferred requests reach the fallback.
* :class:`RuleRouter`: declared conditions over the request, first match wins.
* :class:`LearnedRouter`: a classifier trained through the ML layer predicts the route, so
  the router improves from data; :func:`routing_examples` builds its training rows from
  which route answered each past request correctly at the lowest cost.

Every decision is recorded in the trace (see :mod:`compound.strategy.trace`).

Example:
    >>> from compound.strategy.answers import FunctionHandler
    >>> model = FunctionHandler("intent", lambda text: "card_arrival", confidence=0.6)
    >>> llm = FunctionHandler("llm", lambda text: "card_delivery_estimate")
    >>> router = ConfidenceRouter(model=model, fallback=llm, threshold=0.8)
    >>> routed = router.run("when does my card come?")
    >>> routed.answer.value, routed.decision.route, routed.decision.reason
    ('card_delivery_estimate', 'llm', 'below_threshold')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from compound.errors import UserError
from compound.specfile import did_you_mean
from compound.strategy.answers import Answer, Handler, run_batch
from compound.strategy.trace import decision_span, note

if TYPE_CHECKING:
    from compound.workflow.context import RunContext


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """Why a request went where it went.

    Attributes:
        router: the router's name.
        route: the handler chosen.
        reason: ``confident``, ``below_threshold``, ``rule[i]: <expr>``, ``default``,
            ``predicted``, ``low_confidence``, ``unknown_label``.
        confidence: the confidence the decision was made on, when there was one.
        threshold: the threshold it was compared with, when there was one.
    """

    router: str
    route: str
    reason: str
    confidence: float | None = None
    threshold: float | None = None


@dataclass(frozen=True, slots=True)
class Routed:
    """A routed request: the answer, the decision, and the first answer when it was overridden
    (the ML model's low-confidence answer, for the confidence router)."""

    answer: Answer
    decision: RouteDecision
    first: Answer | None = None


def _record(span: Any, decision: RouteDecision) -> None:
    note(span, "compound.route.router", decision.router)
    note(span, "compound.route.chosen", decision.route)
    note(span, "compound.route.reason", decision.reason)
    if decision.confidence is not None:
        note(span, "compound.route.confidence", decision.confidence)
    if decision.threshold is not None:
        note(span, "compound.route.threshold", decision.threshold)


def _escalate(handler: Handler, request: Any, proposal: Answer | None, reason: str,
              ctx: RunContext | None) -> Answer:
    """Hand over to ``handler``; one that takes escalations (review) also gets the proposal."""
    escalate = getattr(handler, "escalate", None)
    if escalate is not None:
        answer: Answer = escalate(request, proposal=proposal, reason=reason, ctx=ctx)
        return answer
    return handler.run(request, ctx)


class ConfidenceRouter:
    """The model answers when confident; the fallback takes the rest.

    Args:
        model: the handler that answers first (usually a
            :class:`~compound.strategy.answers.PredictorHandler`).
        fallback: where requests below the threshold go (an LLM handler, a fallback chain,
            a :class:`~compound.strategy.review.ReviewHandler`).
        threshold: the model answers when its confidence is at least this; calibrate it with
            :func:`compound.strategy.calibration.calibrate_threshold`.
        name: names the router in traces.
    """

    def __init__(self, *, model: Handler, fallback: Handler, threshold: float,
                 name: str = "router") -> None:
        if not 0.0 <= threshold <= 1.0:
            raise UserError(f"router '{name}': threshold must be in [0, 1]; received {threshold}")
        self.model = model
        self.fallback = fallback
        self.threshold = threshold
        self.name = name

    def _decide(self, answer: Answer) -> RouteDecision:
        confident = answer.confidence is not None and answer.confidence >= self.threshold
        return RouteDecision(
            self.name, self.model.name if confident else self.fallback.name,
            "confident" if confident else "below_threshold", answer.confidence, self.threshold,
        )

    def run(self, request: Any, ctx: RunContext | None = None) -> Routed:
        """Route one request."""
        return self.run_batch([request], ctx)[0]

    def run_batch(self, requests: Sequence[Any], ctx: RunContext | None = None) -> list[Routed]:
        """Route many: one batch through the model, the deferred ones through the fallback."""
        with decision_span(ctx, f"route {self.name}") as span:
            firsts = run_batch(self.model, requests, ctx)
            decisions = [self._decide(a) for a in firsts]
            deferred = [i for i, d in enumerate(decisions) if d.reason != "confident"]
            routed: list[Routed | None] = [
                Routed(a, d) if d.reason == "confident" else None
                for a, d in zip(firsts, decisions, strict=True)
            ]
            for i in deferred:
                answer = _escalate(self.fallback, requests[i], firsts[i], "below_threshold", ctx)
                routed[i] = Routed(answer, decisions[i], first=firsts[i])
            if len(requests) == 1:
                _record(span, decisions[0])
            else:
                note(span, "compound.route.router", self.name)
                note(span, "compound.route.threshold", self.threshold)
                note(span, "compound.route.covered", len(requests) - len(deferred))
                note(span, "compound.route.deferred", len(deferred))
        return [r for r in routed if r is not None]


Condition = Callable[[Any], Any]


class RuleRouter:
    """Declared conditions, tried in order; the first that holds picks the handler.

    Args:
        rules: ``(condition, route)`` pairs. A condition is a function of the request or an
            expression over ``input`` (the request) and ``length`` (its length in
            characters), e.g. ``"length > 2000"`` or ``"'refund' in input"``.
        default: the route when no rule holds.
        handlers: route name -> handler.
        name: names the router in traces.

    Example:
        >>> from compound.strategy.answers import FunctionHandler
        >>> handlers = {"small": FunctionHandler("small", len), "big": FunctionHandler("big", len)}
        >>> router = RuleRouter(rules=[("length > 10", "big")], default="small",
        ...                     handlers=handlers)
        >>> router.run("a long request indeed").decision.route
        'big'
    """

    def __init__(self, *, rules: Sequence[tuple[str | Condition, str]], default: str,
                 handlers: Mapping[str, Handler], name: str = "rules") -> None:
        from compound.conditions import Condition as Expression

        self.name = name
        self.handlers = dict(handlers)
        for route in [*(r for _, r in rules), default]:
            if route not in self.handlers:
                raise UserError(
                    f"router '{name}': route '{route}' has no handler"
                    f"{did_you_mean(route, self.handlers)}; handlers: "
                    f"{', '.join(sorted(self.handlers)) or 'none'}"
                )
        self.rules: list[tuple[str, Condition, str]] = []
        for index, (condition, route) in enumerate(rules):
            if isinstance(condition, str):
                expression = Expression.parse(condition, where=f"router '{name}' rule {index}")
                unknown = expression.names - {"input", "length"}
                if unknown:
                    raise UserError(
                        f"router '{name}' rule {index}: {condition!r} reads "
                        f"{', '.join(sorted(unknown))}; a rule may read 'input' and 'length'"
                    )
                self.rules.append((condition, _bind(expression), route))
            else:
                label = getattr(condition, "__name__", repr(condition))
                self.rules.append((label, condition, route))
        self.default = default

    def decide(self, request: Any) -> RouteDecision:
        """The route for ``request``, without running it."""
        for index, (label, condition, route) in enumerate(self.rules):
            if condition(request):
                return RouteDecision(self.name, route, f"rule[{index}]: {label}")
        return RouteDecision(self.name, self.default, "default")

    def run(self, request: Any, ctx: RunContext | None = None) -> Routed:
        decision = self.decide(request)
        with decision_span(ctx, f"route {self.name}") as span:
            _record(span, decision)
            answer = _escalate(self.handlers[decision.route], request, None, decision.reason,
                               ctx)
        return Routed(answer, decision)


def _bind(expression: Any) -> Condition:
    def check(request: Any) -> Any:
        length = len(request) if isinstance(request, str | Sequence | Mapping) else 0
        return expression({"input": request, "length": length})

    return check


class LearnedRouter:
    """A trained classifier picks the route.

    Args:
        classifier: a handler whose answers are labels naming routes (a
            :class:`~compound.strategy.answers.PredictorHandler` over a predictor trained on
            :func:`routing_examples`).
        handlers: route name -> handler.
        routes: label -> route name, when labels are not route names.
        min_confidence: below this confidence the request takes ``default``.
        default: the route for low confidence or a label with no route.
        name: names the router in traces.
    """

    def __init__(self, *, classifier: Handler, handlers: Mapping[str, Handler], default: str,
                 routes: Mapping[str, str] | None = None, min_confidence: float = 0.0,
                 name: str = "learned") -> None:
        self.classifier = classifier
        self.handlers = dict(handlers)
        self.routes = dict(routes or {})
        self.min_confidence = min_confidence
        self.default = default
        self.name = name
        if default not in self.handlers:
            raise UserError(f"router '{name}': default route '{default}' has no handler"
                            f"{did_you_mean(default, self.handlers)}")

    def decide(self, request: Any, ctx: RunContext | None = None) -> RouteDecision:
        """The route the classifier picks for ``request``."""
        guess = self.classifier.run(request, ctx)
        route = self.routes.get(str(guess.value), str(guess.value))
        if guess.confidence is not None and guess.confidence < self.min_confidence:
            return RouteDecision(self.name, self.default, "low_confidence", guess.confidence,
                                 self.min_confidence)
        if route not in self.handlers:
            return RouteDecision(self.name, self.default, "unknown_label", guess.confidence)
        return RouteDecision(self.name, route, "predicted", guess.confidence,
                             self.min_confidence)

    def run(self, request: Any, ctx: RunContext | None = None) -> Routed:
        with decision_span(ctx, f"route {self.name}") as span:
            decision = self.decide(request, ctx)
            _record(span, decision)
            answer = _escalate(self.handlers[decision.route], request, None, decision.reason,
                               ctx)
        return Routed(answer, decision)


def routing_examples(
    requests: Sequence[Any],
    correct: Mapping[str, Sequence[bool]],
    cost_usd: Mapping[str, float],
) -> list[dict[str, Any]]:
    """Training rows for a :class:`LearnedRouter`: each request labelled with the cheapest
    route that answered it correctly (the most capable, i.e. most expensive, when none did).

    Args:
        requests: the past requests (texts).
        correct: route -> whether it answered each request correctly (same order).
        cost_usd: route -> what one request costs there.

    Returns:
        ``{"text": request, "label": route}`` rows, ready to write as JSONL and train a
        ``kind: predictor`` text classifier on.

    Example:
        >>> routing_examples(["easy", "hard"], {"ml": [True, False], "llm": [True, True]},
        ...                  {"ml": 0.0, "llm": 0.002})
        [{'text': 'easy', 'label': 'ml'}, {'text': 'hard', 'label': 'llm'}]
    """
    missing = set(correct) - set(cost_usd)
    if missing:
        raise UserError(f"routing_examples: no cost for route(s) {', '.join(sorted(missing))}")
    for route, outcomes in correct.items():
        if len(outcomes) != len(requests):
            raise UserError(f"routing_examples: route '{route}' has {len(outcomes)} outcomes "
                            f"for {len(requests)} requests; give one per request")
    by_cost = sorted(correct, key=lambda r: cost_usd[r])
    rows = []
    for index, request in enumerate(requests):
        route = next((r for r in by_cost if correct[r][index]), by_cost[-1])
        rows.append({"text": request, "label": route})
    return rows
