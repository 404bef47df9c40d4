"""Signals become few-shot examples: the answers people stood behind, for an LLM step's prompt.

Three sources, for the step named by the prompt (``support.answer``: step ``answer`` of
workflow ``support``):

* **edited answers**: a user rewrote the model's answer (signal ``edit``); the edit is the
  example's answer;
* **accepted answers**: thumbs up, a rating of ``min_rating`` or more, an accepted
  suggestion, as the run's latest verdict; the model's own answer is the example's;
* **review resolutions** (stream ``review:resolutions``): a reviewer approved the proposed
  answer or corrected it; the final label, when it is text, is the example's answer.

The example's input is the request the step sent (the last user message of the step's model
call, read from the run's trace, as ``compound export`` reads it: :func:`answer_signals`), so
it is what the model saw, rendered through the template of the version then in production.
Every text goes through the PII rail and the secrets recognisers (:class:`Redactor`) before it
becomes an example; the same input twice is one example (a reviewer's answer outranks a
user's, a later signal an earlier one).

Example:
    >>> from compound.store import MemoryStore
    >>> store = MemoryStore()
    >>> span = {"kind": "model", "name": "chat", "span_id": "2", "parent_id": "1",
    ...         "start_ns": 1, "end_ns": 2, "attributes": {
    ...             "gen_ai.input.messages": [{"role": "user", "content": "Card late?"}],
    ...             "gen_ai.output.messages": [{"role": "assistant", "content": "Wait."}]}}
    >>> step = {"kind": "step", "name": "answer", "span_id": "1", "parent_id": None,
    ...         "start_ns": 0, "end_ns": 3, "attributes": {"compound.step": "answer"}}
    >>> _ = store.append("trace:r1", {"spans": [step, span]})
    >>> store.put("runs", "r1", {"workflow": "support"})
    >>> _ = store.append("feedback", {"run_id": "r1", "kind": "edit", "workflow": "support",
    ...     "value": "Wait 5 days, then mail help@bank.example."})
    >>> pool = signal_examples(store, "support.answer")
    >>> pool.examples[0].input, pool.examples[0].output, pool.origins
    ('Card late?', 'Wait 5 days, then mail <EMAIL_ADDRESS>.', {'edited': 1})
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from compound.errors import UserError
from compound.lifecycle.export import Redactor, answer_signals, model_call
from compound.orchestration.prompts import PromptExample

if TYPE_CHECKING:
    from compound.store import Store

RESOLUTIONS = "review:resolutions"


@dataclass(frozen=True)
class SignalPool:
    """The examples one prompt's signals give, and what gave none.

    Attributes:
        prompt: the prompt (``workflow.step``).
        examples: one per distinct input, oldest first.
        origins: examples by where they came from (``edited``, ``accepted``, ``review``).
        skipped: signals that gave no example, by reason.
        redacted: texts the PII rail or the secrets recognisers changed.
    """

    prompt: str
    examples: list[PromptExample] = field(default_factory=list)
    origins: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    redacted: int = 0


def split_name(prompt: str) -> tuple[str, str]:
    """``("support", "answer")`` for ``support.answer``.

    Raises:
        UserError: the name is not ``WORKFLOW.STEP``.
    """
    workflow, dot, step = prompt.partition(".")
    if not dot or not workflow or not step:
        raise UserError(f"a prompt is named WORKFLOW.STEP (support.answer); received {prompt!r}")
    return workflow, step


def signal_examples(store: Store, prompt: str, *, redactor: Redactor | None = None,
                    min_rating: int = 4) -> SignalPool:
    """The few-shot examples the store's signals give prompt ``prompt`` (see the module
    docstring).

    Args:
        store: where runs, traces, feedback and review resolutions are.
        prompt: ``workflow.step``.
        redactor: how texts are redacted (default: every PII entity, and secrets).
        min_rating: the lowest rating that accepts an answer.
    """
    workflow, step = split_name(prompt)
    redactor = redactor or Redactor()
    signals, skipped_by = answer_signals(store, workflow=workflow, step=step,
                                         min_rating=min_rating)
    skipped: Counter[str] = Counter(skipped_by)
    found: list[tuple[str, str, str]] = []  # (origin, request, answer), oldest first
    for signal in signals:
        request = _request(signal.messages)
        if request is None:
            skipped["model call without a user message"] += 1
            continue
        found.append((signal.origin, request, signal.target))
    found += _resolutions(store, workflow, step, skipped)
    by_input: dict[str, tuple[str, str]] = {}
    for origin, request, answer in found:
        key = redactor.text(request)
        if origin != "review" and by_input.get(key, ("",))[0] == "review":
            continue  # a reviewer's answer outranks a user's
        by_input.pop(key, None)
        by_input[key] = (origin, redactor.text(answer.strip()))
    origins: Counter[str] = Counter(origin for origin, _ in by_input.values())
    examples = [PromptExample(input=request, output=answer)
                for request, (_, answer) in by_input.items() if answer]
    return SignalPool(prompt, examples, dict(origins), dict(skipped), redactor.changed)


def _request(messages: list[dict[str, Any]]) -> str | None:
    """The request of a model call: its last user message."""
    for message in reversed(messages):
        if message.get("role") == "user" and isinstance(message.get("content"), str):
            return str(message["content"])
    return None


def _resolutions(store: Store, workflow: str, step: str, skipped: Counter[str]
                 ) -> list[tuple[str, str, str]]:
    """``("review", request, answer)`` for each approved or corrected review item of a run of
    ``workflow`` whose trace holds ``step``'s model call, proposed by that step (its source,
    or its answer), and whose final answer is text."""
    found = []
    for record in store.read(RESOLUTIONS):
        data = record.data
        if not isinstance(data, Mapping):
            skipped["malformed review resolution (not an object)"] += 1
            continue
        run_id = data.get("run_id")
        run = store.get("runs", str(run_id)) if run_id else None
        if not isinstance(run, Mapping) or run.get("workflow") != workflow:
            continue  # another workflow's, or not traced to a run: not this prompt's
        if data.get("action") not in ("approve", "correct"):
            skipped["review rejected (no answer)"] += 1
            continue
        label = data.get("label")
        if not isinstance(label, str) or not label.strip():
            skipped["review resolution whose answer is not text"] += 1
            continue
        call = model_call(store, str(run_id), step, strict=True)
        if call is None:
            skipped[f"no model call of step '{step}' in the run's trace"] += 1
            continue
        proposed = data.get("proposed")
        if data.get("source") != step and not (
                isinstance(proposed, str) and proposed.strip() == call[1].strip()):
            continue  # a resolution of another step's output (a classifier's label)
        request = _request(call[0])
        if request is None:
            skipped["model call without a user message"] += 1
            continue
        found.append(("review", request, label))
    return found
