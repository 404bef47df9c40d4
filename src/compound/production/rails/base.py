"""The rail interface, the base class the built-in rails share, and building rails from the
spec through the ``compound.rails`` entry points.

A rail is a component: ``run(subject, ctx) -> Verdict``. It declares the stages it runs at
(``input``: before a model sees the request; ``output``: before a user sees the answer),
whether it can check a partial answer while it streams, its time limit, and what a failure or
a timeout of the rail itself decides (``on_error``, by default ``escalate``: a rail that
cannot decide never silently lets a text through).

**Adding a rail type** is the same for compound's built-ins and a third party: point an entry
point in group ``compound.rails`` at a class with a ``from_spec(request)`` class method (or at
a function taking a :class:`RailRequest`)::

    [project.entry-points."compound.rails"]
    profanity = "my_package.rails:ProfanityRail"

Example:
    >>> class NoShouting(BaseRail):
    ...     type = "no_shouting"
    ...     def check(self, subject, ctx=None):
    ...         if subject.text.isupper():
    ...             return self.fire(subject, "all capitals")
    ...         return self.allow(subject, "fine")
    >>> NoShouting(name="shout").run("HELLO THERE").action
    'block'
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from compound.errors import UserError
from compound.production.rails.verdict import STAGES, Action, RailInput, Stage, Verdict

if TYPE_CHECKING:
    from compound.intelligence.llm import LLM
    from compound.production.spec import RailSpec
    from compound.store import Store
    from compound.system import System
    from compound.workflow.context import RunContext

GROUP = "compound.rails"


@runtime_checkable
class Rail(Protocol):
    """What the guard needs of a rail."""

    name: str
    stages: tuple[Stage, ...]
    streams: bool
    timeout_s: float
    on_error: Action

    def load(self) -> None:
        """Load models or train what the rail needs. Idempotent."""

    def run(self, subject: RailInput | str, ctx: RunContext | None = None) -> Verdict:
        """Decide about one text."""
        ...


class BaseRail(abc.ABC):
    """Configuration every rail shares, and helpers to build its verdicts.

    Args:
        name: the rail's name (its key under ``guardrails:``); the type by default.
        stages: where it runs; the type's default stages when None.
        action: what it does when it fires (``block``, ``redact`` or ``escalate``).
        timeout_s: the longest the rail may take before the guard decides ``on_error``.
        on_error: the decision when the rail fails or runs out of time.
    """

    type: ClassVar[str] = "rail"
    default_stages: ClassVar[tuple[Stage, ...]] = ("input",)
    default_action: ClassVar[Action] = "block"
    allowed_actions: ClassVar[tuple[Action, ...]] = ("block", "escalate")
    streams: ClassVar[bool] = False

    def __init__(
        self,
        *,
        name: str | None = None,
        stages: Sequence[Stage] | None = None,
        action: Action | None = None,
        timeout_s: float = 2.0,
        on_error: Action = "escalate",
    ) -> None:
        self.name = name or self.type
        self.stages: tuple[Stage, ...] = tuple(stages) if stages else self.default_stages
        bad = [s for s in self.stages if s not in STAGES]
        if bad:
            raise UserError(f"rail '{self.name}': unknown stage {bad[0]!r}; use input or output")
        self.action: Action = action or self.default_action
        if self.action not in self.allowed_actions:
            raise UserError(
                f"rail '{self.name}' ({self.type}) cannot '{self.action}'; it can "
                f"{', '.join(self.allowed_actions)}"
            )
        if timeout_s <= 0:
            raise UserError(f"rail '{self.name}': timeout_s must be above 0; got {timeout_s}")
        self.timeout_s = timeout_s
        self.on_error: Action = on_error

    def load(self) -> None:  # noqa: B027 - optional hook
        """Load what the rail needs (models, data). Idempotent; the guard calls it."""

    def run(self, subject: RailInput | str, ctx: RunContext | None = None) -> Verdict:
        """Decide about ``subject`` (a string is an input-stage text)."""
        if isinstance(subject, str):
            subject = RailInput(subject, stage=self.stages[0])
        return self.check(subject, ctx)

    @abc.abstractmethod
    def check(self, subject: RailInput, ctx: RunContext | None = None) -> Verdict:
        """The rail's decision; subclasses implement this."""

    def allow(self, subject: RailInput, reason: str, **fields: Any) -> Verdict:
        """An ``allow`` verdict of this rail."""
        return Verdict(rail=self.name, stage=subject.stage, action="allow", reason=reason,
                       **fields)

    def fire(self, subject: RailInput, reason: str, **fields: Any) -> Verdict:
        """A verdict with the rail's configured action."""
        return Verdict(rail=self.name, stage=subject.stage, action=self.action, reason=reason,
                       **fields)

    @classmethod
    def from_spec(cls, request: RailRequest) -> BaseRail:
        """Build the rail from its spec entry (common settings plus ``options``)."""
        return cls(**request.common(), **request.spec.options)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, stages={self.stages!r})"


@dataclass
class RailRequest:
    """What a rail type gets to build itself: its spec entry, the system and the store.

    Attributes:
        name: the rail's key under ``guardrails:``.
        spec: its spec entry.
        system: the loaded system (None when built without one).
        store: where models are kept and cached (the injection rail trains into it).
        shared: objects shared between rails (one LLM object per model name).
    """

    name: str
    spec: RailSpec
    system: System | None = None
    store: Store | None = None
    shared: dict[str, Any] = field(default_factory=dict)

    def common(self) -> dict[str, Any]:
        """The settings every :class:`BaseRail` takes, from the spec."""
        found: dict[str, Any] = {"name": self.name, "stages": self.spec.stages(),
                                 "on_error": self.spec.on_error}
        if self.spec.action is not None:
            found["action"] = self.spec.action
        if self.spec.timeout_s is not None:
            found["timeout_s"] = self.spec.timeout_s
        return found

    def llm(self) -> LLM | None:
        """The LLM the spec's ``llm`` names (one object per name), or None."""
        name = self.spec.llm
        if name is None:
            return None
        key = f"llm:{name}"
        if key not in self.shared:
            from compound.intelligence.llm.versions import system_llm

            llms = self.system.llms() if self.system is not None else {}
            if name not in llms:
                raise UserError(f"rail '{self.name}': '{name}' is not an LLM of the system; "
                                f"LLMs: {', '.join(llms) or 'none'}")
            self.shared[key] = system_llm(self.system, name,  # type: ignore[arg-type]
                                          self.shared.get("store"))
        llm: LLM = self.shared[key]
        return llm


# set from the spec's own keys (or objects), so never under 'options'
_NOT_OPTIONS = frozenset({"self", "name", "stages", "action", "timeout_s", "on_error", "llm",
                          "threshold", "classifier", "store", "system", "console", "names",
                          "entities", "schema", "allowed", "denied"})


def option_names(factory: Any) -> list[str]:
    """The keyword options a rail type takes under ``options:`` in the spec."""
    import inspect

    target = factory.__init__ if isinstance(factory, type) else factory
    try:
        parameters = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name for p in parameters if p.kind is p.KEYWORD_ONLY
            and p.name not in _NOT_OPTIONS]


def build_rail(request: RailRequest) -> Rail:
    """The rail a spec entry declares, from the type registered under ``compound.rails``.

    Raises:
        UserError: an unknown type, or a type whose factory returns no rail.
    """
    from compound.plugins import load

    factory = load(GROUP, request.spec.type)
    from_spec = getattr(factory, "from_spec", None)
    try:
        rail = from_spec(request) if from_spec is not None else factory(request)
    except TypeError as exc:
        if "unexpected keyword argument" not in str(exc):
            raise
        import re

        from compound.specfile import did_you_mean

        known = option_names(factory)
        found = re.search(r"argument '(\w+)'", str(exc))
        key = found.group(1) if found else "?"
        raise UserError(
            f"guardrails.{request.name}.options: unknown option '{key}'"
            f"{did_you_mean(key, known)}; the options of rail type '{request.spec.type}' are: "
            f"{', '.join(known) or 'none'}"
        ) from None
    if not isinstance(rail, Rail):
        raise UserError(
            f"rail type '{request.spec.type}' built a {type(rail).__name__}, which is not a "
            "rail (it needs name, stages, streams, timeout_s, on_error, load() and run())"
        )
    return rail
