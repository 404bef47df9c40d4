"""The store at scale: PostgreSQL through psycopg 3 and a connection pool (``compound[postgres]``).

It keeps the same three tables as :mod:`~compound.store.sqlite` and behaves the same, so that
one conformance suite runs over both. What differs, and why:

* **Transactions run one at a time**, as SQLite's ``BEGIN IMMEDIATE`` makes them: each
  takes one transaction-scoped advisory lock when it begins. Code that reads, then writes
  what it read inside ``transaction()`` (the next model version, a budget's spend) is then
  safe across processes too, where PostgreSQL's default isolation (read committed) would
  let two of them read the same value and one update be lost; and two transactions can
  never deadlock. A single write outside a transaction takes no such lock.
* **Several processes write at once.** SQLite serialises writers, so a stream's sequence
  numbers become visible in order and a reader tailing it with ``read(after=last)`` never
  skips one. PostgreSQL hands out sequence numbers before commit, so two writers could
  commit 11 before 10. Each append therefore takes a transaction-scoped advisory lock on
  its stream first: within one stream, numbers are drawn and committed in order, while
  appends to different streams (the traces of different runs) still run side by side.
* **Keys and stream names compare as bytes** (``COLLATE "C"``), not by the database's
  locale, so ``items`` and ``streams`` come back in the order SQLite and Python give.
* **Durability** is PostgreSQL's: a write is acknowledged after its commit is flushed to
  the write-ahead log (``synchronous_commit`` on, the default), so it survives ``kill -9``
  of the writer and of the server.
* **PgBouncer.** In transaction pooling mode a server connection changes hands between
  transactions, so server-side prepared statements cannot be relied on: ``pgbouncer=true``
  in the URL turns them off (psycopg's ``prepare_threshold=None``). Nothing else here
  depends on a session: locks are transaction-scoped and no ``SET`` is issued.

The URL is libpq's, plus two options of compound's own, removed before connecting:
``pool_size`` (most connections per process, default 8) and ``pgbouncer``.

Example (needs a server; the docs page shows how to start one):

    store = PostgresStore("postgresql://compound:secret@127.0.0.1:5432/compound?pool_size=4")
    store.put("runs", "r1", {"status": "ok"})
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit

from compound.errors import StoreError, StoreFull, UserError, require
from compound.store.base import JSON, RUN_COLLECTIONS, TRACE_PREFIX, Record, Store, dumps
from compound.store.retention import Retention

if TYPE_CHECKING:
    import psycopg

DEFAULT_POOL_SIZE = 8

# Append-only: a migration, once released, never changes; add a new one instead.
MIGRATIONS: list[str] = [
    # 1: collections, streams, blobs
    """
    CREATE TABLE documents (
        collection TEXT COLLATE "C" NOT NULL,
        key TEXT COLLATE "C" NOT NULL,
        value TEXT NOT NULL,
        updated DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (collection, key)
    );
    CREATE TABLE records (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        stream TEXT COLLATE "C" NOT NULL,
        ts DOUBLE PRECISION NOT NULL,
        data TEXT NOT NULL
    );
    CREATE INDEX records_by_stream ON records (stream, seq);
    CREATE TABLE blobs (
        key TEXT COLLATE "C" PRIMARY KEY,
        data BYTEA NOT NULL,
        updated DOUBLE PRECISION NOT NULL
    );
    """,
    # 2: time-range reads of a stream (monitoring windows)
    "CREATE INDEX records_by_stream_ts ON records (stream, ts);",
]

# advisory lock keys (any fixed numbers): migrations of one database, and transactions
MIGRATION_LOCK = 0x636F6D706F756E64  # "compound"
TRANSACTION_LOCK = MIGRATION_LOCK + 1


class PostgresStore(Store):
    """A :class:`~compound.store.base.Store` in a PostgreSQL database.

    Args:
        url: ``postgresql://user:password@host:port/database``, with libpq's options
            (``sslmode``, ``options=-csearch_path%3Dschema``, ...) and compound's own
            ``pool_size`` and ``pgbouncer`` in the query string.
        pool_size: most connections this process opens (overrides the URL's).
        pgbouncer: no server-side prepared statements, for PgBouncer's transaction pooling
            (overrides the URL's).
        retention_days: prune runs and traces older than this many days, in the background
            (:mod:`~compound.store.retention`); None keeps everything.
        connect_timeout_s: how long opening waits for a first connection.

    Raises:
        MissingDependency: ``compound[postgres]`` is not installed.
        UserError: the URL is not a PostgreSQL URL or its options are wrong.
        StoreError: the server cannot be reached or the schema cannot be migrated.
    """

    def __init__(self, url: str, *, pool_size: int | None = None, pgbouncer: bool | None = None,
                 retention_days: float | None = None, connect_timeout_s: float = 10.0) -> None:
        psycopg_module: Any = require("psycopg", extra="postgres", what="the PostgreSQL store")
        pool_module: Any = require("psycopg_pool", extra="postgres",
                                   what="the PostgreSQL store")
        conninfo, options = _split_url(url)
        self.pool_size = pool_size if pool_size is not None else options["pool_size"]
        self.pgbouncer = pgbouncer if pgbouncer is not None else options["pgbouncer"]
        if self.pool_size < 1:
            raise UserError(f"the PostgreSQL store's pool_size must be at least 1, not "
                            f"{self.pool_size}")
        self.where = _where(conninfo)
        self._local = threading.local()
        self._pool = pool_module.ConnectionPool(
            conninfo, min_size=1, max_size=self.pool_size, open=False, timeout=30.0,
            name="compound-store",
            kwargs={"autocommit": True,
                    "prepare_threshold": None if self.pgbouncer else 5},
        )
        try:  # one plain connection first: the server's own reason, without the pool's retries
            psycopg_module.connect(conninfo, connect_timeout=max(1, round(connect_timeout_s))
                                   ).close()
            self._pool.open(wait=True, timeout=connect_timeout_s)
        except (psycopg_module.Error, pool_module.PoolTimeout) as exc:
            self._pool.close()
            raise StoreError(
                f"cannot connect to the PostgreSQL store at {self.where}: {exc}. Is the server "
                "running, and are the URL's user, password and database right?") from exc
        try:
            self._migrate()
        except BaseException:
            self._pool.close()
            raise
        self.retention = (Retention(self, days=retention_days).start()
                          if retention_days is not None else None)

    # -- connections ------------------------------------------------------------------------

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        """The thread's connection inside a transaction, else one from the pool."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            yield conn
            return
        with self._pool.connection() as conn:
            yield conn

    def _migrate(self) -> None:
        import psycopg

        try:
            with self._pool.connection() as conn, conn.transaction():
                # processes starting together: one migrates, the others wait, then see it done
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
                conn.execute("CREATE TABLE IF NOT EXISTS compound_schema ("
                             "version INTEGER PRIMARY KEY, applied DOUBLE PRECISION NOT NULL)")
                row = conn.execute("SELECT coalesce(max(version), 0) FROM compound_schema"
                                   ).fetchone()
                version = int(row[0]) if row else 0
                if version > len(MIGRATIONS):
                    raise StoreError(
                        f"the store at {self.where} has schema version {version}, newer than "
                        f"this compound knows ({len(MIGRATIONS)}); upgrade compound")
                for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                    for statement in filter(str.strip, script.split(";")):
                        conn.execute(statement)
                    conn.execute("INSERT INTO compound_schema (version, applied) "
                                 "VALUES (%s, %s)", (number, time.time()))
        except psycopg.Error as exc:
            raise StoreError(f"cannot migrate the store at {self.where}: {exc}") from exc

    @contextmanager
    def transaction(self) -> Iterator[None]:
        import psycopg

        if getattr(self._local, "conn", None) is not None:  # nested blocks join the outer one
            yield
            return
        try:
            with self._pool.connection() as conn:
                self._local.conn = conn
                try:
                    with conn.transaction():
                        conn.execute("SELECT pg_advisory_xact_lock(%s)", (TRANSACTION_LOCK,))
                        yield
                finally:
                    self._local.conn = None
        except psycopg.Error as exc:  # BEGIN or COMMIT failed: nothing was written
            raise self._failed("commit to", exc) from exc

    def _failed(self, what: str, exc: Exception) -> StoreError:
        sqlstate = getattr(exc, "sqlstate", None)
        if sqlstate == "53100":  # disk_full
            return StoreFull(
                f"the store at {self.where} is full ({exc}); this write was not made. Free "
                "disk space on the database server, then try again")
        if sqlstate == "40P01":  # deadlock_detected
            return StoreError(
                f"{what} the store at {self.where} failed: two transactions waited on each "
                f"other ({exc}); nothing of this one was written, try it again")
        return StoreError(f"{what} the store at {self.where} failed: {exc}")

    def _execute(self, sql: str, params: tuple[object, ...], *, what: str
                 ) -> tuple[list[tuple[Any, ...]], int]:
        """Rows (when the statement returns any) and the row count, fetched before the
        connection goes back to the pool."""
        import psycopg

        try:
            with self._connection() as conn:
                cursor = conn.execute(sql, params)
                return (cursor.fetchall() if cursor.description is not None else [],
                        cursor.rowcount)
        except psycopg.Error as exc:
            raise self._failed(what, exc) from exc
        except UnicodeEncodeError as exc:  # a lone surrogate: a str that is not text
            if what == "read from":  # nothing can be stored under such a key
                raise _Unstorable from exc
            bad = exc.object[exc.start:exc.end]
            raise StoreError(
                f"write to the store at {self.where} failed: the value holds {bad!r}, a lone "
                "UTF-16 surrogate, which is not text and cannot be stored as UTF-8") from exc

    def _write(self, sql: str, params: tuple[object, ...]) -> tuple[list[tuple[Any, ...]], int]:
        for param in params:
            if isinstance(param, str) and "\x00" in param:
                raise StoreError(
                    f"write to the store at {self.where} failed: a key or name holds a NUL "
                    "character, which PostgreSQL text cannot hold")
        return self._execute(sql, params, what="write to")

    def _read(self, sql: str, params: tuple[object, ...]) -> list[tuple[Any, ...]]:
        if any(isinstance(p, str) and "\x00" in p for p in params):
            return []  # nothing can be stored under such a key
        try:
            return self._execute(sql, params, what="read from")[0]
        except _Unstorable:
            return []

    # -- collections ------------------------------------------------------------------------

    def put(self, collection: str, key: str, value: JSON) -> None:
        self._write(
            "INSERT INTO documents (collection, key, value, updated) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (collection, key) DO UPDATE SET value = excluded.value, "
            "updated = excluded.updated",
            (collection, key, dumps(value), time.time()),
        )

    def get(self, collection: str, key: str) -> JSON | None:
        import json

        rows = self._read(
            "SELECT value FROM documents WHERE collection = %s AND key = %s", (collection, key))
        return json.loads(rows[0][0]) if rows else None

    def delete(self, collection: str, key: str) -> bool:
        _, count = self._write(
            "DELETE FROM documents WHERE collection = %s AND key = %s", (collection, key))
        return count > 0

    def items(
        self, collection: str, *, prefix: str = "", limit: int | None = None
    ) -> Iterator[tuple[str, JSON]]:
        import json

        rows = self._read(
            "SELECT key, value FROM documents WHERE collection = %s AND key >= %s AND key < %s "
            "ORDER BY key LIMIT %s",
            (collection, prefix, prefix + "\U0010ffff", limit),
        )
        for key, value in rows:
            yield key, json.loads(value)

    # -- streams ----------------------------------------------------------------------------

    def append(self, stream: str, data: JSON) -> int:
        # the lock is taken before the identity is drawn (the subquery runs first) and held
        # to commit: see the module docstring
        rows, _ = self._write(
            "INSERT INTO records (stream, ts, data) SELECT %s, %s, %s "
            "FROM (SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))) AS locked "
            "RETURNING seq",
            (stream, time.time(), dumps(data), stream),
        )
        return int(rows[0][0])

    def read(
        self,
        stream: str,
        *,
        after: int = 0,
        since: float | None = None,
        limit: int | None = None,
    ) -> Iterator[Record]:
        import json

        rows = self._read(
            "SELECT seq, ts, data FROM records WHERE stream = %s AND seq > %s AND ts >= %s "
            "ORDER BY seq LIMIT %s",
            (stream, after, since if since is not None else float("-inf"), limit),
        )
        for seq, ts, data in rows:
            yield Record(int(seq), stream, float(ts), json.loads(data))

    def streams(self, *, prefix: str = "") -> list[str]:
        rows = self._read(
            "SELECT DISTINCT stream FROM records WHERE stream >= %s AND stream < %s "
            "ORDER BY stream",
            (prefix, prefix + "\U0010ffff"),
        )
        return [str(row[0]) for row in rows]

    # -- blobs ------------------------------------------------------------------------------

    def put_blob(self, key: str, data: bytes) -> None:
        self._write(
            "INSERT INTO blobs (key, data, updated) VALUES (%s, %s, %s) ON CONFLICT (key) "
            "DO UPDATE SET data = excluded.data, updated = excluded.updated",
            (key, bytes(data), time.time()),
        )

    def get_blob(self, key: str) -> bytes | None:
        rows = self._read("SELECT data FROM blobs WHERE key = %s", (key,))
        return bytes(rows[0][0]) if rows else None

    # -- retention --------------------------------------------------------------------------

    def prune(self, *, before: float, batch: int = 500) -> int:
        # in batches, each its own transaction, so that no writer waits on a long delete
        gone = 0
        while True:
            with self.transaction():
                runs = [row[0] for row in self._write(
                    "DELETE FROM documents WHERE collection = 'runs' AND key IN (SELECT key "
                    "FROM documents WHERE collection = 'runs' AND updated < %s LIMIT %s) "
                    "RETURNING key", (before, batch))[0]]
                gone += len(runs)
                for collection in RUN_COLLECTIONS[1:]:  # one index range per run
                    gone += self._write(
                        "DELETE FROM documents AS d USING unnest(%s::text[]) AS r(id) "
                        "WHERE d.collection = %s AND d.key >= r.id || '/' "
                        "AND d.key < r.id || '0'", (runs, collection))[1]
            if len(runs) < batch:
                break
        while True:
            deleted = self._write(
                "DELETE FROM records WHERE seq IN (SELECT seq FROM records WHERE stream >= %s "
                "AND stream < %s AND ts < %s ORDER BY seq LIMIT %s)",
                (TRACE_PREFIX, TRACE_PREFIX[:-1] + chr(ord(TRACE_PREFIX[-1]) + 1), before,
                 batch * 10))[1]
            gone += deleted
            if deleted < batch * 10:
                return gone

    # -- lifecycle --------------------------------------------------------------------------

    def close(self) -> None:
        if self.retention is not None:
            self.retention.stop()
        self._pool.close()

    def __repr__(self) -> str:
        return f"PostgresStore({self.where!r})"


class _Unstorable(Exception):
    """A read's parameters cannot be encoded, so nothing is stored under them."""


def _split_url(url: str) -> tuple[str, dict[str, Any]]:
    """libpq's URL without compound's options, and those options."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise UserError(f"store.url must be a PostgreSQL URL, postgresql://user:password@host:"
                        f"port/database; got one starting '{parts.scheme}://'")
    kept: list[str] = []  # libpq's own parameters, passed on exactly as written
    options: dict[str, Any] = {"pool_size": DEFAULT_POOL_SIZE, "pgbouncer": False}
    for pair in filter(None, parts.query.split("&")):
        name, _, value = pair.partition("=")
        value = unquote(value)
        if name == "pool_size":
            try:
                options["pool_size"] = int(value)
            except ValueError:
                raise UserError(f"the store URL's pool_size must be a whole number, not "
                                f"'{value}'") from None
        elif name == "pgbouncer":
            if value.lower() not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
                raise UserError(f"the store URL's pgbouncer must be true or false, not "
                                f"'{value}'")
            options["pgbouncer"] = value.lower() in ("true", "1", "yes", "on")
        else:
            kept.append(pair)
    return urlunsplit(parts._replace(query="&".join(kept))), options


def _where(conninfo: str) -> str:
    """``user@host:port/database`` of ``conninfo``, never its password (for messages)."""
    parts = urlsplit(conninfo)
    user = f"{parts.username}@" if parts.username else ""
    port = f":{parts.port}" if parts.port else ""
    return f"postgresql://{user}{parts.hostname or 'localhost'}{port}{parts.path}"
