"""Embedders: text to vectors, for retrieval and for ML features.

* :class:`Embedder`: the interface (``embed(texts) -> (n, dim) float32``, unit rows).
* :class:`OnnxEmbedder`: all-MiniLM-L6-v2 by onnxruntime, int8, no PyTorch (the default).
* :class:`FakeEmbedder`: hashed words, deterministic, for tests.
* :class:`EmbeddingCache` and :class:`CachedEmbedder`: skip texts embedded before.

:func:`make_embedder` builds one from a name, as a spec or CLI gives it.

Example:
    >>> embedder = make_embedder("fake")
    >>> embedder.embed(["hello world"]).shape
    (1, 64)
"""

from __future__ import annotations

from typing import Any

from compound.errors import UserError
from compound.intelligence.embedders.base import Embedder, ProgressCallback, normalise
from compound.intelligence.embedders.cache import CachedEmbedder, EmbeddingCache, text_hash
from compound.intelligence.embedders.fake import FakeEmbedder
from compound.intelligence.embedders.onnx import OnnxEmbedder

#: Names :func:`make_embedder` accepts.
EMBEDDERS = ("minilm", "fake")


def make_embedder(name: str = "minilm", **options: Any) -> Embedder:
    """An embedder from its name and keyword options.

    Args:
        name: ``minilm`` (:class:`OnnxEmbedder`, options: ``max_tokens``, ``batch_size``,
            ``threads``, ``quantize``, ``model_path``, ``tokenizer_path``) or ``fake``
            (:class:`FakeEmbedder`, option ``dim``).
        **options: passed to the class.

    Raises:
        UserError: an unknown name or option.
    """
    from compound.specfile import did_you_mean

    classes: dict[str, type[Embedder]] = {"minilm": OnnxEmbedder, "fake": FakeEmbedder}
    if name not in classes:
        raise UserError(
            f"unknown embedder '{name}'{did_you_mean(name, classes)}; "
            f"available: {', '.join(EMBEDDERS)}"
        )
    try:
        return classes[name](**options)
    except TypeError as exc:
        raise UserError(f"embedder '{name}': {exc}; check its options") from None


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
