"""The persistence interface every capability writes through.

Two shapes cover what compound keeps:

* **collections**: JSON documents by key (model versions, datasets, review items, API keys);
  ``put`` replaces, ``get`` reads, ``items`` scans in key order, optionally by prefix;
* **streams**: append-only logs of JSON records with a sequence number and a timestamp
  (spans of a trace, feedback signals, monitoring events); ``append`` returns the sequence.

plus **blobs** for artifacts (trained models, indexes). Keeping the interface this small is
what lets the SQLite default and PostgreSQL at scale behave the same, and lets the in-memory
fake stand in for both in unit tests.

A write returns only once it is committed: an acknowledged write survives the process being
killed. ``transaction()`` groups writes so that they land together or not at all.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from compound.errors import StoreError

JSON = Any

#: what retention prunes: documents of these collections keyed ``{run_id}`` or
#: ``{run_id}/...``, and records of streams named with this prefix
RUN_COLLECTIONS: tuple[str, ...] = ("runs", "checkpoints", "effects")
TRACE_PREFIX = "trace:"


@dataclass(frozen=True)
class Record:
    """One entry of a stream."""

    seq: int
    stream: str
    ts: float
    data: JSON


class Store(abc.ABC):
    """Where compound keeps everything. See the module docstring for the model.

    Example:
        >>> from compound.store import MemoryStore
        >>> store = MemoryStore()
        >>> store.put("models", "intent@1", {"stage": "candidate"})
        >>> store.get("models", "intent@1")
        {'stage': 'candidate'}
        >>> store.append("feedback", {"run": "r1", "rating": 5})
        1
    """

    # -- collections ------------------------------------------------------------------------

    @abc.abstractmethod
    def put(self, collection: str, key: str, value: JSON) -> None:
        """Insert or replace the document at ``key``."""

    @abc.abstractmethod
    def get(self, collection: str, key: str) -> JSON | None:
        """The document at ``key``, or None."""

    @abc.abstractmethod
    def delete(self, collection: str, key: str) -> bool:
        """Remove the document; True when it existed."""

    @abc.abstractmethod
    def items(
        self, collection: str, *, prefix: str = "", limit: int | None = None
    ) -> Iterator[tuple[str, JSON]]:
        """Documents in key order, optionally only keys starting with ``prefix``."""

    # -- streams ----------------------------------------------------------------------------

    @abc.abstractmethod
    def append(self, stream: str, data: JSON) -> int:
        """Append a record; returns its sequence number (increasing across all streams)."""

    @abc.abstractmethod
    def read(
        self,
        stream: str,
        *,
        after: int = 0,
        since: float | None = None,
        limit: int | None = None,
    ) -> Iterator[Record]:
        """Records of ``stream`` with ``seq > after`` (and ``ts >= since``), oldest first."""

    @abc.abstractmethod
    def streams(self, *, prefix: str = "") -> list[str]:
        """Names of the streams that hold records, optionally by prefix."""

    # -- blobs ------------------------------------------------------------------------------

    @abc.abstractmethod
    def put_blob(self, key: str, data: bytes) -> None:
        """Store bytes (an artifact) under ``key``."""

    @abc.abstractmethod
    def get_blob(self, key: str) -> bytes | None:
        """The bytes at ``key``, or None."""

    # -- lifecycle --------------------------------------------------------------------------

    @abc.abstractmethod
    def transaction(self) -> AbstractContextManager[None]:
        """Group the writes inside the block: all are committed at its end, or none."""

    def prune(self, *, before: float) -> int:
        """Delete old runs and traces (retention); returns how many rows went.

        A run goes when its record (``runs/{id}``) was last written before ``before``, with
        its checkpoints and journal (``checkpoints/{id}/...``, ``effects/{id}/...``); a trace
        record (stream ``trace:...``) goes when it was appended before ``before``. Feedback,
        datasets, models and everything else stay.
        """
        raise StoreError(f"{type(self).__name__} does not support retention (prune)")

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections and files."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def dumps(value: JSON) -> str:
    """``value`` as the JSON text a store keeps, or a :class:`StoreError` saying why not."""
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise StoreError(
            f"the store keeps JSON values; this one cannot be written as JSON: {exc}"
        ) from exc
