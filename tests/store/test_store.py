"""One conformance suite for every Store, plus the SQLite-only durability guarantees."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from compound.errors import StoreError
from compound.store import MemoryStore, SQLiteStore, Store


@pytest.fixture(params=["sqlite", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    made: Store = SQLiteStore(tmp_path / "c.db") if request.param == "sqlite" else MemoryStore()
    yield made
    made.close()


def test_documents_put_get_replace_delete(store: Store) -> None:
    assert store.get("models", "a") is None
    store.put("models", "a", {"stage": "candidate", "metrics": [0.9, 0.8]})
    store.put("models", "a", {"stage": "production"})
    assert store.get("models", "a") == {"stage": "production"}
    assert store.delete("models", "a") is True
    assert store.delete("models", "a") is False


def test_items_in_key_order_by_prefix(store: Store) -> None:
    for key in ["intent@2", "intent@10", "other@1", "intent@1"]:
        store.put("models", key, {"k": key})
    store.put("datasets", "intent@1", {"k": "not a model"})
    keys = [key for key, _ in store.items("models", prefix="intent@")]
    assert keys == ["intent@1", "intent@10", "intent@2"]
    assert [key for key, _ in store.items("models", limit=1)] == ["intent@1"]


def test_streams_append_and_read_in_order(store: Store) -> None:
    first = store.append("feedback", {"n": 1})
    store.append("trace:r1", {"span": "x"})
    second = store.append("feedback", {"n": 2})
    assert second > first
    assert [r.data["n"] for r in store.read("feedback")] == [1, 2]
    assert [r.data["n"] for r in store.read("feedback", after=first)] == [2]
    assert [r.data["n"] for r in store.read("feedback", limit=1)] == [1]
    assert store.streams(prefix="trace:") == ["trace:r1"]
    future = max(r.ts for r in store.read("feedback")) + 10
    assert list(store.read("feedback", since=future)) == []


def test_blobs_round_trip_bytes(store: Store) -> None:
    payload = bytes(range(256)) * 10
    store.put_blob("artifacts/m1", payload)
    assert store.get_blob("artifacts/m1") == payload
    assert store.get_blob("missing") is None


def test_transaction_commits_all_or_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        store.put("models", "a", {"v": 1})
        store.append("events", {"v": 1})
        raise RuntimeError("boom")
    assert store.get("models", "a") is None
    assert list(store.read("events")) == []
    with store.transaction():
        store.put("models", "a", {"v": 2})
        with store.transaction():  # nested blocks join the outer one
            store.put("models", "b", {"v": 3})
    assert store.get("models", "b") == {"v": 3}


def test_values_that_are_not_json_are_refused(store: Store) -> None:
    with pytest.raises(StoreError, match="JSON"):
        store.put("models", "a", {"f": object()})
    with pytest.raises(StoreError, match="JSON"):
        store.append("events", {"nan": float("nan")})


def test_returned_values_are_copies(store: Store) -> None:
    store.put("c", "k", {"list": [1]})
    value = store.get("c", "k")
    value["list"].append(2)
    assert store.get("c", "k") == {"list": [1]}


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "c.db")

    def write(worker: int) -> None:
        for i in range(50):
            store.append("events", {"worker": worker, "i": i})

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(list(store.read("events"))) == 200
    store.close()


def test_sqlite_uses_wal_and_reopens_with_data(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "c.db"
    store = SQLiteStore(path)
    store.put("c", "k", {"v": 1})
    store.close()
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    again = SQLiteStore(path)
    assert again.get("c", "k") == {"v": 1}
    again.close()


def test_sqlite_refuses_a_store_from_a_newer_compound(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    SQLiteStore(path).close()
    sqlite3.connect(path).execute("PRAGMA user_version=999").connection.commit()
    with pytest.raises(StoreError, match="newer than this compound knows"):
        SQLiteStore(path)


def test_sqlite_reports_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot"):
        SQLiteStore(path)


@pytest.mark.integration
def test_acknowledged_writes_survive_kill_9(tmp_path: Path) -> None:
    """A writer prints 'ack N' only after append() returned; we SIGKILL it mid-stream and
    every acknowledged record must be in the store."""
    path = tmp_path / "c.db"
    script = textwrap.dedent(
        f"""
        import sys
        from compound.store import SQLiteStore
        store = SQLiteStore({str(path)!r})
        i = 0
        while True:
            with store.transaction():
                store.append("feedback", {{"i": i}})
                store.put("latest", "feedback", {{"i": i}})
            print("ack", i, flush=True)
            i += 1
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    acked = -1
    assert proc.stdout is not None
    for line in proc.stdout:
        acked = int(line.split()[1])
        if acked >= 300:
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    store = SQLiteStore(path)
    stored = [r.data["i"] for r in store.read("feedback")]
    assert stored[: acked + 1] == list(range(acked + 1))
    assert store.get("latest", "feedback")["i"] >= acked
    store.close()
