"""The scale path: chunk vectors in Qdrant, behind the same :class:`VectorIndex` interface.

The document table stays in the index's SQLite file (the source of truth, with the embedding
cache); Qdrant holds the vectors and a copy of each chunk's filterable fields under
``meta``, so filters run inside Qdrant. Point ids are UUIDv5 of the chunk id, which makes
every write idempotent: an interrupted sync is finished by running it again.

``url`` names a server (``http://localhost:6333``); ``path`` uses qdrant-client's local mode
(a folder, or ``":memory:"``), which needs no server and suits tests.

Example:
    >>> import numpy as np
    >>> index = QdrantVectorIndex(path=":memory:", collection="docs")
    >>> index.open(2)
    >>> index.upsert([VectorEntry("a", np.array([1.0, 0.0]), "k1")])
    >>> index.search(np.array([1.0, 0.0]), 1)
    [('a', 1.0)]
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np

from compound.errors import RuntimeFailure, UserError, require
from compound.orchestration.retrieval.filters import Filter
from compound.orchestration.retrieval.vectors import VectorEntry, VectorIndex

_NAMESPACE = uuid.UUID("5b0c1b8e-3f7e-4a55-9a57-7d0c6a0f2f11")


def point_id(chunk_id: str) -> str:
    """The Qdrant point id of a chunk (stable across processes)."""
    return str(uuid.uuid5(_NAMESPACE, chunk_id))


class QdrantVectorIndex(VectorIndex):
    """Vectors in a Qdrant collection.

    Args:
        collection: the collection name.
        url: a Qdrant server.
        path: local mode instead of a server: a folder, or ``":memory:"``.
        api_key_env: the environment variable holding the server's API key.
        batch_size: points per upsert request.
        timeout_s: the longest opening the collection or one search may take against a
            server, all of it (a server that trickles its answer is given up); requests also
            obey the deadline they run under (a step's, a served run's).
    """

    persistent = True

    def __init__(
        self,
        *,
        collection: str,
        url: str | None = None,
        path: str | None = None,
        api_key_env: str | None = None,
        batch_size: int = 256,
        timeout_s: float = 30.0,
    ) -> None:
        if (url is None) == (path is None):
            raise UserError(
                "a Qdrant vector index needs exactly one of 'url' (a server) or 'path' "
                f"(local mode); received url={url!r}, path={path!r}"
            )
        self.collection = collection
        self.url = url
        self.path = path
        self.api_key_env = api_key_env
        self.batch_size = batch_size
        self.timeout_s = timeout_s
        self.client_: Any = None
        self.dim = 0

    def open(self, dim: int) -> None:
        client_module = require("qdrant_client", extra="qdrant", what="the Qdrant vector index")
        from qdrant_client import models

        api_key = os.environ.get(self.api_key_env) if self.api_key_env else None
        if self.api_key_env and not api_key:
            raise UserError(
                f"the Qdrant API key variable {self.api_key_env} is not set; export it or "
                "remove api_key_env from the retriever's qdrant settings"
            )
        try:
            if self.url is not None:
                import httpx

                from compound.intelligence.llm.bounded_http import transport_class

                # qdrant-client hands unknown arguments to its httpx client: bound its requests
                transport = transport_class(httpx)(httpx.HTTPTransport())
                # no version check: qdrant-client makes it on a thread of its own with a bare
                # httpx.get that no deadline bounds (a trickling server holds it for minutes);
                # an incompatible server shows in the calls below instead
                client = client_module.QdrantClient(  # type: ignore[attr-defined]
                    url=self.url, api_key=api_key, transport=transport,
                    check_compatibility=False)
                self._open_collection(client, dim, models)
            else:
                client = client_module.QdrantClient(path=self.path)  # type: ignore[attr-defined]
                self._open_collection(client, dim, models)
        except UserError:
            raise
        except Exception as exc:  # qdrant-client raises transport-specific errors
            raise RuntimeFailure(
                f"could not open Qdrant collection '{self.collection}' at "
                f"{self.url or self.path}: {exc}. Check that the server is running."
            ) from exc
        self.client_, self.dim = client, dim

    def _open_collection(self, client: Any, dim: int, models: Any) -> None:
        with self._bounded():
            if not client.collection_exists(self.collection):
                client.create_collection(
                    self.collection,
                    vectors_config=models.VectorParams(size=dim, distance=models.Distance.COSINE),
                )
                return
            info = client.get_collection(self.collection)
        size = info.config.params.vectors.size
        if size != dim:
            raise UserError(
                f"Qdrant collection '{self.collection}' holds vectors of size {size}; "
                f"the embedder gives {dim}. Use another collection name or delete it."
            )

    def _bounded(self) -> Any:
        from compound.intelligence.llm.deadline import Deadline

        return Deadline.scope(self.timeout_s if self.url is not None else None,
                              label=f"the Qdrant timeout_s of {self.timeout_s:g}s")

    def upsert(self, entries: Sequence[VectorEntry]) -> None:
        from qdrant_client import models

        for start in range(0, len(entries), self.batch_size):
            points = [
                models.PointStruct(
                    id=point_id(e.id),
                    vector=np.asarray(e.vector, dtype=np.float32).tolist(),
                    payload={"chunk_id": e.id, "key": e.key, "meta": dict(e.payload)},
                )
                for e in entries[start : start + self.batch_size]
            ]
            self.client_.upsert(self.collection, points=points, wait=True)

    def delete(self, ids: Sequence[str]) -> None:
        from qdrant_client import models

        for start in range(0, len(ids), self.batch_size):
            selector = models.PointIdsList(
                points=[point_id(i) for i in ids[start : start + self.batch_size]]
            )
            self.client_.delete(self.collection, points_selector=selector, wait=True)

    def search(
        self, vector: np.ndarray, k: int, where: Filter | None = None
    ) -> list[tuple[str, float]]:
        if k < 1:
            return []
        with self._bounded():
            response = self.client_.query_points(
                self.collection,
                query=np.asarray(vector, dtype=np.float32).tolist(),
                limit=k,
                query_filter=where.to_qdrant() if where else None,
                with_payload=["chunk_id"],
            )
        # Local mode's float32 sums vary in the last bits between calls; rounding keeps
        # results (and min-max fusion downstream) the same for the same query.
        return [(str(p.payload["chunk_id"]), round(float(p.score), 6)) for p in response.points]

    def keys(self) -> dict[str, str]:
        found: dict[str, str] = {}
        offset = None
        while True:
            points, offset = self.client_.scroll(
                self.collection, limit=1024, offset=offset,
                with_payload=["chunk_id", "key"], with_vectors=False,
            )
            for p in points:
                found[str(p.payload["chunk_id"])] = str(p.payload["key"])
            if offset is None:
                return found

    def close(self) -> None:
        if self.client_ is not None:
            self.client_.close()
            self.client_ = None
