"""Request batching: many single requests answered by one batched model call.

* :class:`MicroBatcher`: callers on many threads each submit one input; a worker gathers
  inputs until ``max_batch`` are waiting or the oldest has waited ``max_wait_s``, then makes
  one call of a batch function (an ML model's ``predict_batch``, a provider's batch endpoint)
  and hands each caller its own result. Serving uses it so that concurrent requests share
  one vectorised prediction.
* :func:`complete_many`: many prompts to one LLM. A provider that supports batches (a
  ``complete_batch(prompts, **params)`` method) gets them in one call; any other gets them
  concurrently, at most ``max_concurrency`` at a time. Failures come back in place, as the
  typed error, so one bad prompt does not sink the rest.

Example:
    >>> with MicroBatcher(lambda xs: [x * 2 for x in xs], max_batch=8, max_wait_s=0.01) as b:
    ...     b.submit(21)
    42
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from compound.errors import UserError
from compound.intelligence.llm.errors import LLMError

if TYPE_CHECKING:
    from compound.intelligence.llm import LLM, Completion
    from compound.intelligence.llm.types import Prompt
    from compound.workflow.context import RunContext

In = TypeVar("In")
Out = TypeVar("Out")


class MicroBatcher(Generic[In, Out]):
    """Gather single calls into batches (see the module docstring).

    Args:
        function: inputs -> outputs, one output per input, in order.
        max_batch: the most inputs in one call.
        max_wait_s: the longest the first input of a batch waits for others.
        name: names the worker thread.

    Attributes:
        batches: how many batch calls were made (a measure of how much batching helped).
    """

    def __init__(self, function: Callable[[list[In]], Sequence[Out]], *, max_batch: int = 64,
                 max_wait_s: float = 0.005, name: str = "batcher") -> None:
        if max_batch < 1:
            raise UserError(f"max_batch must be at least 1; received {max_batch}")
        self.function = function
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.name = name
        self.batches = 0
        self._pending: list[tuple[In, Future[Out]]] = []
        self._condition = threading.Condition()
        self._closed = False
        self._worker: threading.Thread | None = None

    def start(self) -> MicroBatcher[In, Out]:
        """Start the worker (idempotent; :meth:`submit` starts it too)."""
        with self._condition:
            if self._worker is None:
                self._worker = threading.Thread(target=self._loop, name=f"compound-{self.name}",
                                                daemon=True)
                self._worker.start()
        return self

    def submit_async(self, item: In) -> Future[Out]:
        """Queue one input; the future resolves with its output."""
        future: Future[Out] = Future()
        with self._condition:
            if self._closed:
                raise UserError(f"batcher '{self.name}' is closed")
            self._pending.append((item, future))
            self._condition.notify()
        if self._worker is None:
            self.start()
        return future

    def submit(self, item: In, timeout_s: float | None = None) -> Out:
        """Queue one input and wait for its output (raising what the batch call raised)."""
        return self.submit_async(item).result(timeout=timeout_s)

    def _take(self) -> list[tuple[In, Future[Out]]] | None:
        with self._condition:
            while not self._pending and not self._closed:
                self._condition.wait()
            if not self._pending:
                return None
            deadline = time.monotonic() + self.max_wait_s
            while len(self._pending) < self.max_batch and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._condition.wait(remaining)
            batch = self._pending[: self.max_batch]
            del self._pending[: self.max_batch]
            return batch

    def _loop(self) -> None:
        while (batch := self._take()) is not None:
            try:
                outputs = list(self.function([item for item, _ in batch]))
                if len(outputs) != len(batch):
                    raise RuntimeError(f"batch function of '{self.name}' returned "
                                       f"{len(outputs)} outputs for {len(batch)} inputs")
            except BaseException as exc:  # every caller of the batch gets the error
                for _, future in batch:
                    future.set_exception(exc)
                continue
            self.batches += 1
            for (_, future), output in zip(batch, outputs, strict=True):
                future.set_result(output)

    def close(self) -> None:
        """Answer what is queued, then stop the worker."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()
        if self._worker is not None:
            self._worker.join()

    def __enter__(self) -> MicroBatcher[In, Out]:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def complete_many(llm: LLM, prompts: Sequence[Prompt], *, ctx: RunContext | None = None,
                  max_concurrency: int = 4, **params: Any) -> list[Completion | LLMError]:
    """Complete many prompts; see the module docstring.

    Returns:
        One entry per prompt, in order: its completion, or the typed error it failed with.
    """
    batch = getattr(llm, "complete_batch", None)
    if batch is not None:
        results: list[Completion | LLMError] = list(batch(list(prompts), **params))
        if ctx is not None:
            for result in results:
                if not isinstance(result, LLMError):
                    ctx.budget.charge(tokens=result.usage.total_tokens,
                                      cost_usd=result.cost_usd)
        return results

    def one(prompt: Prompt) -> Completion | LLMError:
        try:
            if ctx is not None:
                return ctx.complete(llm, prompt, **params)
            return llm.complete(prompt, **params)
        except LLMError as exc:
            return exc

    if max_concurrency <= 1 or len(prompts) <= 1:
        return [one(p) for p in prompts]
    with ThreadPoolExecutor(max_workers=max_concurrency,
                            thread_name_prefix="compound-many") as pool:
        return list(pool.map(one, prompts))
