"""Keeping user signals: durably, linked to their run, readable by run and over time.

:meth:`FeedbackLog.record` returns only after the signal is committed to the store (with the
SQLite store an acknowledged signal survives the server being killed), and refuses a signal
about a run the store has never seen. :meth:`FeedbackLog.record_many` commits many in one
transaction; the server uses it to group the signals of concurrent requests into one commit.

Each signal is written twice in the same transaction: to the stream ``feedback`` (all
signals, in order: rates over time, the flywheel) and to ``feedback:{run_id}`` (the run's
own, for its trace view).

Example:
    >>> from compound.store import MemoryStore
    >>> from compound.production.feedback.signals import parse_signal
    >>> store = MemoryStore()
    >>> store.put("runs", "r1", {"workflow": "answer", "status": "completed"})
    >>> log = FeedbackLog(store)
    >>> stored = log.record(parse_signal({"run_id": "r1", "kind": "thumbs", "value": "up"}))
    >>> stored["workflow"], [s["value"] for s in log.for_run("r1")]
    ('answer', ['up'])
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from compound.errors import UserError
from compound.workflow.state import RUNS

if TYPE_CHECKING:
    from compound.store.base import Store

STREAM = "feedback"


class UnknownRun(UserError):
    """A signal names a run the store does not hold."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        super().__init__(
            f"no run '{run_id}' in this system's store; a signal must name the run_id "
            "returned by the run it is about (runs of another server's store are not known "
            "here)")


class FeedbackLog:
    """User signals in a store (see the module docstring).

    Args:
        store: where signals and runs live.
        find_run: how to find a run's record (default: the store's ``runs`` collection;
            a server also looks at records not yet written).
    """

    def __init__(self, store: Store, *,
                 find_run: Callable[[str], dict[str, Any] | None] | None = None) -> None:
        self.store = store
        self.find_run = find_run or (lambda run_id: store.get(RUNS, run_id))

    def record(self, signal: Any, *, key_id: str | None = None) -> dict[str, Any]:
        """Commit one signal; returns it as stored, with its ``id`` (sequence) and ``ts``.

        Args:
            signal: a signal model (:mod:`~compound.production.feedback.signals`).
            key_id: the API key that sent it, kept for audit.

        Raises:
            UnknownRun: the store holds no such run.
        """
        result = self.record_many([(signal, key_id)])[0]
        if isinstance(result, Exception):
            raise result
        return result

    def record_many(self, signals: list[tuple[Any, str | None]]
                    ) -> list[dict[str, Any] | UnknownRun]:
        """Commit several signals in one transaction (group commit): each comes back stored,
        or as the :class:`UnknownRun` that kept it out. Returns once all are committed.

        Args:
            signals: ``(signal, key_id)`` pairs.
        """
        results: list[dict[str, Any] | UnknownRun] = []
        with self.store.transaction():
            for signal, key_id in signals:
                run = self.find_run(signal.run_id)
                if run is None:
                    results.append(UnknownRun(signal.run_id))
                    continue
                record = signal.model_dump(exclude_none=True)
                record["workflow"] = run.get("workflow")
                record["ts"] = time.time()
                if key_id is not None:
                    record["key_id"] = key_id
                seq = self.store.append(STREAM, record)
                self.store.append(f"{STREAM}:{signal.run_id}", {**record, "id": seq})
                results.append({**record, "id": seq})
        return results

    def for_run(self, run_id: str) -> list[dict[str, Any]]:
        """A run's signals, oldest first."""
        return [r.data for r in self.store.read(f"{STREAM}:{run_id}")]

    def since(self, ts: float, *, limit: int | None = None) -> list[dict[str, Any]]:
        """Signals recorded at or after ``ts``, oldest first, with their ``id``."""
        return [{**r.data, "id": r.seq} for r in self.store.read(STREAM, since=ts, limit=limit)]

    def count(self) -> int:
        """How many signals the store holds."""
        return sum(1 for _ in self.store.read(STREAM))

    def summary(self, since: float) -> dict[str, Any]:
        """Counts by kind, thumbs-up rate and mean rating of signals since ``since``."""
        by_kind: Counter[str] = Counter()
        up = down = 0
        ratings: list[int] = []
        for record in self.store.read(STREAM, since=since):
            data = record.data
            by_kind[data["kind"]] += 1
            if data["kind"] == "thumbs":
                up += data["value"] == "up"
                down += data["value"] == "down"
            elif data["kind"] == "rating":
                ratings.append(int(data["value"]))
        return {
            "total": sum(by_kind.values()), "by_kind": dict(by_kind),
            "thumbs_up_rate": up / (up + down) if up + down else None,
            "mean_rating": sum(ratings) / len(ratings) if ratings else None,
        }
