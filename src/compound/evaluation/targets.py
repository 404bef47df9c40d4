"""Targets: what an eval runs on each example. A small protocol and its adapters.

A target has a ``name``, a ``fingerprint()`` (changes whenever what it would answer may change:
the model, its settings, the prompt, the code) and a ``run(inputs)`` returning a
:class:`TargetOutput`. Adapters:

* :class:`LLMTarget`: an LLM with a prompt template; outputs go through the
  :class:`~compound.evaluation.cache.OutputCache`.
* :class:`FunctionTarget`: any Python callable, sync or async, returning text, a mapping with
  ``text`` (and ``contexts``), or a :class:`TargetOutput`.
* :class:`~compound.evaluation.workflow_target.WorkflowTarget`: a workflow of the system.
* :class:`~compound.evaluation.component_targets.PredictorTarget` and
  :class:`~compound.evaluation.component_targets.RailTarget`: a trained model, a guardrail.

Example:
    >>> from compound.intelligence.llm import ScriptedLLM
    >>> target = LLMTarget(ScriptedLLM(["4"]), prompt="Q: {question}")
    >>> target.run({"question": "2+2?"}).text
    '4'
    >>> FunctionTarget(lambda inputs: inputs["question"].upper()).run({"question": "hi"}).text
    'HI'
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import inspect
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from compound.evaluation.datasets import canonical_json, content_hash

if TYPE_CHECKING:
    from compound.evaluation.cache import OutputCache
    from compound.intelligence.llm import LLM


@dataclass(frozen=True)
class TargetOutput:
    """What a target produced for one example.

    Attributes:
        text: the answer as text (what text metrics score).
        data: structured output (parsed JSON), if any.
        contexts: the passages the answer should rest on (for groundedness).
        latency_s: how long producing it took (the original call's, when cached).
        cost_usd: what producing it cost (the original call's, when cached).
        cached: whether it came from the output cache.
        structured: the type of a structured output (a record with no ``text`` field, a
            list) whose ``text`` is only its rendering as JSON; None for text, numbers and
            labels. Metrics comparing labels or numbers refuse such an output.
    """

    text: str
    data: Any = None
    contexts: tuple[str, ...] = ()
    latency_s: float | None = None
    cost_usd: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False
    structured: str | None = None


class MissingInput(KeyError):
    """The prompt template needs a field the example does not have."""

    def __str__(self) -> str:
        return str(self.args[0])


@runtime_checkable
class Target(Protocol):
    """Anything an eval can run: ``run(inputs) -> TargetOutput``."""

    name: str

    def fingerprint(self) -> str:
        """Changes whenever the answers may change."""
        ...

    def run(self, inputs: Mapping[str, Any]) -> TargetOutput:
        """The output for one example's inputs."""
        ...


def render_template(template: str, inputs: Mapping[str, Any]) -> str:
    """Fill ``{field}`` fields (the template language of
    :mod:`compound.orchestration.context.template`): lists become paragraphs, ``{{`` is a
    literal brace.

    Raises:
        MissingInput: a field names something ``inputs`` lacks.

    Example:
        >>> render_template("Context: {ctx}\\nQ: {q}", {"ctx": ["a", "b"], "q": "why?"})
        'Context: a\\n\\nb\\nQ: why?'
    """
    from compound.orchestration.context.template import MissingField, Template

    parsed = Template.parse(template, where="the prompt template")
    for key in parsed.fields:
        if key not in inputs:
            raise MissingInput(
                f"the prompt template uses '{{{key}}}' but the example has no field '{key}' "
                f"(it has: {', '.join(inputs) or 'none'})"
            )
    try:
        return parsed.render(inputs)
    except MissingField as exc:
        raise MissingInput(str(exc)) from None


def as_text(value: Any) -> str:
    """A field as prompt text: passages as paragraphs, ``{title, text}`` as ``title: text``."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        if "text" in value:
            title = value.get("title")
            return f"{title}: {value['text']}" if title else str(value["text"])
        return canonical_json(value)
    if isinstance(value, Sequence):
        return "\n\n".join(as_text(v) for v in value)
    return str(value)


def as_passages(value: Any) -> tuple[str, ...]:
    """Passages from a field: a list of strings or ``{title, text}`` objects, or one string."""
    if value is None:
        return ()
    if isinstance(value, str | Mapping):
        return (as_text(value),)
    return tuple(as_text(v) for v in value)


class LLMTarget:
    """An LLM answering a prompt built from each example.

    Args:
        llm: the model.
        prompt: template with ``{field}`` placeholders.
        system: an optional system message.
        json_schema: constrain the answer to this schema; ``output`` picks the answer field.
        output: with ``json_schema``, the field of the parsed JSON taken as the answer text.
        contexts: the input field holding the passages the answer should rest on.
        max_tokens: most tokens to generate (default: the model's).
        temperature: 0 is greedy (default: the model's).
        seed: fixed so sampling is reproducible.
        cache: where outputs are cached; None calls the model every time.
        name: how reports name this target.
    """

    def __init__(
        self,
        llm: LLM,
        *,
        prompt: str = "{input}",
        system: str | None = None,
        json_schema: Mapping[str, Any] | None = None,
        output: str | None = None,
        contexts: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        seed: int = 0,
        cache: OutputCache | None = None,
        name: str = "llm",
    ) -> None:
        self.llm = llm
        self.prompt = prompt
        self.system = system
        self.json_schema = dict(json_schema) if json_schema is not None else None
        self.output = output
        self.contexts = contexts
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.seed = seed
        self.cache = cache
        self.name = name

    def load(self) -> None:
        """Load the model's weights before the clock starts."""
        self.llm.load()

    @property
    def max_concurrency(self) -> int | None:
        """1 for an in-process model: it runs one call at a time anyway, and parallel rows
        would only queue, adding the wait to each row's measured latency."""
        return 1 if self.llm.provider == "embedded" else None

    def _call_params(self) -> dict[str, Any]:
        return {"max_tokens": self.max_tokens, "temperature": self.temperature,
                "seed": self.seed, "json_schema": self.json_schema}

    def fingerprint(self) -> str:
        from compound.evaluation.cache import llm_identity

        params = dataclasses.asdict(self.llm.params(**self._call_params()))
        return content_hash([llm_identity(self.llm), params, self.prompt, self.system,
                             self.output, self.contexts])

    def run(self, inputs: Mapping[str, Any]) -> TargetOutput:
        from compound.intelligence.llm import Message

        messages = [Message("user", render_template(self.prompt, inputs))]
        if self.system:
            messages.insert(0, Message("system", self.system))
        params = self._call_params()
        if self.cache is not None:
            completion, cached = self.cache.complete(self.llm, messages, **params)
        else:
            completion, cached = self.llm.complete(messages, **params), False
        text = completion.text.strip()
        if self.output is not None and isinstance(completion.data, Mapping):
            text = as_text(completion.data.get(self.output, ""))
        passages = as_passages(inputs.get(self.contexts)) if self.contexts else ()
        return TargetOutput(
            text=text, data=completion.data, contexts=passages,
            latency_s=completion.latency_s, cost_usd=completion.cost_usd,
            prompt_tokens=completion.usage.prompt_tokens,
            completion_tokens=completion.usage.completion_tokens, cached=cached,
        )


class FunctionTarget:
    """Your own system as a Python callable ``fn(inputs, **options)``, sync or async.

    It may return text, a mapping with ``text`` (and ``contexts``, ``data``, ``cost_usd``), or
    a :class:`TargetOutput`. Latency is measured around the call.

    Args:
        fn: the callable.
        options: keyword arguments passed on every call.
        name: how reports name it (default: the function's qualified name).
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        options: Mapping[str, Any] | None = None,
        name: str | None = None,
    ) -> None:
        self.fn = fn
        self.options = dict(options or {})
        self.name = name or getattr(fn, "__qualname__", type(fn).__name__)

    def fingerprint(self) -> str:
        try:
            code = inspect.getsource(self.fn)
        except (OSError, TypeError):
            code = repr(self.fn)
        return content_hash([self.name, code, self.options])

    def run(self, inputs: Mapping[str, Any]) -> TargetOutput:
        start = time.perf_counter()
        value = self.fn(dict(inputs), **self.options)
        if inspect.isawaitable(value):
            value = asyncio.run(_await(value))
        return as_output(value, latency_s=time.perf_counter() - start)


async def _await(value: Any) -> Any:
    return await value


def as_output(value: Any, *, latency_s: float | None = None) -> TargetOutput:
    """Normalise what a callable returned into a :class:`TargetOutput`."""
    if isinstance(value, TargetOutput):
        if value.latency_s is None and latency_s is not None:
            return dataclasses.replace(value, latency_s=latency_s)
        return value
    if isinstance(value, Mapping) and "text" in value:
        return TargetOutput(
            text=as_text(value["text"]), data=value.get("data"),
            contexts=as_passages(value.get("contexts")), latency_s=latency_s,
            cost_usd=float(value.get("cost_usd", 0.0)),
        )
    if isinstance(value, str):
        return TargetOutput(text=value, latency_s=latency_s)
    text, structured = answer_of(value)
    return TargetOutput(text=text, data=value, latency_s=latency_s, structured=structured)


def answer_of(value: Any) -> tuple[str, str | None]:
    """The answer text of an output, and the type of ``value`` when it is structured (a
    record or list whose text is only its JSON rendering), else None.

    Example:
        >>> answer_of("yes"), answer_of(3), answer_of({"text": "hi", "n": 1})
        (('yes', None), ('3', None), ('hi', None))
        >>> answer_of({"label": "card", "probability": 0.9})
        ('{"label":"card","probability":0.9}', 'dict')
    """
    if value is None:
        return "", None
    if isinstance(value, str):
        return value, None
    if isinstance(value, bool | int | float):
        return str(value), None
    text = value.get("text") if isinstance(value, Mapping) else getattr(value, "text", None)
    if isinstance(text, str):
        return text, None
    return as_text(value), type(value).__name__


def fingerprint_of(target: Any) -> str:
    """A target's fingerprint, or a hash of its repr for objects without one."""
    method = getattr(target, "fingerprint", None)
    if callable(method):
        return str(method())
    return hashlib.sha256(repr(target).encode()).hexdigest()[:12]
