"""The ``llm`` step kind with the spec's cache: ``strategy.cache`` applied to workflow steps.

``strategy.cache`` (exact caching on by default, ``models:`` to limit it, semantic caching
opt-in) is the strategy floor's; LLM steps and agents are the workflow floor's, which cannot
import strategy. So the ``llm`` kind of the ``compound.steps`` entry point group is
registered here (:func:`llm_step`), above both: it puts the model in front of the cache, a
:class:`~compound.strategy.cache.llm.CachedLLM`, and hands the step to the workflow's own
adapter (:func:`compound.workflow.adapters.llm_adapter`), which builds the
:class:`~compound.workflow.adapters.LLMStep` or the agent as always. Every way of building a
workflow (serving, ``compound run``, ``resume``, Python's ``build_workflow``) gets it, with
no hook for each caller to remember; a third party that registers its own ``llm`` kind
replaces it the same way.

A cached call still goes through the run context (``ctx.complete``): it is traced as a model
call, its span says ``compound.cache.hit``, a hit costs no tokens and nothing, and it is
journaled, so resume and replay see the same calls whether the cache answered or not.
Sampled calls (``temperature > 0`` without a ``seed``) are never cached: their answers are
meant to differ.

The cache is built on the first call, in the store ``shared["store"]`` names (serving puts
its store there), else the system's store (an in-memory one for a spec without a file).
``shared["strategy:cache"] = None`` turns it off for a build (an eval target, whose own
output cache keeps answers with their original cost).

Example:
    >>> from compound.system import System
    >>> from compound.store import MemoryStore
    >>> from compound.workflow.loader import build_workflow
    >>> system = System.from_yaml('''
    ... name: demo
    ... loop: interaction
    ... task: Echo.
    ... models:
    ...   llm: {kind: llm, provider: scripted, options: {replies: ["Hi.", "Hello."]}}
    ... workflows:
    ...   greet:
    ...     input: {name: str}
    ...     steps:
    ...       - {name: hello, uses: llm, options: {template: "Greet {name}."}}
    ... ''')
    >>> flow = build_workflow(system, "greet", shared={"store": MemoryStore()})
    >>> [flow.run(name=n).output.text for n in ("Ada", "Ada", "Bob")]
    ['Hi.', 'Hi.', 'Hello.']
"""

from __future__ import annotations

import dataclasses
import threading
from typing import TYPE_CHECKING, Any

from compound.strategy.cache.llm import CachedLLM, CacheOutcome
from compound.workflow.adapters import AdapterRequest, llm_adapter, shared_llm

if TYPE_CHECKING:
    from compound.intelligence.llm import LLM
    from compound.intelligence.llm.types import Completion, GenerationParams, Prompt
    from compound.strategy.cache import LLMCache
    from compound.system import System

CACHE_KEY = "strategy:cache"
_UNSET = object()


def llm_step(request: AdapterRequest) -> Any:
    """``kind: llm``: the workflow's LLM step (or agent), its model behind the spec's cache
    when the cache applies to it."""
    from compound.strategy.build import StrategyBuilder

    name = request.component
    cache = request.shared.get(CACHE_KEY, _UNSET)
    if cache is None or not StrategyBuilder.caches_model(request.system, name):
        return llm_adapter(request)
    if cache is _UNSET:
        cache = request.shared[CACHE_KEY] = SpecCache(request.system, request.shared)
    key = f"cached-llm:{name}"
    if key not in request.shared:
        request.shared[key] = CachedLLM(shared_llm(request, name), cache)
    # the step sees the cached model; the shared one stays as it is for other users (rails)
    return llm_adapter(dataclasses.replace(
        request, shared={**request.shared, f"llm:{name}": request.shared[key]}))


class SpecCache:
    """The spec's LLM cache, built on first use (see the module docstring).

    Args:
        system: the loaded spec.
        shared: the build's shared objects (``store``: where persistent entries go).
    """

    def __init__(self, system: System, shared: dict[str, Any]) -> None:
        self.system = system
        self.shared = shared
        self._cache: LLMCache | None = None
        self._lock = threading.Lock()

    @property
    def cache(self) -> LLMCache:
        if self._cache is None:
            with self._lock:
                if self._cache is None:
                    from compound.strategy.build import StrategyBuilder

                    store = self.shared.get("store")
                    if store is None:
                        from compound.store import MemoryStore, open_store

                        store = open_store(self.system) if self.system.source else MemoryStore()
                    self._cache = StrategyBuilder(self.system, store=store).cache()
        return self._cache

    def cacheable(self, params: GenerationParams) -> bool:
        return self.cache.cacheable(params)

    def lookup(self, llm: LLM, prompt: Prompt, params: GenerationParams, *,
               version: str | int | None = None) -> CacheOutcome | None:
        return self.cache.lookup(llm, prompt, params, version=version)

    def put(self, llm: LLM, prompt: Prompt, params: GenerationParams, completion: Completion,
            *, version: str | int | None = None) -> None:
        self.cache.put(llm, prompt, params, completion, version=version)
