"""Embedders: text to vectors, for retrieval and for ML features.

* :class:`Embedder`: the interface (``embed(texts) -> (n, dim) float32``, unit rows).
* :class:`OnnxEmbedder`: all-MiniLM-L6-v2 by onnxruntime, no PyTorch (the default).
* :class:`FakeEmbedder`: hashed words, deterministic, for tests.
* :class:`EmbeddingCache` and :class:`CachedEmbedder`: skip texts embedded before.

:func:`make_embedder` builds one from a name, as a spec or CLI gives it.

Example:
    >>> embedder = make_embedder("fake")
    >>> embedder.embed(["hello world"]).shape
    (1, 64)
"""

from compound.intelligence.embedders.base import Embedder, ProgressCallback, normalise
from compound.intelligence.embedders.cache import CachedEmbedder, EmbeddingCache, text_hash
from compound.intelligence.embedders.factory import EMBEDDERS, make_embedder
from compound.intelligence.embedders.fake import FakeEmbedder
from compound.intelligence.embedders.onnx import OnnxEmbedder

__all__ = [
    "EMBEDDERS",
    "CachedEmbedder",
    "Embedder",
    "EmbeddingCache",
    "FakeEmbedder",
    "OnnxEmbedder",
    "ProgressCallback",
    "make_embedder",
    "normalise",
    "text_hash",
]
