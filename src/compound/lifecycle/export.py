"""`compound export`: fine-tuning data for the LLM, from what users did with its answers.

Two formats, one JSON object a line:

* ``sft``: chat examples, ``{"messages": [system..., user..., assistant]}`` (the format
  OpenAI's and most open fine-tuning jobs read). The prompt is what the model saw (the
  messages recorded in the run's trace); the assistant turn is the user's edited answer when
  there is one, else the model's answer when the user accepted it (thumbs up, a rating of
  ``min_rating`` or more, an accepted suggestion, as the run's latest verdict; a retry
  counts against it).
* ``preference``: chosen/rejected pairs, ``{"prompt": [...], "chosen": [assistant],
  "rejected": [assistant]}`` (TRL's conversational preference format, for DPO): from edits
  (the edit over the model's answer), from verdicts (for the same prompt, an accepted answer
  over a rejected one), from the built-in ``critique`` step (the revised answer over the
  draft it revised, read from the ``critique`` spans of the runs' traces; the prompt is what
  the model saw when it wrote the draft), and from pairwise judgements given as
  :class:`JudgedPair` (the evaluation judges do not store theirs; pass the verdicts of
  :func:`~compound.evaluation.judges.pairwise.compare_pairwise` in).

Every text goes through the PII rail (the spec's ``pii`` guardrail entities, or all of them)
and the secrets recognisers before it is written; exact duplicates are written once. The
model call used is the last one of the run, or of the step the signal names.

Example:
    >>> from compound.store import MemoryStore
    >>> store = MemoryStore()
    >>> span = {"kind": "model", "name": "chat", "span_id": "1", "parent_id": None,
    ...         "start_ns": 1, "end_ns": 2, "attributes": {
    ...             "gen_ai.input.messages": [{"role": "user", "content": "Card late?"}],
    ...             "gen_ai.output.messages": [{"role": "assistant", "content": "Wait."}]}}
    >>> _ = store.append("trace:r1", {"spans": [span]})
    >>> _ = store.append("feedback", {"run_id": "r1", "kind": "edit",
    ...     "value": "Wait 5 days, then mail help@bank.example."})
    >>> export_records(store, "sft").records[0]["messages"][-1]["content"]
    'Wait 5 days, then mail <EMAIL_ADDRESS>.'
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from compound.errors import UserError

if TYPE_CHECKING:
    from compound.evaluation.judges.pairwise import PairwiseVerdict
    from compound.production.rails.pii import PIIRail
    from compound.store import Store
    from compound.system import System

Format = Literal["sft", "preference"]
FORMATS: tuple[Format, ...] = ("sft", "preference")
Message = dict[str, Any]


@dataclass(frozen=True)
class JudgedPair:
    """One pairwise judgement to turn into a preference pair.

    Attributes:
        prompt: the question (a string) or the messages the answers reply to.
        answer_a: one answer; answer_b: the other.
        verdict: the judge's verdict (its ``winner`` is ``a``, ``b`` or ``tie``).
    """

    prompt: str | Sequence[Message]
    answer_a: str
    answer_b: str
    verdict: PairwiseVerdict


@dataclass(frozen=True)
class ExportResult:
    """The records of one export, and how they came about.

    Attributes:
        format: ``sft`` or ``preference``.
        records: the JSON objects to write, one a line.
        sources: records by where they came from (``edited``, ``accepted``, ``edit``,
            ``verdicts``, ``critique``, ``pairwise``).
        duplicates: records dropped as exact duplicates (after redaction).
        redacted: texts the PII rail or the secrets recognisers changed.
        skipped: runs or judgements that gave nothing, by reason.
    """

    format: Format
    records: list[dict[str, Any]]
    sources: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    redacted: int = 0
    skipped: dict[str, int] = field(default_factory=dict)


class Redactor:
    """Personal data (through the PII rail) and secrets out of exported text.

    Args:
        rail: the PII rail to apply (default: every entity the rail knows).

    Example:
        >>> Redactor().text("call +44 20 7946 0958")
        'call <PHONE_NUMBER>'
    """

    def __init__(self, *, rail: PIIRail | None = None) -> None:
        self.rail = rail
        self.changed = 0

    @classmethod
    def for_system(cls, system: System | None) -> Redactor:
        """The spec's ``pii`` guardrail's entities (all of them when it declares none)."""
        from compound.production.rails.pii import PIIRail

        entities = None
        for rail in (system.guardrails.values() if system is not None else ()):
            if rail.type == "pii" and rail.entities:
                entities = rail.entities
        return cls(rail=PIIRail(entities=entities))

    def text(self, value: str) -> str:
        """``value`` with personal data and secrets replaced by their type."""
        from compound.privacy.secrets import find_secrets
        from compound.production.rails.pii import PIIRail
        from compound.production.rails.verdict import RailInput, apply_redactions

        if self.rail is None:
            self.rail = PIIRail()
        spans = [*self.rail.check(RailInput(value)).redactions, *find_secrets(value)]
        if not spans:
            return value
        redacted = apply_redactions(value, spans)
        self.changed += redacted != value
        return redacted

    def value(self, value: Any) -> Any:
        """Every string inside ``value`` (lists and mappings too), redacted."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value

    def messages(self, messages: Iterable[Message]) -> list[Message]:
        """Chat messages with their content and tool-call arguments redacted."""
        return [{k: self.value(v) if k in ("content", "tool_calls") else v
                 for k, v in m.items()} for m in messages]


def export_records(
    store: Store,
    format: Format,
    *,
    workflow: str | None = None,
    judged: Iterable[JudgedPair] = (),
    redactor: Redactor | None = None,
    min_rating: int = 4,
) -> ExportResult:
    """Fine-tuning records from the store's signals (see the module docstring).

    Args:
        store: where runs, traces and feedback are.
        format: ``sft`` or ``preference``.
        workflow: only runs of this workflow.
        judged: pairwise judgements to add as preference pairs.
        redactor: how texts are redacted (default: every PII entity, and secrets).
        min_rating: the lowest rating that accepts an answer (a rating of 2 or less rejects).

    Raises:
        UserError: an unknown format, or a rating threshold outside 1 to 5.
    """
    if format not in FORMATS:
        raise UserError(f"export format must be one of {', '.join(FORMATS)}; received "
                        f"{format!r}")
    if not 1 <= min_rating <= 5:
        raise UserError(f"min_rating must be 1 to 5; received {min_rating}")
    redactor = redactor or Redactor()
    runs = _signals_by_run(store, workflow)
    skipped: Counter[str] = Counter()
    sources: Counter[str] = Counter()
    found: list[tuple[str, dict[str, Any]]] = []
    answered: dict[str, list[tuple[bool, str]]] = {}  # prompt -> (accepted?, answer)
    prompts: dict[str, list[Message]] = {}
    for run_id, signals in runs.items():
        edit, verdict = _edit_and_verdict(signals, min_rating)
        if edit is None and verdict is None:
            continue
        step = (edit or {}).get("step") or (verdict or {}).get("step")
        call = model_call(store, run_id, step)
        if call is None:
            skipped["no model call recorded in the run's trace"] += 1
            continue
        messages, answer = call
        if format == "sft":
            if edit is not None:
                found.append(("edited", {"messages": [*messages, _assistant(edit["value"])]}))
            elif verdict is not None and verdict["accepted"]:
                found.append(("accepted", {"messages": [*messages, _assistant(answer)]}))
            continue
        if edit is not None and edit["value"].strip() != answer.strip():
            found.append(("edit", _pair(messages, edit["value"], answer)))
        if verdict is not None:
            key = json.dumps(messages, sort_keys=True)
            prompts[key] = messages
            answered.setdefault(key, []).append((verdict["accepted"], answer))
    if format == "preference":
        for key, answers in answered.items():
            good = dict.fromkeys(a for ok, a in answers if ok)
            bad = dict.fromkeys(a for ok, a in answers if not ok and a not in good)
            found += [("verdicts", _pair(prompts[key], g, b)) for g in good for b in bad]
        found += [("critique", pair) for pair in _critique_pairs(store, workflow)]
        for judgement in judged:
            pair = _judged_pair(judgement)
            if pair is None:
                skipped["pairwise judgement with no winner"] += 1
            else:
                found.append(("pairwise", pair))
    records, duplicates = _redact_and_dedupe(found, redactor, sources)
    return ExportResult(format, records, dict(sources), duplicates, redactor.changed,
                        dict(skipped))


@dataclass(frozen=True)
class AnswerSignal:
    """An answer a user stood behind: they edited the model's answer, or accepted it.

    Attributes:
        run_id: the run.
        messages: what the model saw (the run's model call, from its trace), not redacted.
        answer: the model's answer.
        target: the edit, or the accepted answer.
        origin: ``edited`` or ``accepted``.
    """

    run_id: str
    messages: list[Message]
    answer: str
    target: str
    origin: Literal["edited", "accepted"]


def answer_signals(store: Store, *, workflow: str | None = None, step: str | None = None,
                   min_rating: int = 4) -> tuple[list[AnswerSignal], dict[str, int]]:
    """The runs whose answer a user edited or accepted, as ``sft`` export reads them (the
    run's latest edit wins over its verdict), with the signals that gave none, by reason.

    Args:
        store: where runs, traces and feedback are.
        workflow: only runs of this workflow.
        step: only the model call of this step (a run whose trace has none under it is
            skipped); the run's last model call when None.
        min_rating: the lowest rating that accepts an answer.
    """
    found: list[AnswerSignal] = []
    skipped: Counter[str] = Counter()
    for run_id, signals in _signals_by_run(store, workflow).items():
        edit, verdict = _edit_and_verdict(signals, min_rating)
        if edit is None and (verdict is None or not verdict["accepted"]):
            continue
        call = model_call(store, run_id, step, strict=step is not None)
        if call is None:
            skipped["no model call recorded in the run's trace" if step is None else
                    f"no model call of step '{step}' in the run's trace"] += 1
            continue
        messages, answer = call
        if edit is not None:
            found.append(AnswerSignal(run_id, messages, answer, edit["value"], "edited"))
        else:
            found.append(AnswerSignal(run_id, messages, answer, answer, "accepted"))
    return found, dict(skipped)


def write_jsonl(records: Iterable[Mapping[str, Any]], path: str | Path) -> int:
    """Write one JSON object a line (UTF-8); returns how many were written."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with target.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count


# -- reading the store --------------------------------------------------------------------------


def _signals_by_run(store: Store, workflow: str | None) -> dict[str, list[dict[str, Any]]]:
    runs: dict[str, list[dict[str, Any]]] = {}
    for record in store.read("feedback"):
        data = record.data
        if not isinstance(data, Mapping) or not isinstance(data.get("run_id"), str):
            continue
        if workflow is not None and data.get("workflow") != workflow:
            continue
        runs.setdefault(data["run_id"], []).append(dict(data))
    return runs


def _edit_and_verdict(signals: list[dict[str, Any]], min_rating: int
                      ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The run's latest edit, and its latest verdict (``accepted`` True or False)."""
    edit = verdict = None
    for s in signals:  # oldest first: the latest of each wins
        kind, value = s.get("kind"), s.get("value")
        if kind == "edit" and isinstance(value, str) and value.strip():
            edit = s
        accepted: bool | None = None
        if kind == "thumbs" and value in ("up", "down"):
            accepted = value == "up"
        elif kind == "rating" and isinstance(value, int) and (value >= min_rating or value <= 2):
            accepted = value >= min_rating
        elif kind == "suggestion" and value in ("accepted", "ignored"):
            accepted = value == "accepted"
        elif kind == "retry":
            accepted = False
        if accepted is not None:
            verdict = {**s, "accepted": accepted}
    return edit, verdict


def model_call(store: Store, run_id: str, step: str | None, *, strict: bool = False
                ) -> tuple[list[Message], str] | None:
    """The prompt messages and the answer of the run's last model call (under ``step`` when
    that step made one; with ``strict``, only under ``step``)."""
    from compound.workflow.tracing import read_spans

    spans = read_spans(store, run_id)
    calls = [s for s in spans if s.get("kind") == "model"
             and isinstance(s.get("attributes", {}).get("gen_ai.input.messages"), list)
             and s["attributes"].get("gen_ai.output.messages")]
    if step:
        by_id = {s.get("span_id"): s for s in spans}
        under = [s for s in calls if _under_step(s, by_id, step)]
        calls = under if strict else under or calls
    if not calls:
        return None
    return _call_of(calls[-1])


def _call_of(span: Mapping[str, Any]) -> tuple[list[Message], str] | None:
    """The prompt messages and the answer of one model span."""
    attributes = span.get("attributes", {})
    inputs, outputs = attributes.get("gen_ai.input.messages"), attributes.get(
        "gen_ai.output.messages")
    if not isinstance(inputs, list) or not isinstance(outputs, list) or not outputs:
        return None
    output = outputs[0]
    answer = output.get("content") if isinstance(output, Mapping) else None
    if not isinstance(answer, str):
        return None
    return [_message(m) for m in inputs if isinstance(m, Mapping)], answer


def _critique_pairs(store: Store, workflow: str | None) -> Iterable[dict[str, Any]]:
    """A pair for each critique step that revised its draft: the revision over the draft.

    The prompt is the one of the model call that wrote the draft (the last call outside the
    critique whose answer is the draft), else the question as a user message."""
    from compound.workflow.tracing import read_spans

    for stream in store.streams(prefix="trace:"):
        run_id = stream.split(":", 1)[1]
        spans = read_spans(store, run_id)
        revised = [s for s in spans if s.get("kind") == "critique"
                   and s.get("attributes", {}).get("compound.critique.revised") is True]
        if not revised or (workflow is not None and _workflow_of(store, run_id, spans)
                           != workflow):
            continue
        by_id = {s.get("span_id"): s for s in spans}
        for span in revised:
            attributes = span["attributes"]
            draft, final = (attributes.get("compound.critique.draft"),
                            attributes.get("compound.critique.output"))
            if not isinstance(draft, str) or not isinstance(final, str) or (
                    draft.strip() == final.strip()):
                continue
            prompt: list[Message] = [{"role": "user", "content": str(
                attributes.get("compound.critique.question") or "")}]
            for other in spans:
                call = _call_of(other) if other.get("kind") == "model" else None
                if (call is not None and call[1].strip() == draft.strip()
                        and not _under_span(other, by_id, span.get("span_id"))):
                    prompt = call[0]
            yield _pair(prompt, final, draft)


def _workflow_of(store: Store, run_id: str, spans: Sequence[Mapping[str, Any]]) -> Any:
    for span in spans:
        name = span.get("attributes", {}).get("compound.workflow")
        if name is not None:
            return name
    record = store.get("runs", run_id)
    return record.get("workflow") if isinstance(record, Mapping) else None


def _under_span(span: Mapping[str, Any], by_id: Mapping[Any, Any], ancestor: Any) -> bool:
    parent = by_id.get(span.get("parent_id"))
    while parent is not None:
        if parent.get("span_id") == ancestor:
            return True
        parent = by_id.get(parent.get("parent_id"))
    return False


def _under_step(span: Mapping[str, Any], by_id: Mapping[Any, Any], step: str) -> bool:
    parent = by_id.get(span.get("parent_id"))
    while parent is not None:
        if parent.get("attributes", {}).get("compound.step") == step:
            return True
        parent = by_id.get(parent.get("parent_id"))
    return False


def _message(data: Mapping[str, Any]) -> Message:
    message: Message = {"role": data.get("role"), "content": data.get("content") or ""}
    if data.get("tool_calls"):
        message["tool_calls"] = data["tool_calls"]
    for key in ("tool_call_id", "name"):
        if data.get(key) is not None:
            message[key] = data[key]
    return message


# -- building records ---------------------------------------------------------------------------


def _assistant(text: str) -> Message:
    return {"role": "assistant", "content": text}


def _pair(prompt: Sequence[Message], chosen: str, rejected: str) -> dict[str, Any]:
    return {"prompt": list(prompt), "chosen": [_assistant(chosen)],
            "rejected": [_assistant(rejected)]}


def _judged_pair(judgement: JudgedPair) -> dict[str, Any] | None:
    winner = getattr(judgement.verdict, "winner", None)
    if winner not in ("a", "b") or judgement.answer_a.strip() == judgement.answer_b.strip():
        return None
    prompt = ([{"role": "user", "content": judgement.prompt}]
              if isinstance(judgement.prompt, str) else [_message(m) for m in judgement.prompt])
    a, b = judgement.answer_a, judgement.answer_b
    return _pair(prompt, a, b) if winner == "a" else _pair(prompt, b, a)


def _redact_and_dedupe(found: list[tuple[str, dict[str, Any]]], redactor: Redactor,
                       sources: Counter[str]) -> tuple[list[dict[str, Any]], int]:
    seen: set[str] = set()
    records: list[dict[str, Any]] = []
    duplicates = 0
    for source, record in found:
        clean = {key: redactor.messages(value) for key, value in record.items()}
        key = json.dumps(clean, sort_keys=True, ensure_ascii=False)
        if key in seen or ("chosen" in clean and clean["chosen"] == clean["rejected"]):
            duplicates += 1
            continue
        seen.add(key)
        records.append(clean)
        sources[source] += 1
    return records, duplicates

