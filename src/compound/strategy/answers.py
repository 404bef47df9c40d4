"""What routers, chains and ensembles hand requests to, and what comes back.

A *handler* is the small interface every strategy works through: ``run(request, ctx)``
returns an :class:`Answer` (the value, the confidence it comes with, who answered, what it
cost). Three adapters make models into handlers:

* :class:`PredictorHandler`: a trained ML model; the answer is its label with the calibrated
  probability as confidence, and batches go through ``predict_batch``;
* :class:`LLMHandler`: an LLM with a prompt template and a parser for its output;
* :class:`FunctionHandler`: any function of the request (a rule, a lookup, a test double).

The review queue is a handler too (:class:`~compound.strategy.review.ReviewHandler`): its
answer is "pending review" with the item's id.

Example:
    >>> handler = FunctionHandler("upper", lambda text: text.upper(), confidence=1.0)
    >>> answer = handler.run("hi")
    >>> answer.value, answer.source, answer.confidence
    ('HI', 'upper', 1.0)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from compound.intelligence.llm import LLM, Completion
    from compound.intelligence.ml.types import Prediction
    from compound.strategy.fallback import FallbackChain
    from compound.workflow.context import RunContext

Status = Literal["answered", "review"]


@dataclass(frozen=True, slots=True)
class Answer:
    """One handler's answer to one request.

    Attributes:
        value: the answer (a label, a text, parsed JSON); None while pending review.
        source: the handler that produced it (a model or component name).
        confidence: how sure the source is, in [0, 1]; None when it cannot say.
        status: ``answered``, or ``review`` when a person must decide.
        version: the model version that answered, when known.
        cost_usd: what producing it cost, from the cost table.
        tokens: prompt + completion tokens it used.
        latency_s: seconds it took.
        review_id: the review item, for ``status == "review"``.
        raw: the underlying :class:`Prediction` or :class:`Completion`.
    """

    value: Any
    source: str
    confidence: float | None = None
    status: Status = "answered"
    version: str | int | None = None
    cost_usd: float = 0.0
    tokens: int = 0
    latency_s: float = 0.0
    review_id: str | None = None
    raw: Any = field(default=None, repr=False, compare=False)


@runtime_checkable
class Handler(Protocol):
    """Anything a strategy can send a request to."""

    name: str

    def run(self, request: Any, ctx: RunContext | None = None) -> Answer:
        """Answer one request."""
        ...


def run_batch(handler: Handler, requests: Sequence[Any], ctx: RunContext | None = None
              ) -> list[Answer]:
    """Answer many requests, through the handler's own ``run_batch`` when it has one."""
    batch = getattr(handler, "run_batch", None)
    if batch is not None:
        answers: list[Answer] = batch(requests, ctx)
        return answers
    return [handler.run(request, ctx) for request in requests]


class PredictorHandler:
    """A trained ML model as a handler.

    Args:
        name: names the source of answers (the model's name in the spec).
        predictor: anything with ``predict_batch(inputs) -> list[Prediction]`` (the ML
            layer's :class:`~compound.intelligence.ml.predictor.Predictor`).

    Example:
        >>> from compound.intelligence.ml.types import Prediction
        >>> class Fixed:
        ...     def predict_batch(self, inputs):
        ...         return [Prediction(label="card_arrival", probability=0.97, version=3)
        ...                 for _ in inputs]
        >>> PredictorHandler("intent", Fixed()).run("where is my card?").confidence
        0.97
    """

    def __init__(self, name: str, predictor: Any) -> None:
        self.name = name
        self.predictor = predictor

    def run(self, request: Any, ctx: RunContext | None = None) -> Answer:
        return self.run_batch([request], ctx)[0]

    def run_batch(self, requests: Sequence[Any], ctx: RunContext | None = None
                  ) -> list[Answer]:
        start = time.perf_counter()
        predictions: list[Prediction] = self.predictor.predict_batch(list(requests))
        each = (time.perf_counter() - start) / max(1, len(requests))
        return [
            Answer(value=p.label if p.label is not None else p.value, source=self.name,
                   confidence=p.probability, version=p.version, latency_s=each, raw=p)
            for p in predictions
        ]


def render_request(template: str, request: Any) -> str:
    """``template`` (one ``{input}`` field) filled with ``request``; a record (a dataclass or
    pydantic model, such as a workflow's input) is shown as the JSON of its fields.

    Example:
        >>> render_request("Intent of: {input}", {"question": "lost card"})
        'Intent of: {"question":"lost card"}'
    """
    from compound.json_values import to_json
    from compound.orchestration.context.template import Template, renderable

    value = request
    if renderable(type(request)) is not None:
        value = to_json(request, where="the request")
    return Template.parse(template, where="the router's template").render({"input": value})


def _text(completion: Completion) -> Any:
    return completion.data if completion.data is not None else completion.text.strip()


class LLMHandler:
    """An LLM as a handler: the request fills a prompt template, a parser reads the output.

    Args:
        name: names the source of answers.
        llm: the model, or a fallback chain of models.
        template: the prompt with one ``{input}`` placeholder, or a function of the request
            returning the prompt (a string or messages).
        parse: turns the completion into the answer's value; raise
            :class:`~compound.intelligence.llm.InvalidResponse` for unusable output. Default:
            the parsed JSON when a schema was asked for, else the stripped text.
        confidence: reads a confidence from the completion (None: the LLM does not say).
        params: generation settings for every call (``max_tokens``, ``json_schema``, ...).

    Example:
        >>> from compound.intelligence.llm import ScriptedLLM
        >>> handler = LLMHandler("llm", ScriptedLLM([" card_arrival "]),
        ...                      template="Intent of: {input}")
        >>> handler.run("where is my card?").value
        'card_arrival'
    """

    def __init__(
        self,
        name: str,
        llm: LLM | FallbackChain,
        *,
        template: str | Callable[[Any], Any] = "{input}",
        parse: Callable[[Completion], Any] = _text,
        confidence: Callable[[Completion], float | None] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.llm = llm
        self.template = template
        self.parse = parse
        self.confidence = confidence
        self.params = dict(params or {})

    def prompt(self, request: Any) -> Any:
        """The prompt sent for ``request``."""
        if callable(self.template):
            return self.template(request)
        return render_request(self.template, request)

    def run(self, request: Any, ctx: RunContext | None = None) -> Answer:
        prompt = self.prompt(request)
        from compound.strategy.fallback import FallbackChain

        if isinstance(self.llm, FallbackChain):
            result = self.llm.run(prompt, ctx, **self.params)
            completion = result.completion
            return Answer(
                value=self.parse(completion), source=f"{self.name}:{result.option}",
                confidence=(self.confidence(completion) if self.confidence
                            else result.confidence),
                version=completion.model, cost_usd=completion.cost_usd,
                tokens=completion.usage.total_tokens, latency_s=completion.latency_s,
                raw=completion,
            )
        if ctx is not None:
            completion = ctx.complete(self.llm, prompt, **self.params)
        else:
            completion = self.llm.complete(prompt, **self.params)
        return Answer(
            value=self.parse(completion), source=self.name,
            confidence=self.confidence(completion) if self.confidence else None,
            version=getattr(self.llm, "version", None) or self.llm.model,
            cost_usd=completion.cost_usd, tokens=completion.usage.total_tokens,
            latency_s=completion.latency_s, raw=completion,
        )


class FunctionHandler:
    """A plain function of the request as a handler.

    Args:
        name: names the source of answers.
        function: request -> value.
        confidence: a fixed confidence for its answers (None: unknown).
    """

    def __init__(self, name: str, function: Callable[[Any], Any], *,
                 confidence: float | None = None) -> None:
        self.name = name
        self.function = function
        self.confidence = confidence

    def run(self, request: Any, ctx: RunContext | None = None) -> Answer:
        start = time.perf_counter()
        value = self.function(request)
        return Answer(value=value, source=self.name, confidence=self.confidence,
                      latency_s=time.perf_counter() - start)
