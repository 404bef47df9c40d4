"""Batching ML predictions across concurrent requests.

A trained model scores a batch of inputs for about the price of one (vectorised encoding and
scoring), so a server should not call it once per request. :class:`AsyncBatcher` collects the
inputs that concurrent requests submit and makes one ``predict_batch`` call for all of them.
It is the event-loop counterpart of :class:`compound.strategy.batching.MicroBatcher` (whose
callers wait on threads): here each waiting request is a coroutine, not a blocked thread.


* when the model is idle, the first input waits at most ``max_wait_s`` for company (0: only
  the inputs submitted in the same event-loop turn go together, so a lone request pays
  nothing);
* while a batch is being scored, new inputs queue up and go together as the next batch, up
  to ``max_size``.

Where a batch is scored adapts to the model: on the batcher's own thread (the event loop
keeps serving meanwhile), unless recent batches took less than ``inline_below_s`` each, in
which case the hand-over to a thread would cost more than the scoring, and the batch is
scored on the loop. A model that slows down moves back to the thread.

:func:`batch_predictors` applies this to every predictor step of a workflow.

Example:
    >>> import asyncio
    >>> from compound.intelligence.ml import ScriptedPredictor
    >>> model = ScriptedPredictor(lambda text: "long" if len(text) > 5 else "short")
    >>> batcher = AsyncBatcher(model.predict_batch, max_size=8)
    >>> async def three():
    ...     return await asyncio.gather(*(batcher.submit(t) for t in ("hi", "hello there", "yo")))
    >>> [p.label for p in asyncio.run(three())], model.batches
    (['short', 'long', 'short'], [3])
"""

from __future__ import annotations

import asyncio
import time
import typing
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from compound.errors import RuntimeFailure

if TYPE_CHECKING:
    from compound.workflow.context import RunContext
    from compound.workflow.graph import Workflow

In = TypeVar("In")
Out = TypeVar("Out")


class AsyncBatcher(Generic[In, Out]):
    """Groups concurrent :meth:`submit` calls into batches for one function.

    Args:
        predict: scores a list of inputs, returning one output per input, in order.
        max_size: the most inputs in one call.
        max_wait_s: how long the first input waits for others when the model is idle.
        inline_below_s: score on the event loop while batches take less than this (0: always
            on the batcher's thread).
        on_batch: called with each batch's size (metrics).
        name: names the thread.
    """

    def __init__(self, predict: Callable[[list[In]], Sequence[Out]], *, max_size: int = 64,
                 max_wait_s: float = 0.0, inline_below_s: float = 0.0005,
                 on_batch: Callable[[int], None] | None = None, name: str = "model") -> None:
        self.predict = predict
        self.max_size = max_size
        self.max_wait_s = max_wait_s
        self.inline_below_s = inline_below_s
        self.batch_s: float | None = None  # moving average of a batch's scoring time
        self.on_batch = on_batch
        self.name = name
        self._pending: list[tuple[In, asyncio.Future[Out]]] = []
        self._busy = False
        self._timer: asyncio.Handle | None = None
        self._executor: ThreadPoolExecutor | None = None

    async def submit(self, item: In) -> Out:
        """Score ``item`` as part of the next batch."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Out] = loop.create_future()
        self._pending.append((item, future))
        if not self._busy:
            if len(self._pending) >= self.max_size:
                self._dispatch()
            elif self._timer is None:
                self._timer = (loop.call_later(self.max_wait_s, self._dispatch)
                               if self.max_wait_s > 0 else loop.call_soon(self._dispatch))
        return await future

    def _dispatch(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._busy:
            return
        batch = [(item, f) for item, f in self._pending[: self.max_size] if not f.done()]
        del self._pending[: self.max_size]
        if not batch:
            if self._pending:
                self._dispatch()
            return
        if self.on_batch is not None:
            self.on_batch(len(batch))
        items = [item for item, _ in batch]
        if self.batch_s is not None and self.batch_s < self.inline_below_s:
            try:
                results: Sequence[Out] | BaseException = self._timed(items)
            except Exception as exc:
                results = exc
            self._deliver(batch, results)
            if self._pending:
                asyncio.get_running_loop().call_soon(self._dispatch)
            return
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"compound-batch-{self.name}")
        self._busy = True
        running = asyncio.get_running_loop().run_in_executor(self._executor, self._timed, items)
        running.add_done_callback(lambda done: self._finished(batch, done))

    def _timed(self, items: list[In]) -> Sequence[Out]:
        start = time.perf_counter()
        try:
            return self.predict(items)
        finally:
            took = time.perf_counter() - start
            self.batch_s = took if self.batch_s is None else 0.8 * self.batch_s + 0.2 * took

    def _finished(self, batch: list[tuple[In, asyncio.Future[Out]]],
                  done: asyncio.Future[Sequence[Out]]) -> None:
        self._busy = False
        error = done.exception()
        self._deliver(batch, error if error is not None else done.result())
        if self._pending:
            self._dispatch()

    def _deliver(self, batch: list[tuple[In, asyncio.Future[Out]]],
                 results: Sequence[Out] | BaseException) -> None:
        if not isinstance(results, BaseException) and len(results) != len(batch):
            results = RuntimeFailure(
                f"model '{self.name}' returned {len(results)} predictions for a batch of "
                f"{len(batch)} inputs; predict_batch must return one per input, in order")
        for index, (_, future) in enumerate(batch):
            if future.done():  # the request went away while its batch was being scored
                continue
            if isinstance(results, BaseException):
                future.set_exception(results)
            else:
                future.set_result(results[index])

    def close(self) -> None:
        """Stop the batcher's thread (after the batch under way)."""
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None


class BatchedStep:
    """A batchable step whose calls from concurrent runs share batches.

    Args:
        component: the step's target (see :func:`batch_function` for the shapes).
        batcher: the batcher in front of its batch function.
    """

    def __init__(self, component: Any, batcher: AsyncBatcher[Any, Any]) -> None:
        self.component = component
        self.batcher = batcher
        self.name = getattr(component, "name", None) or type(component).__name__.lower()
        self.param: str | None = None  # None: the step takes named inputs (rows are dicts)
        if hasattr(component, "input_types"):
            self.input_types: dict[str, Any] = dict(component.input_types)
            self.output_type: Any = getattr(component, "output_type", Any)
            return
        import inspect

        run = component.run
        try:
            hints = typing.get_type_hints(run)
        except Exception:
            hints = {}
        params = [p for p in inspect.signature(run).parameters.values()
                  if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        self.param = params[0].name
        self.input_types = {self.param: hints.get(self.param, Any)}
        self.output_type = hints.get("return", Any)

    def run(self, ctx: RunContext | None, **inputs: Any) -> Any:
        if self.param is None:
            return self.component.run(ctx, **inputs)
        return self.component.run(inputs[self.param])

    async def arun(self, ctx: RunContext | None, **inputs: Any) -> Any:
        return await self.batcher.submit(inputs if self.param is None else inputs[self.param])


def batch_function(target: Any) -> Callable[[list[Any]], Sequence[Any]] | None:
    """How to score a batch for a step target, or None when it cannot batch.

    Three shapes batch: a component with ``predict_batch(inputs)`` and a one-input ``run``
    (a :class:`~compound.intelligence.ml.predictor.Predictor`); a step declaring
    ``run_batch(ctx, rows)`` (rows are the steps' inputs as dicts); and the ML layer's
    predictor step, whose ``predictor(ctx)`` is a Predictor (rows are its features).
    """
    import inspect

    run_batch = getattr(target, "run_batch", None)
    if callable(run_batch) and hasattr(target, "input_types"):
        return lambda rows: run_batch(None, rows)
    model_of = getattr(target, "predictor", None)
    if callable(model_of) and hasattr(target, "input_types") and hasattr(target, "features"):
        return lambda rows: model_of(None).predict_batch(rows)
    run = getattr(target, "run", None)
    if not callable(getattr(target, "predict_batch", None)) or not callable(run):
        return None
    params = [p for p in inspect.signature(run).parameters.values()
              if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    return target.predict_batch if len(params) == 1 else None


def is_predictor(target: Any) -> bool:
    """Whether a step target can score batches (see :func:`batch_function`)."""
    return batch_function(target) is not None


def batch_predictors(flow: Workflow, make_batcher: Callable[[Any], AsyncBatcher[Any, Any]]
                     ) -> Workflow:
    """``flow`` with each batchable step (see :func:`batch_function`) replaced by a
    :class:`BatchedStep` (same name, wiring and settings); ``flow`` itself when it has none."""
    from compound.workflow.graph import Workflow
    from compound.workflow.step import Step

    if not any(is_predictor(step.target) for step in flow.steps):
        return flow
    steps = []
    for step in flow.steps:
        if not is_predictor(step.target):
            steps.append(step)
            continue
        steps.append(Step(
            BatchedStep(step.target, make_batcher(step.target)), name=step.name,
            needs=step.needs, inputs=step.inputs, when=step.when, timeout_s=step.timeout_s,
            retries=step.retries, retry_delay_s=step.retry_delay_s, loop=step.loop,
            map_over=step.map_over, concurrency=step.concurrency,
        ))
    batched = Workflow(steps, name=flow.name, input=flow.input_type, output=flow.output_step,
                       description=flow.description, max_parallel=flow.max_parallel)
    batched.source = flow.source
    return batched
