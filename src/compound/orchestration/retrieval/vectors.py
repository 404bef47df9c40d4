"""The vector index interface, and the embedded implementation in NumPy.

A vector index stores one unit vector per chunk with its payload (metadata, for filters) and a
``key`` naming what was embedded (model and text hash), so that a resync can tell stale
vectors from current ones. The document table of :class:`~.index.DocumentIndex` is the source
of truth; a vector index is derived from it.

* :class:`NumpyVectorIndex` (embedded, the default): a matrix in memory, refilled from the
  document table when the index opens (a few milliseconds per thousand chunks); exact
  cosine search by one matrix product. Also the fake for tests.
* :class:`~.qdrant.QdrantVectorIndex` (the scale path): persistent in a Qdrant server.

Example:
    >>> import numpy as np
    >>> index = NumpyVectorIndex()
    >>> index.open(2)
    >>> index.upsert([VectorEntry("a", np.array([1.0, 0.0]), "k1", {"lang": "en"}),
    ...               VectorEntry("b", np.array([0.0, 1.0]), "k2", {"lang": "fr"})])
    >>> index.search(np.array([0.8, 0.6]), 1)
    [('a', 0.8...)]
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from compound.errors import UserError
from compound.orchestration.retrieval.filters import Filter


@dataclass(frozen=True)
class VectorEntry:
    """One chunk's vector.

    Attributes:
        id: the chunk id.
        vector: unit-norm float32, shape ``(dim,)``.
        key: names what was embedded (``model_id:text_hash``); equal keys mean equal vectors.
        payload: the chunk's filterable fields.
    """

    id: str
    vector: np.ndarray
    key: str
    payload: Mapping[str, Any] = field(default_factory=dict)


class VectorIndex(abc.ABC):
    """Where chunk vectors live and are searched.

    Attributes:
        persistent: True when the index keeps its vectors between processes (Qdrant); False
            when it is refilled from the document table at every open (NumPy).
    """

    persistent: bool = False

    @abc.abstractmethod
    def open(self, dim: int) -> None:
        """Connect or allocate, for vectors of size ``dim``."""

    @abc.abstractmethod
    def upsert(self, entries: Sequence[VectorEntry]) -> None:
        """Add or replace vectors by id."""

    @abc.abstractmethod
    def delete(self, ids: Sequence[str]) -> None:
        """Remove vectors by id (unknown ids are ignored)."""

    @abc.abstractmethod
    def search(
        self, vector: np.ndarray, k: int, where: Filter | None = None
    ) -> list[tuple[str, float]]:
        """The ``k`` most similar ``(id, cosine)`` pairs, best first, among those matching."""

    @abc.abstractmethod
    def keys(self) -> dict[str, str]:
        """Every stored id with its key (used to resync after an interruption)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


class NumpyVectorIndex(VectorIndex):
    """Exact cosine search over a matrix held in memory.

    Search is one matrix-vector product: about 2 MFLOP for SciFact's 5,183 chunks, well under
    a millisecond. Beyond a few million chunks, use Qdrant.
    """

    persistent = False

    def __init__(self) -> None:
        self.dim = 0
        self._rows: dict[str, int] = {}
        self._ids: list[str] = []
        self._keys: list[str] = []
        self._payloads: list[Mapping[str, Any]] = []
        self._vectors: list[np.ndarray] = []
        self._matrix: np.ndarray | None = None
        self._live = np.zeros(0, dtype=bool)
        self._free: list[int] = []

    def open(self, dim: int) -> None:
        if dim < 1:
            raise UserError(f"vector size must be at least 1; received {dim}")
        self.dim = dim

    def __len__(self) -> int:
        return len(self._rows)

    def upsert(self, entries: Sequence[VectorEntry]) -> None:
        for entry in entries:
            vector = np.asarray(entry.vector, dtype=np.float32).reshape(-1)
            if vector.shape != (self.dim,):
                raise UserError(
                    f"vector for '{entry.id}' has size {vector.shape[0]}; this index holds "
                    f"size {self.dim}. Rebuild the index after changing the embedder."
                )
            row = self._rows.get(entry.id)
            if row is None:
                row = self._free.pop() if self._free else len(self._ids)
                if row == len(self._ids):
                    self._ids.append(entry.id)
                    self._keys.append(entry.key)
                    self._payloads.append(entry.payload)
                    self._vectors.append(vector)
                self._rows[entry.id] = row
            self._ids[row] = entry.id
            self._keys[row] = entry.key
            self._payloads[row] = entry.payload
            self._vectors[row] = vector
        self._matrix = None

    def delete(self, ids: Sequence[str]) -> None:
        for chunk_id in ids:
            row = self._rows.pop(chunk_id, None)
            if row is not None:
                self._vectors[row] = np.zeros(self.dim, dtype=np.float32)
                self._ids[row] = ""
                self._free.append(row)
        self._matrix = None

    def search(
        self, vector: np.ndarray, k: int, where: Filter | None = None
    ) -> list[tuple[str, float]]:
        if not self._rows or k < 1:
            return []
        if self._matrix is None:
            self._matrix = np.vstack(self._vectors)
            self._live = np.zeros(len(self._ids), dtype=bool)
            self._live[list(self._rows.values())] = True
        # einsum, not `@`: a matrix-vector product through a multi-threaded BLAS costs ten
        # times more on a busy small machine (thread hand-offs), and one core does this fast.
        scores = np.einsum("ij,j->i", self._matrix, np.asarray(vector, dtype=np.float32))
        live = self._live.copy()
        if where:
            live &= np.fromiter(
                (where.matches(p) for p in self._payloads), dtype=bool, count=len(self._payloads)
            )
        candidates = np.flatnonzero(live)
        if candidates.size == 0:
            return []
        k = min(k, candidates.size)
        chosen = candidates[np.argpartition(-scores[candidates], k - 1)[:k]]
        # Sort by score, then by id so that ties are deterministic.
        # Rounded so that the same query gives the same scores whatever the rows' order in
        # the matrix (BLAS rounding can differ in the last bits between row positions).
        rounded = {r: round(float(scores[r]), 6) for r in chosen.tolist()}
        order = sorted(rounded, key=lambda r: (-rounded[r], self._ids[r]))
        return [(self._ids[r], rounded[r]) for r in order]

    def keys(self) -> dict[str, str]:
        return {chunk_id: self._keys[row] for chunk_id, row in self._rows.items()}
