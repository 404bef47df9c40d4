"""One conformance suite for every Store (memory, SQLite, PostgreSQL), plus the durability
guarantees of the two that persist."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from compound.errors import StoreError
from compound.store import MemoryStore, SQLiteStore, Store
from compound.store.postgres import PostgresStore

#: ``open()`` makes a store; calling it again opens the same one (a restart)
Opener = Callable[[], Store]


@pytest.fixture(params=["sqlite", "postgres"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    """How to open one persistent store, again and again."""
    if request.param == "sqlite":
        return lambda: SQLiteStore(tmp_path / "c.db")
    url = request.getfixturevalue("pg_url")
    return lambda: PostgresStore(url)


@pytest.fixture(params=["sqlite", "memory", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    made: Store
    if request.param == "memory":
        made = MemoryStore()
    elif request.param == "sqlite":
        made = SQLiteStore(tmp_path / "c.db")
    else:
        made = PostgresStore(request.getfixturevalue("pg_url"))
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


def test_keys_compare_by_code_point_whatever_the_locale(store: Store) -> None:
    for key in ["b", "B", "a", "_x", "é", "Z9", "z10"]:
        store.put("c", key, {})
    store.append("Trace:1", {})
    store.append("trace:1", {})
    assert [key for key, _ in store.items("c")] == sorted(["b", "B", "a", "_x", "é", "Z9", "z10"])
    assert store.streams() == ["Trace:1", "trace:1"]


def test_a_reader_tailing_a_stream_misses_nothing(store: Store) -> None:
    """Consumers follow a stream with read(after=last): with writers racing, a record must
    never become visible after one with a higher sequence number."""
    def write(worker: int) -> None:
        for i in range(100):
            with store.transaction():
                store.append("events", {"worker": worker, "i": i})
                store.put("latest", str(worker), {"i": i})

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    seen: list[int] = []
    while True:
        finished = not any(thread.is_alive() for thread in threads)
        seen.extend(r.seq for r in store.read("events", after=seen[-1] if seen else 0))
        if finished:  # this read came after the last write
            break
    assert len(seen) == 400
    assert seen == sorted({r.seq for r in store.read("events")})


def test_read_then_write_in_a_transaction_loses_no_update(store: Store) -> None:
    """What registering the next model version or charging a budget relies on: two
    transactions never both read the same value before either writes."""

    def increment(worker: int) -> None:
        for _ in range(25):
            with store.transaction():
                count = (store.get("budgets", "spend") or {"n": 0})["n"]
                store.put("budgets", "spend", {"n": count + 1})

    threads = [threading.Thread(target=increment, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.get("budgets", "spend") == {"n": 100}


def test_prune_drops_old_runs_and_traces_only(store: Store) -> None:
    store.put("runs", "old", {"status": "completed"})
    store.put("checkpoints", "old/step", {"output": 1})
    store.put("effects", "old/step#0", {"completion": "x"})
    store.put("checkpoints", "older/step", {"output": 2})  # another run's, by prefix only
    store.append("trace:old", {"spans": []})
    store.append("feedback", {"run_id": "old"})
    store.put("models", "m@1", {})
    time.sleep(0.01)
    cutoff = time.time()
    time.sleep(0.01)
    store.put("runs", "new", {"status": "running"})
    store.put("checkpoints", "new/step", {"output": 3})
    store.append("trace:new", {"spans": []})
    assert store.prune(before=cutoff) == 4
    assert store.get("runs", "old") is None
    assert [k for k, _ in store.items("checkpoints")] == ["new/step", "older/step"]
    assert list(store.items("effects")) == []
    assert store.streams(prefix="trace:") == ["trace:new"]
    assert len(list(store.read("feedback"))) == 1
    assert store.get("models", "m@1") == {}
    assert store.prune(before=cutoff) == 0


def test_concurrent_writers_lose_nothing(opener: Opener) -> None:
    store = opener()

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


def test_postgres_refuses_a_store_from_a_newer_compound(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    store._execute("INSERT INTO compound_schema VALUES (999, 0)", (), what="write to")
    store.close()
    with pytest.raises(StoreError, match="newer than this compound knows"):
        PostgresStore(pg_url)


def test_postgres_migrates_once_and_reopens_with_data(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    store.put("c", "k", {"v": 1})
    store.close()
    again = PostgresStore(pg_url)
    assert again.get("c", "k") == {"v": 1}
    versions = again._read("SELECT version FROM compound_schema ORDER BY version", ())
    assert [v for (v,) in versions] == [1, 2]
    again.close()


def test_sqlite_reports_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot"):
        SQLiteStore(path)


@pytest.mark.integration
@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_acknowledged_writes_survive_kill_9(kind: str, request: pytest.FixtureRequest,
                                            tmp_path: Path) -> None:
    """A writer prints 'ack N' only after append() returned; we SIGKILL it mid-stream and
    every acknowledged record must be in the store."""
    if kind == "sqlite":
        opening = f"SQLiteStore({str(tmp_path / 'c.db')!r})"
        store_again: Opener = lambda: SQLiteStore(tmp_path / "c.db")  # noqa: E731
    else:
        url = request.getfixturevalue("pg_url")
        opening = f"PostgresStore({url!r})"
        store_again = lambda: PostgresStore(url)  # noqa: E731
    script = textwrap.dedent(
        f"""
        import sys
        from compound.store import SQLiteStore
        from compound.store.postgres import PostgresStore
        store = {opening}
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
    store = store_again()
    stored = [r.data["i"] for r in store.read("feedback")]
    assert stored[: acked + 1] == list(range(acked + 1))
    assert store.get("latest", "feedback")["i"] >= acked
    store.close()
