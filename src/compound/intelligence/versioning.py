"""Versions and stages kept in a store: what the model registry and the prompt registry share.

Each registry keeps one document per version in a collection (key ``name@version``), one stage
pointer per name in another (the production version and the production history, for rollback)
and an audit stream of events. A version is a ``candidate`` when registered, ``production``
once promoted, and ``archived`` when another replaces it; a rollback restores the production
version before the current one. What decides a promotion (the gate) and what a version holds
belong to each registry; the pointer moves here, each move in one transaction.

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
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from compound.errors import RuntimeFailure, UserError

if TYPE_CHECKING:
    from compound.store import Store

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


V = TypeVar("V", bound=VersionRecord)


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
