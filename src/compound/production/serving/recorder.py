"""Run records written in batches, off the request path.

A run that is not checkpointed step by step still leaves a record (workflow, input, output,
status, timings) so that feedback can name it and the dashboard can list it. Writing it with
its own commit on the event loop would cost every request a commit and, when another thread
holds SQLite's write lock, a wait. :class:`RunRecorder` instead queues records and a thread
commits whatever has queued every ``interval_s`` in one transaction (group commit). Until a
record is committed, :meth:`RunRecorder.get` still finds it, so feedback sent right after a
response is accepted. The price: a process killed outright loses the records still queued
(runs that ended in its last ``interval_s``); signals already acknowledged about them stay.

Example:
    >>> from compound.store import MemoryStore
    >>> store = MemoryStore()
    >>> recorder = RunRecorder(store)
    >>> recorder.add("r1", {"workflow": "classify", "status": "completed"})
    >>> recorder.get("r1")["status"], recorder.flush(), store.get("runs", "r1")["status"]
    ('completed', True, 'completed')
    >>> recorder.close()
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from compound.workflow.state import RUNS

if TYPE_CHECKING:
    from compound.store.base import Store

log = logging.getLogger("compound.serve")


def lost_writes(what: str, count: int, exc: BaseException) -> None:
    """Say in the server log (at most once a minute) that writes to the store are being lost:
    the server goes on answering, but what it lost cannot be found afterwards."""
    now = time.monotonic()
    if now - _last_said.get(what, -3600.0) >= 60.0:
        _last_said[what] = now
        log.warning("%s are not being written to the store (%d lost so far): %s; runs are "
                    "still answered, but feedback and the dashboard cannot find what was lost",
                    what, count, exc)


_last_said: dict[str, float] = {}


class RunRecorder:
    """Group-commits run records (see the module docstring).

    Args:
        store: where records go (collection ``runs``).
        interval_s: how long a record may wait for company before it is written.
    """

    def __init__(self, store: Store, *, interval_s: float = 0.02) -> None:
        self.store = store
        self.interval_s = interval_s
        self.failures = 0
        self._queued: dict[str, dict[str, Any]] = {}
        self._writing: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._idle = threading.Condition(self._lock)
        self._closed = False
        self._thread: threading.Thread | None = None

    def add(self, run_id: str, record: dict[str, Any]) -> None:
        """Queue a record for the next batch."""
        with self._lock:
            self._queued[run_id] = record
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="compound-runs",
                                                daemon=True)
                self._thread.start()

    def get(self, run_id: str) -> dict[str, Any] | None:
        """A record not yet committed, or None."""
        with self._lock:
            return self._queued.get(run_id) or self._writing.get(run_id)

    def _loop(self) -> None:
        while not self._closed:
            self._wake.wait(self.interval_s)
            self._wake.clear()
            self._write()

    def _write(self) -> None:
        with self._lock:
            if not self._queued:
                self._idle.notify_all()
                return
            self._writing, self._queued = self._queued, {}
        try:
            with self.store.transaction():
                for run_id, record in self._writing.items():
                    self.store.put(RUNS, run_id, record)
        except Exception as exc:  # the store failed: the records are lost, the server goes on
            self.failures += len(self._writing)
            lost_writes("run records", self.failures, exc)
        with self._lock:
            self._writing = {}
            if not self._queued:
                self._idle.notify_all()

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every queued record is committed; False on timeout."""
        with self._lock:
            if self._thread is None or (not self._queued and not self._writing):
                return True
            self._wake.set()
            return self._idle.wait_for(lambda: not self._queued and not self._writing,
                                       timeout_s)

    def close(self) -> None:
        """Write what is queued and stop the thread."""
        self.flush()
        self._closed = True
        self._wake.set()
