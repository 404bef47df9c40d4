"""An in-memory :class:`~compound.store.base.Store`, the fake for unit tests."""

from __future__ import annotations

import bisect
import copy
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from compound.store.base import JSON, RUN_COLLECTIONS, TRACE_PREFIX, Record, Store, dumps


class MemoryStore(Store):
    """Keeps everything in dictionaries; values are copied in and out like a real store.

    Example:
        >>> store = MemoryStore()
        >>> with store.transaction():
        ...     store.put("datasets", "d1", {"rows": 3})
        >>> [key for key, _ in store.items("datasets")]
        ['d1']
    """

    def __init__(self) -> None:
        self._docs: dict[str, dict[str, str]] = {}
        self._updated: dict[tuple[str, str], float] = {}
        self._records: list[Record] = []
        self._blobs: dict[str, bytes] = {}
        self._lock = threading.RLock()
        self._seq = 0
        self._snapshot: tuple[object, ...] | None = None
        self._depth = 0

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            outermost = self._depth == 0
            if outermost:
                self._snapshot = (copy.deepcopy(self._docs), list(self._records),
                                  dict(self._blobs), self._seq, dict(self._updated))
            self._depth += 1
            try:
                yield
            except BaseException:
                if outermost and self._snapshot is not None:
                    docs, records, blobs, seq, updated = self._snapshot
                    self._docs, self._records = docs, records  # type: ignore[assignment]
                    self._blobs, self._seq = blobs, seq  # type: ignore[assignment]
                    self._updated = updated  # type: ignore[assignment]
                raise
            finally:
                self._depth -= 1
                if outermost:
                    self._snapshot = None

    def put(self, collection: str, key: str, value: JSON) -> None:
        with self._lock:
            self._docs.setdefault(collection, {})[key] = dumps(value)
            self._updated[collection, key] = time.time()

    def get(self, collection: str, key: str) -> JSON | None:
        raw = self._docs.get(collection, {}).get(key)
        return None if raw is None else json.loads(raw)

    def delete(self, collection: str, key: str) -> bool:
        with self._lock:
            self._updated.pop((collection, key), None)
            return self._docs.get(collection, {}).pop(key, None) is not None

    def items(
        self, collection: str, *, prefix: str = "", limit: int | None = None
    ) -> Iterator[tuple[str, JSON]]:
        with self._lock:
            docs = dict(self._docs.get(collection, {}))
        keys = sorted(k for k in docs if k.startswith(prefix))
        for key in keys[:limit]:
            yield key, json.loads(docs[key])

    def append(self, stream: str, data: JSON) -> int:
        with self._lock:
            self._seq += 1
            self._records.append(Record(self._seq, stream, time.time(), json.loads(dumps(data))))
            return self._seq

    def read(
        self,
        stream: str,
        *,
        after: int = 0,
        since: float | None = None,
        limit: int | None = None,
    ) -> Iterator[Record]:
        with self._lock:
            start = bisect.bisect_right([r.seq for r in self._records], after)
            found = [
                copy.deepcopy(r)
                for r in self._records[start:]
                if r.stream == stream and (since is None or r.ts >= since)
            ]
        yield from found[:limit]

    def streams(self, *, prefix: str = "") -> list[str]:
        with self._lock:
            return sorted({r.stream for r in self._records if r.stream.startswith(prefix)})

    def prune(self, *, before: float) -> int:
        with self._lock:
            runs = {key for key, _ in self._docs.get("runs", {}).items()
                    if self._updated.get(("runs", key), 0.0) < before}
            gone = 0
            for collection in RUN_COLLECTIONS:
                docs = self._docs.get(collection, {})
                for key in [k for k in docs if k.split("/", 1)[0] in runs]:
                    del docs[key]
                    self._updated.pop((collection, key), None)
                    gone += 1
            kept = [r for r in self._records
                    if not (r.stream.startswith(TRACE_PREFIX) and r.ts < before)]
            gone += len(self._records) - len(kept)
            self._records = kept
            return gone

    def put_blob(self, key: str, data: bytes) -> None:
        with self._lock:
            self._blobs[key] = bytes(data)

    def get_blob(self, key: str) -> bytes | None:
        return self._blobs.get(key)

