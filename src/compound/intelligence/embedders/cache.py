"""An embedding cache keyed by (model id, text hash), and an embedder that uses it.

Embedding is the slow part of indexing. The cache lets a re-index, a rebuilt index, or a second
index over the same passages skip every text it has seen with the same model settings.
``model_id`` carries the settings that change vectors (quantisation, truncation), so changing
them never returns stale vectors.

Example:
    >>> from compound.intelligence.embedders import FakeEmbedder
    >>> inner = FakeEmbedder(dim=8)
    >>> cached = CachedEmbedder(inner, EmbeddingCache(":memory:"))
    >>> _ = cached.embed(["a", "b"]); _ = cached.embed(["a", "b", "c"])
    >>> inner.texts_embedded
    3
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from compound.errors import StoreError
from compound.intelligence.embedders.base import Embedder, ProgressCallback

_SCHEMA = """
CREATE TABLE IF NOT EXISTS embedding_cache (
    model_id TEXT NOT NULL,
    text_hash BLOB NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (model_id, text_hash)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS window_cache (
    windower TEXT NOT NULL,
    text_hash BLOB NOT NULL,
    spans BLOB NOT NULL,
    PRIMARY KEY (windower, text_hash)
) WITHOUT ROWID;
"""

Spans = list[tuple[int, int]]


def text_hash(text: str) -> bytes:
    """The 16-byte key of a text (sha256 prefix of its UTF-8 bytes)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[:16]


class EmbeddingCache:
    """Vectors in a SQLite table, keyed by (model id, text hash).

    Args:
        path: the SQLite file (created when missing), or ``":memory:"``.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
            self._db.commit()
        except sqlite3.Error as exc:
            raise StoreError(
                f"could not open the embedding cache {self.path}: {exc}. Check that the folder "
                "is writable, or delete the file to start an empty cache."
            ) from exc

    def get_many(self, model_id: str, keys: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        """The cached vectors among ``keys`` (missing keys are absent from the result)."""
        return {key: np.frombuffer(blob, dtype=np.float32)
                for key, blob in self._select("embedding_cache", "model_id", "vector",
                                              model_id, keys)}

    def _select(self, table: str, tag_column: str, value_column: str, tag: str,
                keys: Sequence[bytes]) -> list[tuple[bytes, bytes]]:
        """``(text hash, value)`` rows of ``table`` for ``tag`` among ``keys``."""
        found: list[tuple[bytes, bytes]] = []
        with self._lock:
            for start in range(0, len(keys), 500):
                part = list(keys[start : start + 500])
                marks = ",".join("?" * len(part))
                rows = self._db.execute(
                    f"SELECT text_hash, {value_column} FROM {table} "
                    f"WHERE {tag_column} = ? AND text_hash IN ({marks})",
                    [tag, *part],
                )
                found.extend((bytes(key), value) for key, value in rows)
        return found

    def put_many(self, model_id: str, items: Mapping[bytes, np.ndarray]) -> None:
        """Store vectors; existing entries are kept (the same key means the same vector)."""
        rows: Iterable[tuple[str, bytes, bytes]] = (
            (model_id, key, np.ascontiguousarray(vector, dtype=np.float32).tobytes())
            for key, vector in items.items()
        )
        with self._lock, self._db:
            self._db.executemany(
                "INSERT OR IGNORE INTO embedding_cache VALUES (?, ?, ?)", rows
            )

    def get_spans(self, windower: str, keys: Sequence[bytes]) -> dict[bytes, Spans]:
        """The cached window spans among ``keys`` (see :meth:`CachedEmbedder.windows_many`)."""
        found: dict[bytes, Spans] = {}
        for key, blob in self._select("window_cache", "windower", "spans", windower, keys):
            flat = np.frombuffer(blob, dtype="<i8").tolist()
            found[key] = list(zip(flat[::2], flat[1::2], strict=True))
        return found

    def put_spans(self, windower: str, items: Mapping[bytes, Spans]) -> None:
        """Store window spans; existing entries are kept (the same key means the same spans)."""
        rows = [(windower, key, np.asarray(spans, dtype="<i8").tobytes())
                for key, spans in items.items()]
        with self._lock, self._db:
            self._db.executemany("INSERT OR IGNORE INTO window_cache VALUES (?, ?, ?)", rows)

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM embedding_cache").fetchone()[0])

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()


class CachedEmbedder(Embedder):
    """Wraps an embedder so that texts seen before are read from a cache, not embedded.

    Args:
        inner: the embedder doing the work for cache misses.
        cache: where vectors are kept.

    Attributes:
        hits: texts served from the cache so far.
        misses: texts embedded by ``inner`` so far.
    """

    def __init__(self, inner: Embedder, cache: EmbeddingCache) -> None:
        self.inner = inner
        self.cache = cache
        self.model_id = inner.model_id
        self.dim = inner.dim
        self.max_tokens = inner.max_tokens
        self.stride = inner.stride
        self.hits = 0
        self.misses = 0

    def load(self) -> None:
        """Nothing to do: the inner embedder loads on its first cache miss."""

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def windows(self, text: str) -> list[str]:
        return self.windows_many([text])[0]

    def windows_many(self, texts: Sequence[str]) -> list[list[str]]:
        """The inner embedder's windows, kept in the cache as character spans of each text.

        Cutting a text into windows tokenises it; an index that opens with ``long_text:
        windows`` needs every chunk's windows, so without the cache each open would tokenise
        the whole corpus again. Windows that are not substrings of their text, in order, are
        returned but not kept.
        """
        keys = [text_hash(t) for t in texts]
        windower = f"{self.model_id} stride {self.stride}"
        found = self.cache.get_spans(windower, keys)
        fresh: dict[bytes, Spans] = {}
        out: list[list[str]] = []
        for key, text in zip(keys, texts, strict=True):
            spans = found.get(key) or fresh.get(key)
            if spans is None:
                pieces = self.inner.windows(text)
                located = _spans(text, pieces)
                if located is None:
                    out.append(pieces)
                    continue
                spans = fresh[key] = located
            out.append([text[a:b] for a, b in spans])
        if fresh:
            self.cache.put_spans(windower, fresh)
        return out

    def _embed(self, texts: list[str], progress: ProgressCallback | None) -> np.ndarray:
        keys = [text_hash(t) for t in texts]
        found = self.cache.get_many(self.model_id, keys)
        missing: dict[bytes, str] = {}
        for key, text in zip(keys, texts, strict=True):
            if key not in found:
                missing.setdefault(key, text)
        cached_count = len(texts) - len(missing)
        self.hits += cached_count
        if missing:
            def shifted(done: int) -> None:
                if progress is not None:
                    progress(cached_count + done)

            vectors = self.inner.embed(list(missing.values()), progress=shifted)
            fresh = dict(zip(missing, vectors, strict=True))
            self.cache.put_many(self.model_id, fresh)
            found.update(fresh)
            self.misses += len(missing)
        elif progress is not None:
            progress(len(texts))
        return np.stack([found[k] for k in keys])


def _spans(text: str, pieces: Sequence[str]) -> Spans | None:
    """Where each piece starts and ends in ``text``, searched in order; None if one is not
    found there."""
    spans: Spans = []
    start = 0
    for piece in pieces:
        at = text.find(piece, start)
        if at < 0:
            return None
        spans.append((at, at + len(piece)))
        start = at + 1
    return spans
