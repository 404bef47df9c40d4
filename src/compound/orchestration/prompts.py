"""The prompt registry: a prompt (template, system message, instructions and few-shot examples)
is versioned like a model, promoted through the same gate, and rolled back the same way.

A prompt is named after the workflow step that uses it (``support.answer``: step ``answer``
of workflow ``support``). The step's ``template:`` and ``system:`` in the spec are its first
version (``source: spec``, registered by :func:`seed_from_spec`, which ``compound prompts``
runs); when the spec's text changes, a new spec version is registered. Other versions come from
people (``compound prompts``, :meth:`PromptRegistry.register`, ``source: cli``) or from the
improvement loop (``source: improve``), as candidates.

Which text a step sends (:class:`PromptSource`): the production version; the spec's text when
nothing is registered, or when the production version is a spec version and the spec has
changed since (an edited spec wins over what it said before, as it would without a registry).

A version's template must read the same fields as the spec's (they are the step's inputs, wired
when the workflow is built). Few-shot examples become earlier turns of the conversation, before
the request: each example's ``input`` (the template's fields, rendered through the version's
template, or text as it is) as a user message and its ``output`` as the assistant's answer;
``instructions`` follow the system message. A chat model sees them as turns; a base model's
prompt (:func:`compound.intelligence.llm.prompting.render_prompt`) shows them as
Question/Answer pairs before the open ``Answer:``.

In the store: collection ``prompts`` holds one document per version (key ``support.answer@2``),
``prompt_stages`` the production pointer and history of each prompt, and stream
``prompt_events`` the audit log.

Example:
    >>> from compound.store import MemoryStore
    >>> registry = PromptRegistry(MemoryStore())
    >>> first = registry.register("qa.answer", template="Answer briefly: {question}",
    ...                           source="spec")
    >>> second = registry.register("qa.answer", examples=[
    ...     {"input": {"question": "2+2?"}, "output": "4"}], note="one worked example")
    >>> second.ref, second.template, second.stage
    ('qa.answer@2', 'Answer briefly: {question}', 'candidate')
    >>> [m.content for m in prompt_messages(second, "Answer briefly: 3+3?")]
    ['Answer briefly: 2+2?', '4', 'Answer briefly: 3+3?']
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from compound.errors import StoreError, UserError
from compound.gating import GateCheck
from compound.intelligence.llm.types import Message
from compound.intelligence.versioning import (
    MeasuredVersion,
    PromotionDecision,
    Versioned,
    promote_measured,
)
from compound.orchestration.context.template import Template, TemplateValueError
from compound.specfile import did_you_mean

if TYPE_CHECKING:
    from compound.store import Store
    from compound.system import Criterion, System

VERSIONS, STAGES, EVENTS = "prompts", "prompt_stages", "prompt_events"
Source = Literal["spec", "improve", "cli"]
#: how often a step following production reads the registry again, in seconds
REFRESH_S = 5.0
_log = logging.getLogger(__name__)


class PromptExample(BaseModel):
    """One few-shot example: the input (the template's fields, or text) and the answer."""

    model_config = ConfigDict(extra="forbid")

    input: dict[str, Any] | str
    output: str


class PromptVersion(MeasuredVersion):
    """One registered version of a prompt (the document the store keeps).

    Attributes:
        template: the user message, in compound's template language.
        system: the system message ("" for none).
        instructions: more guidance, shown after the system message.
        examples: few-shot examples, shown before the request.
        source: who made it: ``spec``, ``improve`` or ``cli``.
        spec_sha: for a spec version, the hash of the spec's text it was made from.
        metrics: the eval metrics measured at its last promotion attempt.
        evaluated: which eval measured them, on how many rows, in which run.
    """

    template: str
    system: str = ""
    instructions: str = ""
    examples: list[PromptExample] = Field(default_factory=list)
    source: Source = "cli"
    spec_sha: str = ""

    def text(self) -> str:
        """Everything the model is shown, as text to compare versions by (:func:`diff`)."""
        parts = [f"template:\n{self.template}", f"system:\n{self.system}",
                 f"instructions:\n{self.instructions}"]
        for number, example in enumerate(self.examples, 1):
            shown = example.input if isinstance(example.input, str) else json.dumps(
                example.input, ensure_ascii=False, sort_keys=True)
            parts.append(f"example {number} input:\n{shown}\nexample {number} output:\n"
                         f"{example.output}")
        return "\n".join(parts) + "\n"


def spec_sha(template: str, system: str) -> str:
    """The hash of a step's prompt as the spec writes it."""
    return hashlib.sha256(json.dumps([template, system]).encode()).hexdigest()


def prompt_messages(version: PromptVersion, request: str, *,
                    template: Template | None = None) -> list[Message]:
    """The messages of a call with ``version``'s prompt: system message and instructions, the
    few-shot examples as earlier turns (:func:`prompt_prefix`), then ``request`` (the
    rendered template).

    Args:
        version: the prompt.
        request: the user message of this call.
        template: ``version.template`` parsed, when the caller has it already.
    """
    return [*prompt_prefix(version, template=template), Message("user", request)]


def prompt_prefix(version: PromptVersion, *, template: Template | None = None
                  ) -> tuple[Message, ...]:
    """What every call with ``version`` starts with: the system message and instructions,
    then the few-shot examples as earlier turns (the same for every request, so a step
    keeps it)."""
    system = "\n\n".join(t for t in (version.system.strip(), version.instructions.strip()) if t)
    messages = [Message("system", system)] if system else []
    parsed = template
    for example in version.examples:
        if isinstance(example.input, str):
            shown = example.input
        else:
            parsed = parsed or Template.parse(version.template, where=f"prompt {version.ref}")
            shown = parsed.render(example.input)
        messages += [Message("user", shown), Message("assistant", example.output)]
    return tuple(messages)


class PromptRegistry(Versioned[PromptVersion]):
    """Versions, stages, promotion and rollback of prompts, kept in a store.

    Args:
        store: the system's store (``open_store(system)``), or a ``MemoryStore`` in tests.
    """

    def __init__(self, store: Store) -> None:
        super().__init__(store, PromptVersion, kind="prompt",
                         collections=(VERSIONS, STAGES, EVENTS),
                         none_yet="none; 'compound prompts list SPEC' registers the spec's")

    def latest(self, name: str) -> PromptVersion | None:
        """The newest version of ``name``, or None."""
        found = self.versions(name)
        return found[-1] if found else None

    def known(self, name: str) -> None:
        """Raise a UserError naming the prompts there are when ``name`` has no version."""
        if self.store.get(STAGES, name) is None and not self.versions(name):
            names = self.names()
            raise UserError(f"no prompt named '{name}'{did_you_mean(name, names)}; prompts: "
                            f"{', '.join(names) or 'none'}")

    def register(
        self,
        name: str,
        *,
        template: str | None = None,
        system: str | None = None,
        instructions: str | None = None,
        examples: Sequence[PromptExample | Mapping[str, Any]] | None = None,
        note: str = "",
        source: Source = "cli",
        spec_sha: str = "",
    ) -> PromptVersion:
        """Store a new candidate version of ``name``; what is not given is the production
        version's (else the newest version's).

        Raises:
            UserError: the first version has no template, the template does not parse, or an
                example's input lacks one of its fields.
        """
        with self.store.transaction():
            base = self.production(name) or self.latest(name)
            if template is None:
                if base is None:
                    raise UserError(f"prompt '{name}' has no version yet: give its template")
                template = base.template
            parsed = Template.parse(template, where=f"prompt '{name}' template")
            record = PromptVersion(
                name=name, version=max((v.version for v in self.versions(name)), default=0) + 1,
                created=time.time(), template=template,
                system=system if system is not None else (base.system if base else ""),
                instructions=instructions if instructions is not None else (
                    base.instructions if base else ""),
                examples=[PromptExample.model_validate(e) for e in examples] if examples
                is not None else (list(base.examples) if base else []),
                note=note, source=source, spec_sha=spec_sha,
            )
            try:  # every example renders, or nothing is kept
                prompt_prefix(record, template=parsed)
            except TemplateValueError as exc:
                raise UserError(f"prompt '{name}': an example's input does not fill the "
                                f"template {template!r}: {exc}") from None
            self.store.put(VERSIONS, record.ref, record.model_dump(mode="json"))
            self.store.append(EVENTS, {"event": "register", "prompt": name,
                                       "version": record.version, "source": source})
        return record

    def seed(self, name: str, *, template: str, system: str = "") -> PromptVersion | None:
        """Register the spec's text of ``name`` unless its newest spec version already is it.

        The new spec version goes to production when nothing is, or when production is a spec
        version (the spec changed); after a promoted version from elsewhere it stays a
        candidate.

        Returns:
            The version registered, or None when the spec's text was registered already.
        """
        digest = spec_sha(template, system)
        spec_versions = [v for v in self.versions(name) if v.source == "spec"]
        if spec_versions and spec_versions[-1].spec_sha == digest:
            return None
        record = self.register(name, template=template, system=system, instructions="",
                               examples=[], note="from the spec", source="spec",
                               spec_sha=digest)
        current = self.production(name)
        if current is None or current.source == "spec":
            return self.install(record, current, event={"by": "spec"})
        return record

    def promote(
        self,
        name: str,
        version: int,
        *,
        metrics: Mapping[str, float],
        baseline: Mapping[str, float] | None,
        criteria: Mapping[str, Criterion],
        extra_checks: Sequence[GateCheck] = (),
        evaluated: Mapping[str, Any] | None = None,
        by: str | None = None,
    ) -> PromotionDecision:
        """Make ``version`` production if its eval metrics (``metrics``, against production's
        ``baseline`` on the same rows) pass the promotion gate; otherwise change nothing but
        the metrics recorded (:func:`compound.intelligence.versioning.promote_measured`)."""
        return promote_measured(self, name, version, metrics=metrics, baseline=baseline,
                                criteria=criteria, extra_checks=extra_checks,
                                evaluated=evaluated, by=by)

    def rollback(self, name: str) -> PromptVersion:
        """Restore the production version before the current one (the version now in
        production is returned).

        Raises:
            UserError: there is no earlier production version.
        """
        current, previous = self.previous(name)
        return self.restore(current, previous)

    def diff(self, name: str, a: int, b: int) -> str:
        """A unified diff from version ``a`` to ``b`` of template, system message,
        instructions and examples ("" when they are the same)."""
        old, new = self.get(name, a), self.get(name, b)
        return "".join(difflib.unified_diff(
            old.text().splitlines(keepends=True), new.text().splitlines(keepends=True),
            fromfile=old.ref, tofile=new.ref))


@dataclass(frozen=True)
class SpecPrompt:
    """An LLM step's prompt as the spec writes it."""

    name: str
    workflow: str
    step: str
    template: str
    system: str = ""


def spec_prompts(system: System) -> dict[str, SpecPrompt]:
    """The prompts of ``system``'s LLM steps with a ``template:`` (not agents), by name."""
    llms = system.llms()
    found = {}
    for flow_name, flow in system.workflows.items():
        for step in flow.steps:
            template = step.options.get("template")
            if step.uses in llms and step.agent is None and isinstance(template, str):
                name = f"{flow_name}.{step.name}"
                found[name] = SpecPrompt(name, flow_name, step.name, template,
                                         str(step.options.get("system") or ""))
    return found


def seed_from_spec(system: System, store: Store) -> list[PromptVersion]:
    """Register every LLM step's prompt of ``system`` whose spec text is not registered yet
    (see :meth:`PromptRegistry.seed`); the versions registered."""
    registry = PromptRegistry(store)
    found = []
    for prompt in spec_prompts(system).values():
        record = registry.seed(prompt.name, template=prompt.template, system=prompt.system)
        if record is not None:
            found.append(record)
    return found


def fields_problem(template: str, spec_template: str, *, what: str) -> str | None:
    """Why ``template`` (``what``: ``prompt support.answer@3``) cannot stand in for the spec's
    template, whose fields are the step's inputs, or None when it reads the same fields."""
    have = set(Template.parse(template, where=what).fields)
    want = set(Template.parse(spec_template, where="the step's template").fields)
    if have == want:
        return None
    return (f"{what} reads fields {sorted(have)}, but the step's template in the spec reads "
            f"{sorted(want)} (the step's inputs); a version must read the same fields")


class PromptSource:
    """Where an LLM step's prompt comes from: a pinned version, else the registry's
    production version (read again at most every ``refresh_s`` seconds), else the spec's
    text (None). See the module docstring for the rule.

    Args:
        name: the prompt's name (``workflow.step``).
        template: the spec's template.
        system: the spec's system message.
        store: the store to read when a run brings none (serving's, the CLI's), called on use.
        pinned: this version always (an eval of a candidate).
        refresh_s: how often to read the registry again, in seconds.
    """

    def __init__(self, name: str, *, template: str, system: str = "",
                 store: Callable[[], Store | None] = lambda: None,
                 pinned: PromptVersion | None = None, refresh_s: float = REFRESH_S) -> None:
        self.name = name
        self.template = template
        self.spec_sha = spec_sha(template, system)
        self.store = store
        self.pinned = pinned
        self._current: PromptVersion | None = None
        self._fit: set[str] = set()  # versions whose fields were checked
        self.refresh_s = refresh_s
        self._read = -refresh_s
        self._lock = threading.Lock()

    def current(self, store: Store | None = None) -> PromptVersion | None:
        """The version to use now (None: the spec's text).

        Raises:
            UserError: the version reads other fields than the spec's template.
        """
        if self.pinned is not None:
            return self._checked(self.pinned)
        with self._lock:
            now = time.monotonic()
            if now - self._read < self.refresh_s:
                return self._current
            found = store if store is not None else self.store()
            try:
                record = None if found is None else PromptRegistry(found).production(self.name)
            except StoreError as exc:  # the version in use keeps answering meanwhile
                _log.warning("prompt '%s': could not read the production version (%s); %s "
                             "stays in use, read again in %g s", self.name, exc,
                             self._current.ref if self._current else "the spec's text",
                             self.refresh_s)
                record = self._current
            if record is not None and record.source == "spec" and record.spec_sha != self.spec_sha:
                record = None  # the spec changed since: its text wins
            self._current, self._read = record, now
        return None if record is None else self._checked(record)

    def _checked(self, record: PromptVersion) -> PromptVersion:
        if record.ref not in self._fit:
            problem = fields_problem(record.template, self.template,
                                     what=f"prompt {record.ref}")
            if problem is not None:
                raise UserError(f"{problem}; roll it back with 'compound prompts rollback'")
            self._fit.add(record.ref)
        return record
