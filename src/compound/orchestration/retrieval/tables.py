"""The document index's SQLite tables: documents, chunks and a generation counter.

These tables are the source of truth of an index. Each change (a batch of documents
replaced, documents deleted) is one transaction that also bumps ``generation``, so derived
indexes (BM25, vectors) can tell whether they are behind. The embedding cache shares the file
(:class:`~compound.intelligence.embedders.EmbeddingCache`, its own table).

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> from compound.orchestration.ingest import Document
    >>> from compound.orchestration.chunking import chunk_document
    >>> tables = ChunkTables(Path(tempfile.mkdtemp()) / "index.sqlite")
    >>> tables.open()
    >>> doc = Document("d1", "cats purr")
    >>> tables.replace([(doc, "hash-1")], chunk_document(doc), removed=[])
    >>> tables.generation(), tables.counts()
    (1, (1, 1))
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from compound.errors import StoreError
from compound.intelligence.embedders import text_hash
from compound.orchestration.chunking import Chunk
from compound.orchestration.ingest import Document

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY, hash TEXT NOT NULL, source TEXT NOT NULL, title TEXT NOT NULL,
    metadata TEXT NOT NULL, chunks INTEGER NOT NULL, updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    id TEXT PRIMARY KEY,
    doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    position INTEGER NOT NULL, text TEXT NOT NULL, heading TEXT NOT NULL,
    start INTEGER NOT NULL, "end" INTEGER NOT NULL, text_hash BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_doc ON chunks(doc_id);
INSERT OR IGNORE INTO meta VALUES ('schema', '1'), ('generation', '0');
"""

_CHUNK_COLUMNS = (
    'c.id, c.doc_id, c.position, c.text, c.heading, c.start, c."end", d.title, d.source, '
    "d.metadata FROM chunks c JOIN documents d ON d.id = c.doc_id"
)


def _chunk(row: Sequence[Any]) -> Chunk:
    return Chunk(id=row[0], doc_id=row[1], position=row[2], text=row[3], heading=row[4],
                 start=row[5], end=row[6], title=row[7], source=row[8],
                 metadata=json.loads(row[9]))


def payload(chunk: Chunk) -> dict[str, Any]:
    """The fields a filter can test on a chunk: its document's metadata, then built-ins."""
    return {**chunk.metadata, "doc_id": chunk.doc_id, "position": chunk.position,
            "heading": chunk.heading, "source": chunk.source, "title": chunk.title}


class ChunkTables:
    """Documents and chunks in one SQLite file (WAL), safe to share between threads.

    Args:
        path: the SQLite file; created with its folder on :meth:`open`.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.RLock()
        self._db: sqlite3.Connection | None = None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            self.open()
        assert self._db is not None
        return self._db

    def open(self) -> None:
        """Create or open the file and its tables.

        Raises:
            StoreError: the folder or the file cannot be opened.
        """
        with self.lock:
            if self._db is not None:
                return
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                # check_same_thread=False: a server may search from several threads; SQLite
                # serialises the connection and writers hold self.lock.
                db = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                     check_same_thread=False)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA foreign_keys=ON")
                db.executescript(_SCHEMA)
            except (OSError, sqlite3.Error) as exc:
                raise StoreError(
                    f"could not open the index at {self.path}: {exc}. Check the folder's "
                    "permissions; if the file is damaged, delete the folder and ingest again."
                ) from exc
            self._db = db

    def close(self) -> None:
        with self.lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    # -- meta -------------------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        with self.lock:
            row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self.lock:
            self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def generation(self) -> int:
        """How many changes have been committed."""
        return int(self.meta("generation") or 0)

    # -- writing ----------------------------------------------------------------------------

    def replace(
        self, documents: Sequence[tuple[Document, str]], chunks: Sequence[Chunk],
        removed: Sequence[str],
    ) -> None:
        """In one transaction: replace ``documents`` (with their content hashes) and their
        ``chunks``, delete the ``removed`` ids, and bump the generation."""
        now = time.time()
        counts: dict[str, int] = {}
        for chunk in chunks:
            counts[chunk.doc_id] = counts.get(chunk.doc_id, 0) + 1
        rows = [(d.id, h, d.source, d.title,
                 json.dumps(dict(d.metadata), ensure_ascii=False, default=str),
                 counts.get(d.id, 0), now) for d, h in documents]

        def write(db: sqlite3.Connection) -> None:
            self._delete_in(db, "DELETE FROM documents WHERE id IN",
                            [d.id for d, _ in documents] + list(removed))
            db.executemany("INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            db.executemany("INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [
                (c.id, c.doc_id, c.position, c.text, c.heading, c.start, c.end,
                 text_hash(c.indexed_text())) for c in chunks])

        with self.lock:
            self._transaction(write)

    def rehash(self, hashes: dict[str, bytes]) -> None:
        """Record new indexed-text hashes for chunks (by id) in one transaction, bumping the
        generation so that the derived indexes rebuild from the tables."""
        with self.lock:
            self._transaction(lambda db: db.executemany(
                "UPDATE chunks SET text_hash = ? WHERE id = ?",
                [(h, i) for i, h in hashes.items()]))

    def delete(self, doc_ids: Sequence[str]) -> list[str]:
        """Delete documents in one transaction; returns the ids that were present."""
        with self.lock:
            present = [r[0] for r in self.select_in("SELECT id FROM documents WHERE id IN",
                                                    list(doc_ids))]
            if present:
                self._transaction(
                    lambda db: self._delete_in(db, "DELETE FROM documents WHERE id IN", present)
                )
        return present

    def _transaction(self, body: Callable[[sqlite3.Connection], None]) -> None:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            body(db)
            db.execute(
                "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'"
            )
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    @staticmethod
    def _delete_in(db: sqlite3.Connection, sql: str, values: list[Any]) -> None:
        for start in range(0, len(values), 500):
            part = values[start : start + 500]
            db.execute(f"{sql} ({','.join('?' * len(part))})", part)

    # -- reading ----------------------------------------------------------------------------

    def select_in(self, sql: str, values: list[Any]) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` followed by ``(?, ?, ...)`` over ``values``, 500 at a time."""
        out: list[tuple[Any, ...]] = []
        with self.lock:
            for start in range(0, len(values), 500):
                part = values[start : start + 500]
                out += self.db.execute(f"{sql} ({','.join('?' * len(part))})", part).fetchall()
        return out

    def document_hashes(self, doc_ids: Sequence[str]) -> dict[str, str]:
        rows = self.select_in("SELECT id, hash FROM documents WHERE id IN", list(doc_ids))
        return {r[0]: r[1] for r in rows}

    def chunk_ids_of(self, doc_ids: Sequence[str]) -> list[str]:
        return [r[0] for r in self.select_in("SELECT id FROM chunks WHERE doc_id IN",
                                             list(doc_ids))]

    def chunks(self, ids: Sequence[str]) -> dict[str, Chunk]:
        """Chunks by id (ids not present are absent from the result)."""
        return {r[0]: _chunk(r) for r in self.select_in(
            f"SELECT {_CHUNK_COLUMNS} WHERE c.id IN", list(ids))}

    def all_chunks(self) -> list[Chunk]:
        """Every chunk, ordered by id."""
        with self.lock:
            rows = self.db.execute(f"SELECT {_CHUNK_COLUMNS} ORDER BY c.id").fetchall()
        return [_chunk(r) for r in rows]

    def chunk_hashes(self) -> dict[str, bytes]:
        """Every chunk id with the hash of its indexed text."""
        with self.lock:
            rows = self.db.execute("SELECT id, text_hash FROM chunks").fetchall()
        return {r[0]: bytes(r[1]) for r in rows}

    def counts(self) -> tuple[int, int]:
        """(documents, chunks)."""
        with self.lock:
            row = self.db.execute(
                "SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM chunks)"
            ).fetchone()
        return int(row[0]), int(row[1])

    def problems(self) -> list[str]:
        """Documents whose recorded chunk count disagrees with their chunks."""
        with self.lock:
            bad = self.db.execute(
                "SELECT d.id FROM documents d LEFT JOIN chunks c ON c.doc_id = d.id "
                "GROUP BY d.id HAVING count(c.id) != d.chunks"
            ).fetchall()
        return [f"document {r[0]} has the wrong number of chunks" for r in bad]
