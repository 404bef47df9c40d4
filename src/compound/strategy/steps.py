"""Routers, fallback chains and ensembles as workflow steps.

:func:`strategy_adapter` is the step adapter for components declared under ``strategy:``
(registered in the ``compound.steps`` entry point group for the kinds ``router``,
``fallback`` and ``ensemble``). The step takes one input, ``input`` (the request), and
returns the :class:`~compound.strategy.answers.Answer`. Components are built on the first
run, from the run context's store, so building the workflow does no I/O.

Example:
    >>> from compound.system import System
    >>> from compound.workflow import RunContext
    >>> from compound.store import MemoryStore
    >>> system = System.from_yaml('''
    ... name: demo
    ... loop: interaction
    ... task: Answer.
    ... models:
    ...   main: {kind: llm, provider: scripted, options: {replies: [fine]}}
    ... strategy:
    ...   fallbacks:
    ...     answer: {options: [main]}
    ... ''')
    >>> step = StrategyStep(system, "answer")
    >>> step.run(RunContext(store=MemoryStore()), input="hello").value
    'fine'
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from compound.strategy.answers import Answer

if TYPE_CHECKING:
    from compound.strategy.build import StrategyBuilder
    from compound.system import System
    from compound.workflow.context import RunContext


class StrategyStep:
    """A strategy component as a step: ``input`` in, :class:`Answer` out.

    Args:
        system: the loaded spec.
        name: the router, fallback chain or ensemble under ``strategy:``.
    """

    input_types: dict[str, Any] = {"input": Any}  # noqa: RUF012 - read by the step wrapper
    output_type = Answer

    def __init__(self, system: System, name: str) -> None:
        self.system = system
        self.name = name
        self._builder: StrategyBuilder | None = None
        self._lock = threading.Lock()

    def _build(self, ctx: RunContext | None) -> StrategyBuilder:
        from compound.store import MemoryStore, open_store
        from compound.strategy.build import StrategyBuilder

        with self._lock:
            if self._builder is None:
                store = ctx.store if ctx is not None and ctx.store is not None else None
                if store is None:
                    store = open_store(self.system) if self.system.source else MemoryStore()
                self._builder = StrategyBuilder(self.system, store=store)
            return self._builder

    def run(self, ctx: RunContext | None, **inputs: Any) -> Answer:
        handler = self._build(ctx).handler(self.name)
        return handler.run(inputs["input"], ctx)


def strategy_adapter(request: Any) -> StrategyStep:
    """The ``compound.steps`` adapter for ``router``, ``fallback`` and ``ensemble`` kinds."""
    return StrategyStep(request.system, request.component)
