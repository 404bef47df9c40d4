"""Strategy components from the ``strategy:`` section of a spec.

:class:`StrategyBuilder` turns names into objects: a model name into a handler (an
:class:`~compound.strategy.answers.LLMHandler` or
:class:`~compound.strategy.answers.PredictorHandler`), ``review`` into the review queue's
handler, a router, chain or ensemble name into the component. Router kinds are looked up in
the ``compound.routers`` entry point group, where compound's own three are registered the same
way a third party's would be: a function ``(builder, name, spec) -> router``.

Building does no I/O; models load on first use.

Example:
    >>> from compound.system import System
    >>> from compound.store import MemoryStore
    >>> system = System.from_yaml('''
    ... name: demo
    ... loop: interaction
    ... task: Answer.
    ... models:
    ...   main: {kind: llm, provider: scripted, options: {replies: [boom]}}
    ...   backup: {kind: llm, provider: scripted, options: {replies: [fine]}}
    ... strategy:
    ...   fallbacks:
    ...     answer: {options: [main, {model: backup, timeout_s: 5}]}
    ... ''')
    >>> chain = StrategyBuilder(system, store=MemoryStore()).chain("answer")
    >>> [o.label for o in chain.options]
    ['main', 'backup']
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from compound.errors import UserError
from compound.specfile import did_you_mean
from compound.strategy.spec import (
    REVIEW,
    ConfidenceRouterSpec,
    LearnedRouterSpec,
    RulesRouterSpec,
)

if TYPE_CHECKING:
    from compound.intelligence.llm import LLM
    from compound.store import Store
    from compound.strategy.answers import Handler
    from compound.strategy.budgets import PeriodBudget
    from compound.strategy.cache import LLMCache
    from compound.strategy.fallback import FallbackChain
    from compound.strategy.review import ReviewQueue
    from compound.system import System

GROUP = "compound.routers"  # router kinds: the built-ins are in compound.plugins.BUILTINS


class StrategyBuilder:
    """Builds and shares the strategy components of ``system``.

    Args:
        system: the loaded spec.
        store: the store (review queue, persistent cache, thresholds, period budgets).
    """

    def __init__(self, system: System, *, store: Store) -> None:
        self.system = system
        self.store = store
        self.spec = system.strategy
        self._built: dict[str, Any] = {}

    def _once(self, key: str, make: Any) -> Any:
        if key not in self._built:
            self._built[key] = make()
        return self._built[key]

    def llm(self, name: str) -> LLM:
        """The LLM ``name`` (one object per name)."""
        from compound.intelligence.llm.versions import system_llm

        llms = self.system.llms()
        if name not in llms:
            raise UserError(f"'{name}' is not an LLM of the system{did_you_mean(name, llms)}")
        return self._once(  # type: ignore[no-any-return]
            f"llm:{name}", lambda: system_llm(self.system, name, self.store))

    def predictor(self, name: str) -> Any:
        """The trained model ``name`` (its production version, loaded on first use)."""
        from compound.intelligence.ml.predictor import Predictor

        return self._once(f"predictor:{name}", lambda: Predictor(name=name, store=self.store))

    def review_queue(self) -> ReviewQueue:
        from compound.strategy.review import ReviewQueue

        return self._once("review", lambda: ReviewQueue.of_system(  # type: ignore[no-any-return]
            self.system, self.store))

    def handler(self, name: str, *, template: str = "{input}") -> Handler:
        """What answers when a router or ensemble names ``name``."""
        from compound.strategy.answers import LLMHandler, PredictorHandler
        from compound.strategy.review import ReviewHandler

        if name == REVIEW:
            return ReviewHandler(self.review_queue())
        if name in self.spec.routers:
            return RoutedHandler(name, self.router(name))
        if name in self.spec.ensembles:
            return self.ensemble(name)  # type: ignore[no-any-return]
        if name in self.spec.fallbacks:
            return LLMHandler(name, self.chain(name), template=template)
        if name in self.system.predictors():
            return PredictorHandler(name, self.predictor(name))
        if name in self.system.llms():
            return LLMHandler(name, self.llm(name), template=template)
        known = {*self.system.models, *self.spec.component_names(), REVIEW}
        raise UserError(f"no component named '{name}'{did_you_mean(name, known)}")

    def component(self, name: str) -> Any:
        """The router, fallback chain or ensemble ``name``."""
        if name in self.spec.routers:
            return self.router(name)
        if name in self.spec.fallbacks:
            return self.chain(name)
        if name in self.spec.ensembles:
            return self.ensemble(name)
        known = self.spec.component_names()
        raise UserError(f"no router, fallback chain or ensemble named '{name}'"
                        f"{did_you_mean(name, known)}; declared: "
                        f"{', '.join(sorted(known)) or 'none'}")

    def router(self, name: str) -> Any:
        """The router ``name``, built by the function registered for its kind."""
        from compound.plugins import load, registered

        if name not in self.spec.routers:
            raise UserError(f"no router named '{name}'{did_you_mean(name, self.spec.routers)}")
        spec = self.spec.routers[name]
        targets = registered(GROUP)
        if spec.kind not in targets:
            raise UserError(f"no router kind '{spec.kind}'{did_you_mean(spec.kind, targets)}; "
                            f"installed: {', '.join(sorted(targets))}. A package providing it "
                            f"registers it under the '{GROUP}' entry point group")
        make = load(GROUP, spec.kind)
        return self._once(f"router:{name}", lambda: make(self, name, spec))

    def chain(self, name: str) -> FallbackChain:
        """The fallback chain ``name``."""
        from compound.strategy.fallback import ChainOption, FallbackChain
        from compound.strategy.retry import Backoff

        if name not in self.spec.fallbacks:
            raise UserError(f"no fallback chain named '{name}'"
                            f"{did_you_mean(name, self.spec.fallbacks)}")
        spec = self.spec.fallbacks[name]

        def make() -> FallbackChain:
            options = [ChainOption(self.llm(o.model), timeout_s=o.timeout_s, retries=o.retries,
                                   name=o.model) for o in spec.options]
            b = spec.backoff
            return FallbackChain(options, name=name, on=spec.on,
                                 backoff=Backoff(b.base_s, b.factor, b.max_s, b.jitter),
                                 budgets=self.budgets(), partial=spec.partial,
                                 store=self.store, timeout_s=spec.timeout_s)

        return self._once(f"chain:{name}", make)  # type: ignore[no-any-return]

    def ensemble(self, name: str) -> Any:
        """The ensemble ``name``."""
        from compound.strategy.ensembles import BestOfN, Ensemble

        spec = self.spec.ensembles[name]
        members = [self.handler(m) for m in spec.members]
        if spec.combine == "best_of_n":
            assert spec.judge is not None
            return BestOfN(members, judge=self.llm(spec.judge), n=spec.n, name=name)
        review = self.handler(REVIEW) if spec.review_below is not None else None
        return Ensemble(members, combine=spec.combine, review=review,
                        review_below=spec.review_below, name=name)

    def budgets(self) -> list[PeriodBudget]:
        """The period budgets of the spec."""
        from compound.strategy.budgets import PeriodBudget

        return [PeriodBudget(period=p.period, max_tokens=p.max_tokens,
                             max_cost_usd=p.max_cost_usd, name=p.name)
                for p in self.spec.budgets.periods]

    @staticmethod
    def caches_model(system: System, model: str) -> bool:
        """Whether ``system``'s cache applies to the calls of LLM ``model``: a cache is
        enabled (exact, the default, or semantic) and ``strategy.cache.models`` is empty or
        names it."""
        spec = system.strategy.cache
        return ((spec.exact.enabled or spec.semantic.enabled)
                and (not spec.models or model in spec.models))

    def cache(self) -> LLMCache:
        """The LLM cache the spec describes (persistent exact entries in the store)."""
        from compound.strategy.cache import (
            ExactCache,
            IntentGuard,
            LLMCache,
            MemoryBackend,
            NegationGuard,
            NumbersGuard,
            SemanticCache,
            StoreBackend,
        )

        def make() -> LLMCache:
            spec = self.spec.cache
            backend = (StoreBackend(self.store) if spec.exact.persist
                       else MemoryBackend(max_entries=spec.exact.max_entries))
            semantic = None
            if spec.semantic.enabled:
                from compound.intelligence.embedders import make_embedder

                guards: list[Any] = []
                for guard in spec.semantic.guards:
                    if guard == "numbers":
                        guards.append(NumbersGuard())
                    elif guard == "negation":
                        guards.append(NegationGuard())
                    else:
                        assert spec.semantic.intent_model is not None
                        guards.append(IntentGuard.from_predictor(
                            self.predictor(spec.semantic.intent_model)))
                semantic = SemanticCache(
                    embedder=make_embedder(spec.semantic.embedder),
                    threshold=spec.semantic.threshold, guards=guards, ttl_s=spec.semantic.ttl_s,
                    max_entries=spec.semantic.max_entries)
            return LLMCache(exact=ExactCache(backend=backend, ttl_s=spec.exact.ttl_s),
                            semantic=semantic, use_exact=spec.exact.enabled)

        return self._once("cache", make)  # type: ignore[no-any-return]


class RoutedHandler:
    """A router used where a handler is expected (a rule routing to another router)."""

    def __init__(self, name: str, router: Any) -> None:
        self.name = name
        self.router = router

    def run(self, request: Any, ctx: Any = None) -> Any:
        return self.router.run(request, ctx).answer


# -- the built-in router kinds, registered under compound.routers -----------------------------


def confidence_router(builder: StrategyBuilder, name: str, spec: ConfidenceRouterSpec) -> Any:
    """``kind: confidence``: the threshold from the spec, else the calibrated one in the store."""
    from compound.strategy.routing import ConfidenceRouter
    from compound.strategy.thresholds import load_threshold

    threshold = spec.threshold
    if threshold is None:
        record = load_threshold(builder.store, name)
        if record is None:
            raise UserError(
                f"router '{name}' has no threshold yet; calibrate it with 'compound route "
                f"calibrate SPEC {name} --data LABELLED.jsonl', or set 'threshold' in the spec"
            )
        threshold = float(record["threshold"])
    return ConfidenceRouter(model=builder.handler(spec.model),
                            fallback=builder.handler(spec.fallback, template=spec.template),
                            threshold=threshold, name=name)


def rules_router(builder: StrategyBuilder, name: str, spec: RulesRouterSpec) -> Any:
    """``kind: rules``."""
    from compound.strategy.routing import RuleRouter

    routes = {r.use for r in spec.rules} | {spec.default}
    return RuleRouter(rules=[(r.when, r.use) for r in spec.rules], default=spec.default,
                      handlers={r: builder.handler(r) for r in routes}, name=name)


def learned_router(builder: StrategyBuilder, name: str, spec: LearnedRouterSpec) -> Any:
    """``kind: learned``."""
    from compound.strategy.answers import PredictorHandler
    from compound.strategy.routing import LearnedRouter

    routes = (set(spec.routes.values()) | {spec.default} if spec.routes else
              ({*builder.system.models, *builder.spec.component_names(), REVIEW} - {name}))
    return LearnedRouter(classifier=PredictorHandler(spec.model, builder.predictor(spec.model)),
                         handlers={r: builder.handler(r) for r in routes},
                         routes=spec.routes, min_confidence=spec.min_confidence,
                         default=spec.default, name=name)
