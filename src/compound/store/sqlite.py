"""The embedded default store: one SQLite file in WAL mode.

Why these settings: WAL lets readers (the dashboard, `compound trace`) work while a server
writes; ``synchronous=NORMAL`` under WAL commits to the operating system before a write is
acknowledged, so an acknowledged write survives the process being killed (``kill -9``);
``durability="full"`` adds an fsync per commit, for surviving power loss too.

Each thread gets its own connection; SQLite serialises writers and ``busy_timeout`` makes a
second writer wait instead of failing.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from compound.errors import StoreError, StoreFull
from compound.store.base import JSON, RUN_COLLECTIONS, TRACE_PREFIX, Record, Store, dumps
from compound.store.retention import Retention

# Append-only: a migration, once released, never changes; add a new one instead.
MIGRATIONS: list[str] = [
    # 1: collections, streams, blobs
    """
    CREATE TABLE documents (
        collection TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        updated REAL NOT NULL,
        PRIMARY KEY (collection, key)
    ) WITHOUT ROWID;
    CREATE TABLE records (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        stream TEXT NOT NULL,
        ts REAL NOT NULL,
        data TEXT NOT NULL
    );
    CREATE INDEX records_by_stream ON records (stream, seq);
    CREATE TABLE blobs (
        key TEXT PRIMARY KEY,
        data BLOB NOT NULL,
        updated REAL NOT NULL
    );
    """,
    # 2: time-range reads of a stream (monitoring windows)
    "CREATE INDEX records_by_stream_ts ON records (stream, ts);",
]


class SQLiteStore(Store):
    """A :class:`~compound.store.base.Store` in one SQLite file.

    Args:
        path: the database file; its folder is created. ``":memory:"`` is refused (use
            :class:`~compound.store.memory.MemoryStore`).
        durability: ``"normal"`` survives process death; ``"full"`` also power loss.
        retention_days: prune runs and traces older than this many days, in the background
            (:mod:`~compound.store.retention`); None keeps everything.

    Example:
        >>> import tempfile, pathlib
        >>> store = SQLiteStore(pathlib.Path(tempfile.mkdtemp()) / "compound.db")
        >>> store.put("runs", "r1", {"status": "ok"})
        >>> store.get("runs", "r1")
        {'status': 'ok'}
        >>> store.close()
    """

    def __init__(
        self, path: str | Path, *, durability: Literal["normal", "full"] = "normal",
        retention_days: float | None = None,
    ) -> None:
        if str(path) == ":memory:":
            raise StoreError("SQLiteStore needs a file; use MemoryStore for an in-memory store")
        self.path = Path(path)
        self.durability = durability
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the store's folder {self.path.parent}: {exc}") from exc
        self._migrate()
        self.retention = (Retention(self, days=retention_days).start()
                          if retention_days is not None else None)

    # -- connections ------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        try:
            conn = sqlite3.connect(
                self.path, timeout=30.0, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self.durability.upper()}")
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"cannot open the store {self.path}: {exc}. If the file is not a compound "
                "store, point COMPOUND_HOME or the spec's 'store.path' elsewhere."
            ) from exc
        self._local.conn = conn
        self._local.depth = 0
        with self._lock:
            self._connections.append(conn)
        return conn

    def _migrate(self) -> None:
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > len(MIGRATIONS):
                conn.execute("ROLLBACK")
                raise StoreError(
                    f"the store {self.path} has schema version {version}, newer than this "
                    f"compound knows ({len(MIGRATIONS)}); upgrade compound"
                )
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in filter(str.strip, script.split(";")):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version={number}")
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreError(f"cannot migrate the store {self.path}: {exc}") from exc

    @contextmanager
    def transaction(self) -> Iterator[None]:
        conn = self._connect()
        outermost = self._local.depth == 0
        if outermost:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.DatabaseError as exc:
                raise self._failed("write to", exc) from exc
        self._local.depth += 1
        try:
            yield
        except BaseException:
            self._local.depth -= 1
            if outermost and conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self._local.depth -= 1
        if outermost:
            try:
                conn.execute("COMMIT")
            except sqlite3.DatabaseError as exc:  # e.g. the disk filled up: nothing was written
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise self._failed("commit to", exc) from exc

    def _write(self, sql: str, params: tuple[object, ...]) -> sqlite3.Cursor:
        try:
            with self.transaction():
                return self._connect().execute(sql, params)
        except sqlite3.DatabaseError as exc:
            raise self._failed("write to", exc) from exc
        except UnicodeEncodeError as exc:  # a lone surrogate: a str that is not text
            bad = exc.object[exc.start:exc.end]
            raise StoreError(
                f"write to the store {self.path} failed: the value holds {bad!r}, a lone UTF-16 "
                "surrogate, which is not text and cannot be stored as UTF-8") from exc

    def _failed(self, what: str, exc: sqlite3.DatabaseError) -> StoreError:
        """The StoreError for ``exc``: a StoreFull when the disk or the size cap is full."""
        if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or \
                "database or disk is full" in str(exc):
            return StoreFull(
                f"the store {self.path} is full ({exc}); this write was not made. Free disk space "
                "(or raise the database's size limit), then try again")
        return StoreError(f"{what} the store {self.path} failed: {exc}")

    def _read(self, sql: str, params: tuple[object, ...]) -> list[tuple[object, ...]]:
        try:
            return self._connect().execute(sql, params).fetchall()
        except UnicodeEncodeError:  # a key with a lone surrogate (e.g. from undecodable argv)
            return []  # cannot be stored as UTF-8, so nothing is stored under it
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"read from the store {self.path} failed: {exc}") from exc

    # -- collections ------------------------------------------------------------------------

    def put(self, collection: str, key: str, value: JSON) -> None:
        self._write(
            "INSERT INTO documents (collection, key, value, updated) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (collection, key) DO UPDATE SET value = excluded.value, "
            "updated = excluded.updated",
            (collection, key, dumps(value), time.time()),
        )

    def get(self, collection: str, key: str) -> JSON | None:
        rows = self._read(
            "SELECT value FROM documents WHERE collection = ? AND key = ?", (collection, key)
        )
        return json.loads(str(rows[0][0])) if rows else None

    def delete(self, collection: str, key: str) -> bool:
        cursor = self._write(
            "DELETE FROM documents WHERE collection = ? AND key = ?", (collection, key)
        )
        return cursor.rowcount > 0

    def items(
        self, collection: str, *, prefix: str = "", limit: int | None = None
    ) -> Iterator[tuple[str, JSON]]:
        rows = self._read(
            "SELECT key, value FROM documents WHERE collection = ? AND key >= ? AND key < ? "
            "ORDER BY key LIMIT ?",
            (collection, prefix, prefix + "\U0010ffff", -1 if limit is None else limit),
        )
        for key, value in rows:
            yield str(key), json.loads(str(value))

    # -- streams ----------------------------------------------------------------------------

    def append(self, stream: str, data: JSON) -> int:
        cursor = self._write(
            "INSERT INTO records (stream, ts, data) VALUES (?, ?, ?)",
            (stream, time.time(), dumps(data)),
        )
        return int(cursor.lastrowid or 0)

    def read(
        self,
        stream: str,
        *,
        after: int = 0,
        since: float | None = None,
        limit: int | None = None,
    ) -> Iterator[Record]:
        rows = self._read(
            "SELECT seq, ts, data FROM records WHERE stream = ? AND seq > ? AND ts >= ? "
            "ORDER BY seq LIMIT ?",
            (stream, after, since if since is not None else float("-inf"),
             -1 if limit is None else limit),
        )
        for seq, ts, data in rows:
            yield Record(int(seq), stream, float(ts), json.loads(str(data)))  # type: ignore[arg-type]

    def streams(self, *, prefix: str = "") -> list[str]:
        rows = self._read(
            "SELECT DISTINCT stream FROM records WHERE stream >= ? AND stream < ? ORDER BY stream",
            (prefix, prefix + "\U0010ffff"),
        )
        return [str(row[0]) for row in rows]

    # -- retention --------------------------------------------------------------------------

    def prune(self, *, before: float, batch: int = 500) -> int:
        try:
            return self._prune(before, batch)
        except sqlite3.DatabaseError as exc:  # e.g. closed under a retention thread
            raise StoreError(f"pruning the store {self.path} failed: {exc}") from exc

    def _prune(self, before: float, batch: int) -> int:
        # in batches, each its own transaction, so that writers wait for one batch at most
        gone = 0
        while True:
            with self.transaction():
                conn = self._connect()
                runs = [str(row[0]) for row in conn.execute(
                    "SELECT key FROM documents WHERE collection = 'runs' AND updated < ? LIMIT ?",
                    (before, batch))]
                for run in runs:
                    for collection in RUN_COLLECTIONS:
                        gone += conn.execute(
                            "DELETE FROM documents WHERE collection = ? AND (key = ? OR "
                            "(key >= ? AND key < ?))",
                            (collection, run, f"{run}/", _after_prefix(f"{run}/"))).rowcount
            if len(runs) < batch:
                break
        last = 0
        while True:
            with self.transaction():
                conn = self._connect()
                seqs = [int(row[0]) for row in conn.execute(
                    "SELECT seq FROM records WHERE seq > ? AND stream >= ? AND stream < ? "
                    "AND ts < ? ORDER BY seq LIMIT ?",
                    (last, TRACE_PREFIX, _after_prefix(TRACE_PREFIX), before, batch * 10))]
                if seqs:
                    last = seqs[-1]
                    gone += conn.execute(
                        f"DELETE FROM records WHERE seq IN ({','.join(map(str, seqs))})").rowcount
            if len(seqs) < batch * 10:
                return gone

    # -- blobs ------------------------------------------------------------------------------

    def put_blob(self, key: str, data: bytes) -> None:
        self._write(
            "INSERT INTO blobs (key, data, updated) VALUES (?, ?, ?) ON CONFLICT (key) "
            "DO UPDATE SET data = excluded.data, updated = excluded.updated",
            (key, sqlite3.Binary(data), time.time()),
        )

    def get_blob(self, key: str) -> bytes | None:
        rows = self._read("SELECT data FROM blobs WHERE key = ?", (key,))
        return bytes(rows[0][0]) if rows else None  # type: ignore[arg-type]

    def close(self) -> None:
        if self.retention is not None:
            self.retention.stop()
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"


def _after_prefix(prefix: str) -> str:
    """The smallest string greater than every string starting with ``prefix``."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)
