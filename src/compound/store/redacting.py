"""The redacting layer: every record passes through it on its way into the store.

Run records, run inputs and outputs, checkpoints and the journal of model and tool calls,
trace spans, review items, feedback signals (comments, edits, corrections), monitoring samples,
online scores, conversation memory and cache entries are redacted (secrets always, personal
data by default) *before* they are written, so neither the database file nor its ``-wal`` and
``-shm`` files ever hold the raw values, and no endpoint, whatever its key's scope, can serve
them back. It is one layer for every record kind, so a capability added later is covered
without doing anything.

Left as written are the collections that hold compound's own structure rather than requests:
model versions and their events, datasets and evaluation runs (their content is what the user
curated, and a dataset made from traces was made from redacted ones), API key hashes,
budgets, thresholds, monitoring counters, drift reports and alerts; and blobs (artifacts).
The spec's ``store.redact.keep_raw`` adds more; ``store.redact: false`` turns the layer off.

**Resuming a run.** Checkpoints and the journal are redacted like the rest: a resumed run
continues from the redacted values (a later step sees ``<EMAIL_ADDRESS>`` where the email
was), and a completed side-effecting call is still never repeated, since its journal status
survives redaction. We chose this over keeping raw values encrypted until the run ends
because it makes the guarantee checkable on the bytes of the files and needs no key: a key
kept beside the database protects little against whoever can read the database. A system
whose resume needs the raw values (a payment step) names those collections in ``keep_raw``.

Example:
    >>> from compound.store import MemoryStore
    >>> store = RedactingStore(MemoryStore())
    >>> store.put("runs", "r1", {"input": {"question": "card 4111 1111 1111 1111?"}})
    >>> store.get("runs", "r1")
    {'input': {'question': 'card <CREDIT_CARD>?'}}
    >>> store.put("models", "intent@1", {"note": "mail ada@example.com"})
    >>> store.get("models", "intent@1")["note"]
    'mail ada@example.com'
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from compound.privacy.redactor import Redactor
from compound.store.base import JSON, Record, Store

if TYPE_CHECKING:
    from compound.privacy.spec import RedactionSpec

#: collections and streams holding compound's structure, not requests: written as they come
#: (a name matches itself and the names it prefixes with ``:`` or ``/``)
STRUCTURAL: tuple[str, ...] = (
    "models", "model_stages", "model_events", "datasets", "eval_runs", "eval_rows",
    "eval_cache", "api_keys", "budgets", "strategy:thresholds", "monitoring", "drift",
    "drift_reference", "alerts", "recent_runs", "review:submissions",
    # a prompt is what the model is sent: redacting its text would change what the step sends
    "prompts", "prompt_stages", "prompt_events",
)


class RedactingStore(Store):
    """A store that redacts every document and record before the store it wraps writes it.

    Args:
        store: where redacted values go.
        redactor: the redaction (secrets and personal data by default).
        keep_raw: more collections or stream prefixes to write unredacted.

    Reads pass through unchanged: what was written is already redacted.
    """

    def __init__(self, store: Store, redactor: Redactor | None = None, *,
                 keep_raw: Iterable[str] = ()) -> None:
        self.inner = store
        self.redactor = redactor if redactor is not None else Redactor()
        self.keep_raw = (*STRUCTURAL, *keep_raw)
        self._decided: dict[str, bool] = {}

    @classmethod
    def from_spec(cls, store: Store, spec: RedactionSpec) -> Store:
        """``store`` behind the redaction ``spec`` asks for (``store`` itself when off)."""
        if not spec.enabled:
            return store.inner if isinstance(store, RedactingStore) else store
        if isinstance(store, RedactingStore):
            return store
        return cls(store, Redactor(pii=spec.pii, entities=spec.entities),
                   keep_raw=spec.keep_raw)

    def redacts(self, name: str) -> bool:
        """Whether values written to the collection or stream ``name`` are redacted."""
        decided = self._decided.get(name)
        if decided is None:
            decided = not any(name == kept or name.startswith((f"{kept}:", f"{kept}/"))
                              for kept in self.keep_raw)
            if len(self._decided) < 4096:  # stream names embed run ids: keep the memo small
                self._decided[name] = decided
        return decided

    def redact(self, name: str, value: JSON) -> JSON:
        """``value`` as it would be written to ``name``."""
        return self.redactor.value(value) if self.redacts(name) else value

    # -- writes: redacted -------------------------------------------------------------------

    def put(self, collection: str, key: str, value: JSON) -> None:
        self.inner.put(collection, key, self.redact(collection, value))

    def append(self, stream: str, data: JSON) -> int:
        return self.inner.append(stream, self.redact(stream, data))

    # -- everything else: passed through ------------------------------------------------------

    def get(self, collection: str, key: str) -> JSON | None:
        return self.inner.get(collection, key)

    def delete(self, collection: str, key: str) -> bool:
        return self.inner.delete(collection, key)

    def items(self, collection: str, *, prefix: str = "", limit: int | None = None
              ) -> Iterator[tuple[str, JSON]]:
        return self.inner.items(collection, prefix=prefix, limit=limit)

    def read(self, stream: str, *, after: int = 0, since: float | None = None,
             limit: int | None = None) -> Iterator[Record]:
        return self.inner.read(stream, after=after, since=since, limit=limit)

    def streams(self, *, prefix: str = "") -> list[str]:
        return self.inner.streams(prefix=prefix)

    def put_blob(self, key: str, data: bytes) -> None:
        self.inner.put_blob(key, data)

    def get_blob(self, key: str) -> bytes | None:
        return self.inner.get_blob(key)

    def transaction(self) -> AbstractContextManager[None]:
        return self.inner.transaction()

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        # what a concrete store adds (``path``, ``durability``) reads through
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def __repr__(self) -> str:
        return repr(self.inner)


def redacted(store: Store, name: str, value: JSON) -> JSON:
    """``value`` as ``store`` would keep it in ``name``: for records shown before they are
    written (a run record still queued for its batch)."""
    return store.redact(name, value) if isinstance(store, RedactingStore) else value
