"""Versions and stages kept in a store: what the model registry and the prompt registry share.

Each registry keeps one document per version in a collection (key ``name@version``), one stage
pointer per name in another (the production version and the production history, for rollback)
and an audit stream of events. A version is a ``candidate`` when registered, ``production``
once promoted, and ``archived`` when another replaces it; a rollback restores the production
version before the current one. What decides a promotion (the gate) and what a version holds
belong to each registry; the pointer moves here, each move in one transaction.
:meth:`Versioned.promote_measured` is the gate of what an eval measures (prompts, LLM
adapters): a version's eval metrics against production's on the same rows.

Example:
    >>> from compound.store import MemoryStore
    >>> registry = Versioned(MemoryStore(), VersionRecord, kind="note",
    ...                      collections=("notes", "note_stages", "note_events"))
    >>> registry.store.put("notes", "todo@1", {"name": "todo", "version": 1, "created": 0})
    >>> registry.install(registry.get("todo", 1), None).stage
    'production'
    >>> registry.production("todo").version
    1
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from compound.errors import RuntimeFailure, UserError
from compound.gating import GateCheck, failures, unmeasured_check
from compound.intelligence.promotion import gate_checks

if TYPE_CHECKING:
    from compound.metrics.stability import Churn
    from compound.store import Store
    from compound.system import Criterion

Stage = Literal["candidate", "production", "archived"]


class VersionRecord(BaseModel):
    """What every version has: its name and number, stage, when it was made and promoted, and
    a note."""

    model_config = ConfigDict(extra="ignore")

    name: str
    version: int
    stage: Stage = "candidate"
    created: float
    promoted: float | None = None
    note: str = ""

    @property
    def ref(self) -> str:
        """``name@version``."""
        return f"{self.name}@{self.version}"


class MeasuredVersion(VersionRecord):
    """A version judged by an eval run (a prompt, an LLM adapter): what the eval measured at
    its last promotion attempt, and which eval, on how many rows, in which run."""

    metrics: dict[str, float] = Field(default_factory=dict)
    evaluated: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True)
class PromotionDecision:
    """What a promotion decided, and why."""

    name: str
    version: int
    promoted: bool
    checks: list[GateCheck] = field(default_factory=list)
    replaced: int | None = None
    message: str = ""
    churn: Churn | None = None
    rows: str = ""


V = TypeVar("V", bound=VersionRecord)
M = TypeVar("M", bound=MeasuredVersion)


class Versioned(Generic[V]):
    """Reading versions of ``kind`` and moving their production pointer.

    Args:
        store: where the versions live.
        record: the pydantic class of one version (with ``name``, ``version``, ``stage``).
        kind: what is versioned, in messages and as the audit events' key (``model``).
        collections: the names of the versions' collection, the stage pointers' collection
            and the audit stream.
        none_yet: what to say when a name has no version at all.
    """

    def __init__(self, store: Store, record: type[V], *, kind: str,
                 collections: tuple[str, str, str], none_yet: str = "none") -> None:
        self.store = store
        self.record = record
        self.kind = kind
        self.collection, self.stages, self.events = collections
        self.none_yet = none_yet

    def versions(self, name: str) -> list[V]:
        """Every version of ``name``, oldest first."""
        found = [self.record.model_validate(doc)
                 for _, doc in self.store.items(self.collection, prefix=f"{name}@")]
        return sorted((v for v in found if v.name == name),
                      key=lambda v: v.version)

    def names(self) -> list[str]:
        """The names with at least one version."""
        return sorted({str(doc["name"]) for _, doc in self.store.items(self.collection)})

    def get(self, name: str, version: int) -> V:
        """One version.

        Raises:
            UserError: no such version (listing the versions there are).
        """
        doc = self.store.get(self.collection, f"{name}@{version}")
        if doc is None:
            have = [v.version for v in self.versions(name)]
            listed = ", ".join(map(str, have)) if have else self.none_yet
            raise UserError(f"{self.kind} '{name}' has no version {version} (versions: "
                            f"{listed})")
        return self.record.model_validate(doc)

    def production(self, name: str) -> V | None:
        """The production version of ``name``, or None."""
        pointer = self.store.get(self.stages, name) or {}
        version = pointer.get("production")
        return None if version is None else self.get(name, int(version))

    def history(self, name: str) -> list[int]:
        """The versions that were in production, in order; the last is production now."""
        pointer = self.store.get(self.stages, name) or {}
        return [int(v) for v in pointer.get("history", [])]

    def set_stage(self, record: V, stage: Stage, **changes: Any) -> V:
        """Write ``record`` again with ``stage`` and ``changes``."""
        updated = record.model_copy(update={"stage": stage, **changes})
        self.store.put(self.collection, updated.ref, updated.model_dump(mode="json"))
        return updated

    def install(self, record: V, current: V | None, *, changes: dict[str, Any] | None = None,
                event: dict[str, Any] | None = None) -> V:
        """Put ``record`` in production in place of ``current`` (archived), in one
        transaction, with a ``promote`` audit event holding ``event`` besides.

        Raises:
            RuntimeFailure: production moved away from ``current`` meanwhile.
        """
        name = record.name
        before = None if current is None else current.version
        with self.store.transaction():
            pointer = self.store.get(self.stages, name) or {"production": None, "history": []}
            if pointer.get("production") != before:
                raise RuntimeFailure(
                    f"the production version of {self.kind} '{name}' changed while "
                    f"{record.ref} was being checked (another promotion or "
                    "rollback ran); run the promotion again"
                )
            if current is not None:
                self.set_stage(current, "archived")
            installed = self.set_stage(record, "production", promoted=time.time(),
                                       **(changes or {}))
            history = [*pointer.get("history", []), installed.version]
            self.store.put(self.stages, name, {"production": installed.version,
                                               "history": history})
            self.store.append(self.events, {"event": "promote", self.kind: name,
                                            "version": installed.version,
                                            "replaced": before, **(event or {})})
        return installed

    def previous(self, name: str) -> tuple[V, V]:
        """``(current, previous)``: the production version and the one before it.

        Raises:
            UserError: there is no earlier production version.
        """
        pointer = self.store.get(self.stages, name) or {}
        history = self.history(name)
        current = pointer.get("production")
        if current is None or len(history) < 2:
            raise UserError(
                f"{self.kind} '{name}' has no earlier production version to roll back to "
                f"(production history: {', '.join(map(str, history)) or 'empty'})"
            )
        return self.get(name, int(current)), self.get(name, history[-2])

    def restore(self, current: V, previous: V) -> V:
        """Archive ``current`` and put ``previous`` (from :meth:`previous`) back in
        production, in one transaction with a ``rollback`` audit event."""
        name = current.name
        history = self.history(name)
        with self.store.transaction():
            self.set_stage(current, "archived", note="rolled back")
            restored = self.set_stage(previous, "production", promoted=time.time())
            self.store.put(self.stages, name, {"production": restored.version,
                                               "history": history[:-1]})
            self.store.append(self.events, {"event": "rollback", self.kind: name,
                                            "from": current.version,
                                            "to": restored.version})
        return restored


def promote_measured(
    registry: Versioned[M],
    name: str,
    version: int,
    *,
    metrics: Mapping[str, float],
    baseline: Mapping[str, float] | None,
    criteria: Mapping[str, Criterion],
    extra_checks: Sequence[GateCheck] = (),
    evaluated: Mapping[str, Any] | None = None,
    by: str | None = None,
    usable: Callable[[M], None] | None = None,
) -> PromotionDecision:
    """Make ``version`` production if its eval metrics pass the promotion gate (the models'
    one, :func:`compound.intelligence.promotion.gate_checks`): each criterion's threshold met
    and no regression from production's ``baseline`` beyond its tolerance, with
    ``extra_checks`` besides; otherwise change nothing but the metrics recorded.

    A gate that measured no criterion at all refuses: nothing showed the version is good.

    Args:
        registry: the registry of ``name``.
        name: what is versioned.
        version: the candidate.
        metrics: the candidate's eval metrics.
        baseline: production's on the same rows (None: no production to compare).
        criteria: the system's success criteria.
        extra_checks: more checks the candidate must pass (the eval's error rate).
        evaluated: which eval measured ``metrics`` (recorded with them).
        by: who asks (``improve``), recorded in the audit event.
        usable: raises when the candidate cannot run (its artefact is damaged); called after
            the gate passed, before production moves.
    """
    record = registry.get(name, version)
    current = registry.production(name)
    if current is not None and current.version == record.version:
        return PromotionDecision(name, version, promoted=False,
                                 message=f"{record.ref} is already in production")
    checks = gate_checks(metrics, baseline, criteria=criteria) + list(extra_checks)
    if all(c.status == "unmeasured" for c in checks):
        checks.append(unmeasured_check(
            "criteria", metric="-", required=True,
            why="the eval measured none of the system's criteria "
                f"({', '.join(criteria) or 'none declared'}); measured: "
                f"{', '.join(metrics) or 'nothing'}"))
    measured = {"metrics": dict(metrics), "evaluated": dict(evaluated or {})}
    by_whom = {} if by is None else {"by": by}
    failed = failures(checks)
    if failed:
        registry.set_stage(record, record.stage, **measured)
        registry.store.append(registry.events, {
            "event": "refused", registry.kind: name, "version": version,
            "checks": [c.name for c in failed], **by_whom})
        reasons = "; ".join(f"{c.name}: {c.message}" for c in failed)
        return PromotionDecision(name, version, promoted=False, checks=checks,
                                 message=f"{record.ref} was not promoted: the gate failed "
                                         f"({reasons})")
    if usable is not None:
        usable(record)
    if current is not None and baseline is not None:
        registry.set_stage(current, current.stage, metrics=dict(baseline),
                           evaluated=dict(evaluated or {}))
        current = registry.get(name, current.version)
    registry.install(record, current, changes=measured, event=by_whom)
    return PromotionDecision(
        name, version, promoted=True, checks=checks,
        replaced=current.version if current else None,
        message=f"{record.ref} is now in production"
        + (f" (replacing version {current.version})" if current else ""))
