"""Step kinds: how a predictor, a retriever or the context builder becomes a workflow step.

A spec's step names a component (``uses: intent``); the component's kind picks the adapter
that turns it into a :class:`~compound.workflow.step.Step` (the ``compound.steps`` group of
:data:`compound.plugins.BUILTINS`). The adapters of components on the floors below the
workflow live here, so that those floors never import the workflow: a predictor
(:mod:`.predictor`), a retriever (:mod:`.retriever`) and the context builder
(:mod:`.context`); the built-in critique step (:mod:`.critique`), which checks and
revises an LLM step's draft, lives with them. Rails and routers sit above the workflow and
keep theirs (:mod:`compound.production.rails.steps`, :mod:`compound.strategy.steps`).
"""
