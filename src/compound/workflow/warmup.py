"""Warming a workflow up: every model, index and rail its steps use is loaded and answers
once, so that the first real request (or the first timed eval example) pays no loading cost.

Used where latency matters: ``compound serve`` reports ready only after it, and evals of a
workflow run it before the clock starts. A component that defines ``warm_up()`` is called;
otherwise the built-in shapes are recognised by what they carry:

* an LLM step or an agent (``llm``): the model is loaded, and an in-process (embedded) one
  generates one token (a remote or scripted model is not called: that would cost money or
  use up a script);
* a predictor step (``predictor()``/``run_batch``): the model is loaded and predicts one row;
* a retriever (``index`` and ``load()``): the index is opened and searched once (which also
  loads its embedder);
* a rail step (``guard``): its rails are loaded (the injection rail's classifier) and check
  one text;
* anything else with a ``load()``: loaded.

Warming never fails the caller: a component that cannot answer a made-up input still counts
as loaded, and the problem is reported in the result.

Example:
    >>> from compound.intelligence.llm import ScriptedLLM
    >>> from compound.workflow import Workflow
    >>> from compound.workflow.adapters import LLMStep
    >>> llm = ScriptedLLM(["Real answer."])
    >>> flow = Workflow([LLMStep(llm)], name="chat")
    >>> [w.what for w in warm_up(flow)]  # a fake has nothing to load: it is not called
    ['model loaded']
    >>> flow.run(prompt="Hello").output.text
    'Real answer.'
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from compound.workflow.context import RunContext
    from compound.workflow.graph import Workflow

WARM_TEXT = "Hello, how can I check my account?"


@dataclass(frozen=True)
class Warmed:
    """What warming one step did."""

    step: str
    what: str
    seconds: float
    problem: str | None = None


def warm_up(flow: Workflow, *, ctx: RunContext | None = None) -> list[Warmed]:
    """Load every component of ``flow``'s steps and have each answer once.

    Args:
        flow: the workflow.
        ctx: the run context the components would get (its store loads predictors).

    Returns:
        One entry per step that had something to warm, in step order.
    """
    done: list[Warmed] = []
    seen: set[int] = set()
    for step in flow.steps:
        target = _unwrap(step.target)
        if id(target) in seen:
            continue
        seen.add(id(target))
        start = time.perf_counter()
        try:
            what = warm_component(target, ctx)
            problem = None
        except Exception as exc:  # warming must not stop a server from starting
            what, problem = "not warmed", f"{type(exc).__name__}: {exc}"
        if what is not None:
            done.append(Warmed(step.name, what, time.perf_counter() - start, problem))
    return done


def warm_component(target: Any, ctx: RunContext | None = None) -> str | None:
    """Warm one step target; what was done, or None when it has nothing to load."""
    own = getattr(target, "warm_up", None)
    if callable(own):
        own()
        return "warmed"
    llm = getattr(target, "llm", None)
    if llm is not None and callable(getattr(llm, "complete", None)):
        return _warm_llm(llm)
    if callable(getattr(target, "predictor", None)) and callable(
            getattr(target, "run_batch", None)):
        target.predictor(ctx)
        row = dict.fromkeys(getattr(target, "features", ()), WARM_TEXT)
        try:
            target.run_batch(ctx, [row])
        except Exception:  # a made-up row may not fit a tabular model: loading is what counts
            return "model loaded"
        return "model loaded and answered"
    guard = getattr(target, "guard", None)
    if guard is not None and callable(getattr(guard, "load", None)):
        guard.load()
        target.run(WARM_TEXT)
        return "rails loaded and checked"
    if hasattr(target, "index") and callable(getattr(target, "load", None)):
        target.load()
        target.run(WARM_TEXT)
        return "index opened and searched"
    load = getattr(target, "load", None)
    if callable(load):
        load()
        return "loaded"
    return None


def _warm_llm(llm: Any) -> str:
    # past caches and queues: a warm-up call is not an answer to cache or to count
    inner = llm
    while getattr(inner, "inner", None) is not None:
        inner = inner.inner
    inner.load()
    if getattr(inner, "provider", None) != "embedded":
        return "model loaded"
    inner.complete(WARM_TEXT, max_tokens=1)
    return "model loaded and answered"


def _unwrap(target: Any) -> Any:
    """The component behind a serving wrapper (a batched predictor step)."""
    component = getattr(target, "component", None)
    return component if component is not None and hasattr(target, "batcher") else target
