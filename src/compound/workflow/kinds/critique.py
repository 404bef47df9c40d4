"""The built-in ``critique`` step: check a draft against written principles, and revise it.

A step with ``uses: critique`` (nothing to declare: it is built in) takes an LLM step's draft,
the question and the passages the draft was written from, and runs at most ``max_rounds``
rounds. In each round the LLM critiques the current text against the ``principles`` (the
rubric, written in the spec) and the passages, as JSON ``{"ok": ..., "problems": [...]}``;
when it names problems, the LLM rewrites the text to fix them, and the next round critiques
the rewrite. The rounds stop at the first ``ok``, at a critique that cannot be read or names
no problem (a problem is at least two words, not a placeholder such as ``"ok"``), at a
revision that is discarded (empty, unchanged, only restating the problems, repeating itself,
or more than ``max_growth`` times the length of the text it revises), or at ``max_rounds``.

The step's output, :class:`Critiqued`, reads like an LLM step's (``text``, ``citations``
passed through from the draft, ``prompt_tokens``, ``completion_tokens``), so a later step that
read the draft reads it instead. The rounds are recorded on a ``critique`` span of the run's
trace (redacted like every input and output), from which ``compound export --format
preference`` makes a chosen/rejected pair: the revised answer over the draft.

Example (the part of a `compound.yaml` that drafts, then critiques and revises)::

    workflows:
      answer:
        input: {question: str}
        steps:
          - name: retrieve
            uses: docs
            inputs: {query: input.question}
          - name: context
            uses: context
            inputs: {passages: retrieve, question: input.question}
          - name: draft
            uses: llm
            options: {template: "{context}"}
          - name: critique
            uses: critique             # built in
            inputs: {draft: draft, question: input.question, passages: context}
            options:
              llm: llm                 # the LLM that critiques and revises (required)
              principles:              # the rubric, one principle a line
                - Every fact in the answer is stated in the sources.
                - The answer says what the customer should do next.
              max_rounds: 2

In Python:
    >>> from compound.intelligence.llm import ScriptedLLM
    >>> llm = ScriptedLLM(['{"ok": false, "problems": ["The fee is not in the sources."]}',
    ...                    "Withdrawals are free up to 200 GBP a month.",
    ...                    '{"ok": true, "problems": []}'])
    >>> step = CritiqueStep(llm, principles=["Only state facts from the sources."])
    >>> out = step.run(None, "Withdrawals are free up to 200 GBP, then 5 GBP each.",
    ...                question="Do ATM withdrawals cost anything?",
    ...                passages="Withdrawals are free up to 200 GBP a month.")
    >>> out.text, out.revised, out.rounds
    ('Withdrawals are free up to 200 GBP a month.', True, 2)
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from compound.datafiles import NotJSON, parse_json
from compound.errors import UserError
from compound.intelligence.llm.errors import InvalidResponse
from compound.intelligence.llm.types import Message
from compound.orchestration.context.template import Citation
from compound.workflow.context import RunContext

if TYPE_CHECKING:
    from compound.intelligence.llm import LLM
    from compound.workflow.adapters import AdapterRequest

OPTIONS = ("llm", "principles", "max_rounds", "max_tokens", "max_growth")
MAX_ROUNDS = 5  # more rounds only let a model drift further from its sources
DEFAULT_ROUNDS = 2
DEFAULT_GROWTH = 3.0
CRITIQUE_TOKENS = 96  # a verdict and a few short problems

#: the JSON a critique answers with (the embedded model is held to it by a grammar)
CRITIQUE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"ok": {"type": "boolean"},
                   "problems": {"type": "array", "items": {"type": "string"}}},
    "required": ["ok", "problems"],
}
CRITIC = ("You review a customer support answer. Check it against the rules and the "
          "sources; say whether it follows every rule, and name each problem briefly.")
REVISER = ("You rewrite a customer support answer so that it fixes the problems found, "
           "using only the sources. Reply with the new answer only.")

_OK_WORDS = re.compile(r"^\W*(ok|okay|yes|lgtm|no problems?|looks good)\b", re.IGNORECASE)
_OK_FIELD = re.compile(r'"ok"\s*:\s*(true|false)', re.IGNORECASE)
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
_ITEM = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)]|problem\s*\d*\s*:)\s*(.+)$", re.IGNORECASE)
_PREFIX = re.compile(r"^\s*(?:[-*\u2022]\s*)?(?:(?:revised answer|new answer|answer)\s*:\s*)?",
                     re.IGNORECASE)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_PLACEHOLDERS = {"ok problems", "no problems", "none found", "not applicable"}


@dataclass(frozen=True)
class CritiqueRound:
    """One round: the text critiqued, what the critique said, and the revision it led to.

    Attributes:
        text: the text critiqued (the draft in the first round).
        ok: the verdict: True (follows the principles), False (problems found), None (the
            critique could not be read).
        problems: the problems named.
        critique: the critique as the model wrote it.
        revision: the revised text kept, or None (no revision, or one discarded).
        note: why the rounds stopped here, when they did for a reason other than ``ok``.
    """

    text: str
    ok: bool | None
    problems: tuple[str, ...] = ()
    critique: str = ""
    revision: str | None = None
    note: str = ""


@dataclass(frozen=True)
class Critiqued:
    """What the critique step hands on: the final text, read like an LLM step's output.

    Attributes:
        text: the revised text, or the draft when no revision was kept.
        draft: the draft as it came in.
        revised: whether ``text`` differs from the draft.
        rounds: how many critiques ran.
        critiques: each round (see :class:`CritiqueRound`).
        citations: the draft's citations, passed through.
        data: the draft's parsed JSON, passed through (an LLM step's ``data``).
        prompt_tokens, completion_tokens: the step's own model calls, summed.
        calls: how many model calls the step made.
    """

    text: str
    draft: str
    revised: bool
    rounds: int
    critiques: tuple[CritiqueRound, ...] = ()
    citations: tuple[Citation, ...] = ()
    data: Any = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0


def read_critique(text: str) -> tuple[bool | None, tuple[str, ...]]:
    """The verdict and problems in a critique, read defensively.

    JSON ``{"ok": ..., "problems": [...]}`` first; then, for output cut short, an ``"ok":``
    field and the complete strings after it; then plain text: a first word such as ``OK``,
    or bulleted or numbered lines as problems. None when nothing can be read.

    Example:
        >>> read_critique('{"ok": false, "problems": ["no fee named"]}')
        (False, ('no fee named',))
        >>> read_critique('{"ok": false, "problems": ["too long", "the fee is inv')
        (False, ('too long',))
        >>> read_critique("OK.")
        (True, ())
        >>> read_critique("zzz zzz")
        (None, ())
    """
    raw = (text or "").strip()
    try:
        value = parse_json(raw)
    except NotJSON:
        value = None
    if isinstance(value, Mapping) and isinstance(value.get("ok"), bool):
        problems = value.get("problems")
        items = problems if isinstance(problems, list) else [problems] if problems else []
        return value["ok"], _clean(str(p) for p in items if isinstance(p, str | int | float))
    field = _OK_FIELD.search(raw)
    if field is not None:
        tail = raw[field.end():]
        start = tail.find("[")
        found = _STRING.findall(tail[start:]) if start >= 0 else []
        return field.group(1).lower() == "true", _clean(_unescape(s) for s in found)
    if _OK_WORDS.match(raw):
        return True, ()
    items = [m.group(1) for line in raw.splitlines() if (m := _ITEM.match(line))]
    if items:
        return False, _clean(items)
    return None, ()


def _unescape(value: str) -> str:
    try:
        return str(json.loads(f'"{value}"'))
    except ValueError:
        return value


def _clean(items: Any) -> tuple[str, ...]:
    """The problems worth acting on: a small model fills the list with the schema's own words
    ("ok", "problems") or placeholders ("...", "none"); a problem names at least two words."""
    seen = dict.fromkeys(" ".join(str(item).split()) for item in items)
    return tuple(item for item in seen
                 if len(re.findall(r"\w+", item)) >= 2
                 and item.strip(" .!-*").lower() not in _PLACEHOLDERS)[:5]


def _repeats(text: str) -> bool:
    """Whether ``text`` loops, as small models do: half its sentences or more are repeats."""
    sentences = [" ".join(s.lower().split()) for s in _SENTENCE.split(text) if s.strip()]
    return len(sentences) >= 3 and len(set(sentences)) <= len(sentences) / 2


def passages_text(value: Any) -> str:
    """The sources as text: a built context or prompt (its ``text``), a retrieval result (its
    hits numbered), a list of passages or texts, or a string as it is."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    text = getattr(value, "text", None)
    if isinstance(text, str):
        return text
    hits = getattr(value, "hits", None)
    items = hits if hits is not None else value
    if isinstance(items, Sequence):
        return "\n".join(f"[{n}] {getattr(item, 'text', item)}"
                         for n, item in enumerate(items, start=1))
    return str(value)


class CritiqueStep:
    """Critiques a draft against principles and revises it, in bounded rounds.

    Args:
        llm: the model that critiques and revises.
        principles: the rubric, one principle an item.
        max_rounds: the most critiques (1 to 5).
        max_tokens: generation limit of a revision (a critique gets at least 96 tokens).
        max_growth: a revision longer than this many times the text it revises is discarded.
        name: the step's name, for messages.
    """

    def __init__(self, llm: LLM, *, principles: Sequence[str], max_rounds: int = DEFAULT_ROUNDS,
                 max_tokens: int | None = None, max_growth: float = DEFAULT_GROWTH,
                 name: str = "critique") -> None:
        self.llm = llm
        self.principles = tuple(str(p).strip() for p in principles if str(p).strip())
        self.max_rounds = max_rounds
        self.max_tokens = max_tokens
        self.max_growth = max_growth
        self.name = name
        if not self.principles:
            raise UserError(f"step '{name}': the critique step needs at least one principle")
        if not 1 <= max_rounds <= MAX_ROUNDS:
            raise UserError(f"step '{name}': max_rounds must be 1 to {MAX_ROUNDS}; received "
                            f"{max_rounds!r}")

    def run(self, ctx: RunContext | None, draft: Any, question: str = "",
            passages: Any = None) -> Critiqued:
        """Critique ``draft`` and revise it until it passes or the rounds run out.

        Args:
            ctx: the run context (model calls are traced and charged through it).
            draft: an LLM step's output (its ``text`` and ``citations``) or a text.
            question: what the draft answers.
            passages: what the draft should rest on: a built context, a retrieval result, a
                list of passages or texts, or a text.
        """
        context = ctx if ctx is not None else RunContext()
        original = str(getattr(draft, "text", draft) if draft is not None else "").strip()
        sources = passages_text(passages).strip()
        with context.span("critique", kind="critique") as span:
            result = self._rounds(context, original, str(question or ""), sources, draft)
            if span is not None:
                span.set("compound.critique.question", str(question or ""))
                span.set("compound.critique.draft", original)
                span.set("compound.critique.output", result.text)
                span.set("compound.critique.rounds", [asdict(r) for r in result.critiques])
                span.set("compound.critique.revised", result.revised)
        return result

    def _rounds(self, ctx: RunContext, original: str, question: str, sources: str,
                draft: Any) -> Critiqued:
        current, rounds, usage = original, [], [0, 0, 0]
        while current and len(rounds) < self.max_rounds:
            raw, ok, problems = self._critique(ctx, current, question, sources, usage)
            if ok is None or (ok is False and not problems):
                note = ("the critique could not be read" if ok is None
                        else "the critique named no problem")
                rounds.append(CritiqueRound(current, ok, problems, raw, None, note))
                break
            if ok:
                rounds.append(CritiqueRound(current, True, problems, raw))
                break
            revision, note = self._revise(ctx, current, question, sources, problems, usage)
            rounds.append(CritiqueRound(current, False, problems, raw, revision, note))
            if revision is None:
                break
            current = revision
        return Critiqued(
            text=current, draft=original, revised=current != original, rounds=len(rounds),
            critiques=tuple(rounds), citations=tuple(getattr(draft, "citations", ()) or ()),
            data=getattr(draft, "data", None), prompt_tokens=usage[0],
            completion_tokens=usage[1], calls=usage[2])

    def _brief(self, text: str, question: str, sources: str) -> str:
        rules = "\n".join(f"- {p}" for p in self.principles)
        if sources and not sources.lower().startswith("sources"):
            sources = f"Sources:\n{sources}"
        parts = [sources or "Sources: none given.",
                 f"Customer question: {question}" if question else "",
                 f"Answer: {text}", f"Rules:\n{rules}"]
        return "\n\n".join(p for p in parts if p)

    def _call(self, ctx: RunContext, messages: list[Message], usage: list[int],
              **params: Any) -> str:
        try:
            completion = ctx.complete(self.llm, messages, **params)
        except InvalidResponse as exc:  # output that does not parse: read what there is
            usage[2] += 1
            return exc.raw
        usage[0] += completion.usage.prompt_tokens
        usage[1] += completion.usage.completion_tokens
        usage[2] += 1
        if completion.data is not None:
            return json.dumps(completion.data)
        return completion.text

    def _critique(self, ctx: RunContext, text: str, question: str, sources: str,
                  usage: list[int]) -> tuple[str, bool | None, tuple[str, ...]]:
        prompt = (self._brief(text, question, sources)
                  + '\n\nDoes the answer follow every rule? Reply with JSON: "ok" is true '
                    'when it does, false when it breaks a rule; "problems" lists each rule '
                    "broken and how.")
        tokens = max(CRITIQUE_TOKENS, self.max_tokens or 0)
        raw = self._call(ctx, [Message("system", CRITIC), Message("user", prompt)], usage,
                         json_schema=CRITIQUE_SCHEMA, max_tokens=tokens)
        ok, problems = read_critique(raw)
        return raw, ok, problems

    def _revise(self, ctx: RunContext, text: str, question: str, sources: str,
                problems: tuple[str, ...], usage: list[int]) -> tuple[str | None, str]:
        found = "\n".join(f"- {p}" for p in problems)
        prompt = (self._brief(text, question, sources)
                  + f"\n\nProblems:\n{found}\n\nRewrite the answer to fix these problems.")
        params: dict[str, Any] = {"max_tokens": self.max_tokens} if self.max_tokens else {}
        raw = self._call(ctx, [Message("system", REVISER), Message("user", prompt)], usage,
                         **params)
        revision = _PREFIX.sub("", raw.strip()).strip().strip('"').strip()
        if not revision:
            return None, "the revision was empty"
        if " ".join(revision.split()).lower() == " ".join(text.split()).lower():
            return None, "the revision changed nothing"
        if set(re.findall(r"\w+", revision.lower())) <= set(
                re.findall(r"\w+", " ".join(problems).lower())):
            return None, "the revision was discarded: it only restates the problems"
        if _repeats(revision):
            return None, "the revision was discarded: it repeats itself"
        if len(revision) > self.max_growth * max(len(text), 40):
            return None, (f"the revision was discarded: {len(revision)} characters, more "
                          f"than {self.max_growth:g} times the {len(text)} it revises")
        return revision, ""


def critique_step(request: AdapterRequest) -> CritiqueStep:
    """The ``critique`` step adapter (registered under the ``compound.steps`` entry points).

    Raises:
        OptionError: an unknown option, no ``llm`` or one that is not an LLM of the system,
            no principles, or ``max_rounds``, ``max_tokens`` or ``max_growth`` out of bounds.
    """
    from compound.specfile import did_you_mean
    from compound.workflow.adapters import OptionError, shared_llm

    step = request.step.name
    options = dict(request.step.options)
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise OptionError(
            f"step '{step}': option '{unknown[0]}' is not an option of the critique step"
            f"{did_you_mean(unknown[0], OPTIONS)}; its options: {', '.join(OPTIONS)}",
            option=unknown[0])
    llms = request.system.llms()
    model = options.get("llm")
    if model is None:
        raise OptionError(
            f"step '{step}': the critique step needs option 'llm', the LLM that critiques and "
            f"revises; LLMs of the system: {', '.join(llms) or 'none'}", option="llm")
    if model not in llms:
        raise OptionError(
            f"step '{step}': llm '{model}' is not an LLM of the system"
            f"{did_you_mean(str(model), llms)}; LLMs: {', '.join(llms) or 'none'}",
            option="llm")
    principles = options.get("principles")
    if (not isinstance(principles, list) or not principles
            or not all(isinstance(p, str) and p.strip() for p in principles)):
        raise OptionError(
            f"step '{step}': principles must be a list of rules, one text each, such as "
            f"[Every fact is stated in the sources.]; received {principles!r}",
            option="principles")
    rounds = options.get("max_rounds", DEFAULT_ROUNDS)
    if not isinstance(rounds, int) or isinstance(rounds, bool) or not 1 <= rounds <= MAX_ROUNDS:
        raise OptionError(f"step '{step}': max_rounds must be a whole number from 1 to "
                          f"{MAX_ROUNDS}; received {rounds!r}", option="max_rounds")
    tokens = options.get("max_tokens")
    if tokens is not None and (not isinstance(tokens, int) or isinstance(tokens, bool)
                               or tokens < 1):
        raise OptionError(f"step '{step}': max_tokens must be a whole number of at least 1; "
                          f"received {tokens!r}", option="max_tokens")
    growth = options.get("max_growth", DEFAULT_GROWTH)
    if not isinstance(growth, int | float) or isinstance(growth, bool) or growth < 1:
        raise OptionError(f"step '{step}': max_growth must be a number of at least 1; "
                          f"received {growth!r}", option="max_growth")
    return CritiqueStep(shared_llm(request, str(model)), principles=principles,
                        max_rounds=rounds, max_tokens=tokens, max_growth=float(growth),
                        name=step)
