"""One node of a workflow: a function or component, its typed inputs and output, and how it
runs (condition, time limit, retries, loop, fan-out).

What a step may wrap (the contract for a component's ``run()``). :class:`Step` reads its
target by these rules, in this order, once, when it is built; anything else is a
:class:`~compound.errors.UserError` naming what was received:

1. **A workflow** (:class:`~compound.workflow.graph.Workflow`, or anything that is a
   :class:`Subflow`): the fields of its input type are the step's inputs, its output step's
   type the step's output. This is how a loop spans several steps; in a loop, an input field
   named ``previous`` receives the workflow's own last output (None on the first iteration),
   so each round can read what the last one did.
2. **A component that declares its shape**: an object with both ``input_types`` (a mapping
   from input name to type) and ``output_type``, and a method ``run(ctx, **inputs)``
   (optionally ``arun(ctx, **inputs)``, a coroutine, used in async runs). It always receives
   the run context first. This is for components whose inputs are only known once they are
   configured (an LLM step's come from its prompt template).
3. **A tool** (:class:`~compound.orchestration.tools.Tool`): its function runs directly, with
   the tool's time limit and side effects.
4. **A component with a typed run()**: an object (not a function, not a class) with a
   callable ``run``, and optionally ``arun``. The parameters of ``run`` are the inputs, its
   return annotation the output.
5. **A function**, sync or ``async``, or any other callable (a class builds its instances):
   its parameters are the inputs, its return annotation the output type (a dataclass or
   pydantic model, or any type).

In rules 3 to 5, a parameter named ``ctx`` (or typed ``RunContext``) receives the run
context; one named ``previous`` receives the step's own last output in a loop (None on the
first iteration); ``*args`` and ``**kwargs`` receive nothing. A ``run`` (or function) that is
``async def`` runs on an event loop, in a sync run too.

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Draft:
    ...     text: str
    >>> def write(topic: str, previous: Draft | None = None) -> Draft:
    ...     return Draft((previous.text + "!") if previous else topic)
    >>> step = Step(write, loop=Loop(max_iterations=3, until="len(output.text) > 6"))
    >>> sorted(step.params), step.output_type.__name__
    (['topic'], 'Draft')
"""

from __future__ import annotations

import asyncio
import inspect
import time
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from compound.conditions import Condition
from compound.errors import UserError
from compound.orchestration.workers import Workers

if TYPE_CHECKING:
    from compound.workflow.context import RunContext
    from compound.workflow.tracing import Span

Predicate = Callable[[Any], Any]


@dataclass(frozen=True)
class Loop:
    """Repeat a step until a condition holds, at most ``max_iterations`` times.

    Args:
        max_iterations: the limit; required, so that no loop can run forever.
        until: a function of the step's output, or an expression over ``output`` (and earlier
            steps' outputs), e.g. ``"output.score >= 0.8"``. None: run all iterations.
    """

    max_iterations: int
    until: Callable[[Any], Any] | str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.max_iterations, int) or self.max_iterations < 1:
            raise UserError(
                f"a loop needs max_iterations of at least 1; received {self.max_iterations!r}. "
                "Every loop has a limit, so that a workflow cannot run forever"
            )


@dataclass(frozen=True)
class Param:
    """One input of a step: its declared type and default."""

    name: str
    type: Any
    default: Any = inspect.Parameter.empty

    @property
    def required(self) -> bool:
        return self.default is inspect.Parameter.empty


class Subflow:
    """A workflow as a step of another (rule 1 in the module docstring).

    :class:`~compound.workflow.graph.Workflow` is one; the interface lives here because the
    graph module imports this one, not the other way round.
    """

    output_type: Any

    def input_fields(self) -> dict[str, Any]:
        """The step's inputs: the fields of the workflow's input type."""
        raise NotImplementedError

    def _run_as_step(self, ctx: RunContext | None = None, **fields: Any) -> Any:
        """Run inside the enclosing run (no record of its own); the output step's output."""
        raise NotImplementedError

    async def _arun_as_step(self, ctx: RunContext | None = None, **fields: Any) -> Any:
        raise NotImplementedError


def _is_context(name: str, annotation: Any) -> bool:
    return name == "ctx" or getattr(annotation, "__name__", None) == "RunContext"


class Step:
    """A step of a workflow: what runs, and how.

    Args:
        target: a function, a component with ``run()``, or a workflow.
        name: unique within the workflow; the function's name by default.
        needs: steps that must finish first. None (the default) means the previous step in
            the list; ``[]`` means none (the step reads only the workflow input).
        inputs: where parameters come from, as ``{"param": "step.field"}``, ``"step"`` (its
            whole output) or ``"input.field"``. Unmapped parameters are matched by name.
        when: run only if this holds: a function of the outputs so far (a mapping by step
            name, ``input`` included) or an expression such as ``"route.kind == 'faq'"``.
            A skipped step's dependants are skipped too, unless they accept None.
        timeout_s: the longest one attempt may take.
        retries: how many more attempts after a failure (runtime failures only: a user
            error, such as a wrong argument, is not retried).
        retry_delay_s: wait before the first retry; doubles after each.
        loop: repeat the step (see :class:`Loop`).
        map_over: the name of a list-typed parameter to fan out over: the step runs once per
            item (concurrently up to ``concurrency``) and its output is the list of results.
        concurrency: how many fan-out items run at once.
    """

    def __init__(
        self,
        target: Any,
        *,
        name: str | None = None,
        needs: Sequence[str] | None = None,
        inputs: Mapping[str, str] | None = None,
        when: Callable[[Mapping[str, Any]], Any] | str | None = None,
        timeout_s: float | None = None,
        retries: int = 0,
        retry_delay_s: float = 0.0,
        loop: Loop | None = None,
        map_over: str | None = None,
        concurrency: int = 1,
    ) -> None:
        self.target = target
        self.name = name or _default_name(target)
        self.needs = None if needs is None else tuple(needs)
        self.inputs = dict(inputs or {})
        self.timeout_s = timeout_s
        self.retries = retries
        self.retry_delay_s = retry_delay_s
        self.loop = loop
        self.map_over = map_over
        self.concurrency = max(1, concurrency)
        where = f"step '{self.name}'"
        self.when: Callable[[Mapping[str, Any]], Any] | None = (
            Condition.parse(when, where=f"{where} when") if isinstance(when, str) else when
        )
        until = loop.until if loop is not None else None
        self.until: Callable[[Mapping[str, Any]], Any] | None = None
        if isinstance(until, str):
            self.until = Condition.parse(until, where=f"{where} loop.until")
        elif until is not None:
            self.until = _output_only(until)
        if retries < 0:
            raise UserError(f"{where}: retries must be 0 or more; received {retries}")
        if timeout_s is not None and timeout_s <= 0:
            raise UserError(f"{where}: timeout_s must be positive; received {timeout_s}")
        self._introspect()
        if map_over is not None and map_over not in self.params:
            raise UserError(
                f"{where}: map_over={map_over!r} is not one of its parameters "
                f"({', '.join(self.params) or 'none'})"
            )
        self._workers: Workers | None = None

    # -- reading the target -----------------------------------------------------------------

    def _introspect(self) -> None:
        """Read the target by the rules in the module docstring, each in one place."""
        target = self.target
        self.context_param: str | None = None
        self.side_effects = False
        self.takes_previous = False
        self.is_async = False
        if isinstance(target, Subflow):  # rule 1
            fields = target.input_fields()
            if self.loop is not None and "previous" in fields:
                self.takes_previous = True
                self.previous_type = fields.pop("previous")
            self.params = {name: Param(name, tp) for name, tp in fields.items()}
            self.output_type: Any = target.output_type
            self.context_param = "ctx"
            self._call: Callable[..., Any] = target._run_as_step
            self._acall: Callable[..., Any] | None = target._arun_as_step
            return
        if hasattr(target, "input_types") and hasattr(target, "output_type"):  # rule 2
            self._read_declared(target)
            return
        from compound.orchestration.tools import Tool

        if isinstance(target, Tool):  # rule 3
            self.side_effects = target.side_effects
            if self.timeout_s is None:
                self.timeout_s = target.timeout_s
            self._read_signature(target.function, None)
        elif isinstance(target, type):  # rule 5, unless it is a component's class
            if callable(getattr(target, "run", None)):
                raise UserError(
                    f"step '{self.name}': received the class {target.__name__}, which has a "
                    f"run() method; a step runs a component, so pass an instance "
                    f"({target.__name__}(...))")
            self._read_signature(target, None)
        elif not inspect.isroutine(target) and hasattr(target, "run"):  # rule 4
            run = target.run
            if not callable(run):
                raise UserError(
                    f"step '{self.name}': {type(target).__name__}.run is "
                    f"{type(run).__name__}, not a method; a component's run() is a method "
                    "taking the step's inputs as parameters")
            self._read_signature(run, getattr(target, "arun", None))
        elif callable(target):  # rule 5
            self._read_signature(target, None)
        else:
            raise UserError(
                f"step '{self.name}': received {type(target).__name__} {target!r:.80}, which "
                "cannot run; a step wraps a function, a component with a run() method, a "
                "component declaring input_types, output_type and run(ctx, **inputs), a "
                "Tool, or a Workflow (see compound.workflow.step)")

    def _read_declared(self, target: Any) -> None:
        """Rule 2: inputs and output as the component declares them."""
        declared = target.input_types
        run = getattr(target, "run", None)
        if not isinstance(declared, Mapping) or not callable(run):
            problem = ("its input_types is not a mapping of input names to types"
                       if not isinstance(declared, Mapping) else "it has no run() method")
            raise UserError(
                f"step '{self.name}': {type(target).__name__} declares input_types and "
                f"output_type, but {problem}; such a component has input_types "
                "({name: type}), output_type and run(ctx, **inputs)")
        self.params = {n: Param(n, t) for n, t in declared.items()}
        self.output_type = target.output_type
        self.context_param = "ctx"
        arun = getattr(target, "arun", None)
        if inspect.iscoroutinefunction(run):
            run, arun = None, run
        self.is_async = run is None
        self._call = run  # type: ignore[assignment]
        self._acall = arun

    def _read_signature(self, function: Callable[..., Any], afunction: Callable[..., Any] | None
                        ) -> None:
        """Rules 3 to 5: inputs and output from the signature of ``function``."""
        if inspect.iscoroutinefunction(function):
            function, afunction = None, function  # type: ignore[assignment]
        reference = function or afunction
        assert reference is not None
        try:
            hints = typing.get_type_hints(reference)
        except Exception:
            hints = getattr(reference, "__annotations__", {})
        try:
            signature = inspect.signature(reference)
        except (TypeError, ValueError):
            raise UserError(
                f"step '{self.name}': cannot read the parameters of {reference!r:.80}; wrap it "
                "in a function with typed parameters") from None
        self.params = {}
        for param in signature.parameters.values():
            annotation = hints.get(param.name, Any)
            if _is_context(param.name, annotation):
                self.context_param = param.name
            elif param.name == "previous":
                self.takes_previous = True
                self.previous_type = annotation
            elif param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            else:
                self.params[param.name] = Param(param.name, annotation, param.default)
        self.output_type = hints.get("return", Any)
        self.is_async = function is None
        self._call = function  # type: ignore[assignment]
        self._acall = afunction

    @property
    def workers(self) -> Workers:
        if self._workers is None:
            self._workers = Workers()
        return self._workers

    # -- running: one attempt, retries, time limit ------------------------------------------

    def call(self, kwargs: dict[str, Any], ctx: RunContext | None, span: Span | None = None
             ) -> Any:
        """Run once with retries and the time limit (sync)."""
        if self.context_param is not None:
            kwargs = {**kwargs, self.context_param: ctx}
        attempt = 0
        while True:
            try:
                return self._attempt(kwargs)
            except Exception as exc:
                delay = self.retry_delay_s * (2 ** attempt)
                if attempt >= self.retries or not _retryable(exc) or _too_late(delay):
                    raise
                _note_retry(span, attempt, exc)
                time.sleep(delay)
                attempt += 1

    def _attempt(self, kwargs: dict[str, Any]) -> Any:
        if self.is_async:
            return self.workers.call(_run_coroutine, (self._acall, kwargs, self.timeout_s),
                                     timeout_s=self.timeout_s or 1e9, what=f"step '{self.name}'")
        if self.timeout_s is None:
            return self._call(**kwargs)
        return self.workers.call(self._call, (), kwargs, timeout_s=self.timeout_s,
                                 what=f"step '{self.name}'")

    async def acall(self, kwargs: dict[str, Any], ctx: RunContext | None,
                    span: Span | None = None) -> Any:
        """Run once with retries and the time limit, on the event loop."""
        if self.context_param is not None:
            kwargs = {**kwargs, self.context_param: ctx}
        attempt = 0
        while True:
            try:
                return await self._aattempt(kwargs)
            except Exception as exc:
                delay = self.retry_delay_s * (2 ** attempt)
                if attempt >= self.retries or not _retryable(exc) or _too_late(delay):
                    raise
                _note_retry(span, attempt, exc)
                await asyncio.sleep(delay)
                attempt += 1

    async def _aattempt(self, kwargs: dict[str, Any]) -> Any:
        from compound.orchestration.workers import CallTimeout

        if self._acall is not None:
            try:
                return await asyncio.wait_for(self._acall(**kwargs), self.timeout_s)
            except TimeoutError:
                raise CallTimeout(f"step '{self.name}'", self.timeout_s or 0.0) from None
        if self.timeout_s is None:
            return self._call(**kwargs)
        return await self.workers.acall(self._call, (), kwargs, timeout_s=self.timeout_s,
                                        what=f"step '{self.name}'")

    def __repr__(self) -> str:
        return f"Step({self.name!r})"


def _default_name(target: Any) -> str:
    name = getattr(target, "name", None)
    if isinstance(name, str) and name:
        return name
    return str(getattr(target, "__name__", type(target).__name__.lower()))


def _output_only(until: Callable[[Any], Any]) -> Callable[[Mapping[str, Any]], Any]:
    def check(values: Mapping[str, Any]) -> Any:
        return until(values["output"])

    return check


def _retryable(exc: BaseException) -> bool:
    return not isinstance(exc, UserError) and getattr(exc, "retryable", True) is not False


def _too_late(delay_s: float) -> bool:
    """Whether a retry after ``delay_s`` would start past the deadline the step runs under
    (a served run's, an enclosing step's): retries share that one deadline."""
    from compound.intelligence.llm.deadline import Deadline

    deadline = Deadline.current()
    return deadline is not None and (deadline.done() or delay_s >= deadline.remaining())


def _note_retry(span: Span | None, attempt: int, exc: BaseException) -> None:
    if span is not None:
        span.set("compound.step.retries", attempt + 1)
        span.set(f"compound.step.attempt_{attempt + 1}_error", f"{type(exc).__name__}: {exc}")


def _run_coroutine(function: Callable[..., Any], kwargs: dict[str, Any],
                   timeout_s: float | None) -> Any:
    return asyncio.run(asyncio.wait_for(function(**kwargs), timeout_s))
