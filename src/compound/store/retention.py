"""Retention: a store's old runs and traces pruned in the background.

State grows with every request (a run record, its checkpoints and journal, its trace); the
spec's ``store.retention_days`` bounds it. A store opened with a retention prunes once right
away and then every ``every_s`` (an hour, or a tenth of the retention when that is shorter),
on a daemon thread of its own, in small transactions so that writers wait for one batch at
most. Several processes sharing one database may all prune: deleting what another already
deleted is harmless. What goes is :meth:`Store.prune <compound.store.base.Store.prune>`'s to
say: runs with their checkpoints and journal, and trace records; feedback, datasets, models
and everything else stay.

Example:
    >>> from compound.store import MemoryStore
    >>> store = MemoryStore()
    >>> store.put("runs", "r1", {"status": "completed"})
    >>> Retention(store, days=0.0).prune_now()
    1
    >>> store.get("runs", "r1") is None
    True
"""

from __future__ import annotations

import logging
import threading
import time

from compound.errors import CompoundError
from compound.store.base import Store

log = logging.getLogger("compound.store")

DAY_S = 86_400.0


class Retention:
    """Prunes runs and traces older than ``days`` from ``store``.

    Args:
        store: the store to prune (it must implement ``prune``).
        days: how long a run and a trace are kept, in days.
        every_s: seconds between prunes once started (default: an hour, or a tenth of the
            retention when that is shorter).
    """

    def __init__(self, store: Store, *, days: float, every_s: float | None = None) -> None:
        self.store = store
        self.days = days
        self.every_s = every_s if every_s is not None else max(1.0, min(3600.0,
                                                                        days * DAY_S / 10))
        self.pruned = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def prune_now(self) -> int:
        """Prune once; returns how many rows went."""
        gone = self.store.prune(before=time.time() - self.days * DAY_S)
        self.pruned += gone
        return gone

    def start(self) -> Retention:
        """Prune now and then every ``every_s``, on a daemon thread."""
        self._thread = threading.Thread(target=self._loop, name="compound-retention",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop pruning. Waits a few seconds for a prune under way; one still going then
        fails at its next batch, when the store closes, which commits nothing half-done."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                gone = self.prune_now()
                if gone:
                    log.info("retention: pruned %d rows of runs and traces older than %g "
                             "days from %r", gone, self.days, self.store)
            except CompoundError as exc:  # the store went away: try again next time
                if self._stop.is_set():
                    return
                log.warning("retention: pruning %r failed: %s", self.store, exc)
            self._stop.wait(self.every_s)
