"""A deterministic embedder for tests: hashed words, no model, no network.

Texts that share words get similar vectors, so retrieval tests behave like retrieval (a query
finds the passage that uses its words) without loading a model. The same text always gives the
same vector, on every machine and Python version (hashing is blake2b, not ``hash()``).

Example:
    >>> embedder = FakeEmbedder(dim=32)
    >>> cat, kitten, tax = embedder.embed(["the cat sat", "a cat sat down", "tax law"])
    >>> bool(cat @ kitten > cat @ tax)
    True
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

from compound.errors import UserError
from compound.intelligence.embedders.base import Embedder, ProgressCallback

_WORD = re.compile(r"\w+", re.UNICODE)


class FakeEmbedder(Embedder):
    """Feature hashing of lower-cased words into ``dim`` signed buckets.

    Args:
        dim: vector size.
        max_tokens: words beyond this many are ignored, like a model's window.
        stride: words shared by consecutive :meth:`windows` of a long text.

    Attributes:
        texts_embedded: how many texts this instance has embedded (tests use it to check
            that caches avoid work).
    """

    def __init__(self, *, dim: int = 64, max_tokens: int | None = 256, stride: int = 0) -> None:
        if dim < 2:
            raise UserError(f"FakeEmbedder needs dim of at least 2; received {dim}")
        if stride < 0 or (max_tokens is not None and stride >= max_tokens):
            raise UserError(
                f"stride must be at least 0 and below max_tokens ({max_tokens}); "
                f"received {stride}"
            )
        self.stride = stride
        self.dim = dim
        self.max_tokens = max_tokens
        self.model_id = f"fake-hash-{dim}"
        self.texts_embedded = 0

    def count_tokens(self, text: str) -> int:
        return len(_WORD.findall(text))

    def windows(self, text: str) -> list[str]:
        """Pieces of ``text`` of ``max_tokens`` words overlapping by ``stride`` words.

        Example:
            >>> FakeEmbedder(max_tokens=3, stride=1).windows("a b c d e")
            ['a b c', 'c d e']
        """
        spans = [m.span() for m in _WORD.finditer(text)]
        if self.max_tokens is None or len(spans) <= self.max_tokens:
            return [text]
        pieces = []
        for start in range(0, len(spans), self.max_tokens - self.stride):
            end = min(start + self.max_tokens, len(spans))
            pieces.append(text[spans[start][0] : spans[end - 1][1]])
            if end == len(spans):
                break
        return pieces

    def _embed(self, texts: list[str], progress: ProgressCallback | None) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            words = _WORD.findall(text.lower())[: self.max_tokens]
            if not words:
                out[row, 0] = 1.0  # an empty text still gets a unit vector
            for word in words:
                digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
                bucket = int.from_bytes(digest[:4], "little") % self.dim
                out[row, bucket] += 1.0 if digest[4] & 1 else -1.0
            if not out[row].any():
                out[row, 0] = 1.0
        self.texts_embedded += len(texts)
        if progress is not None:
            progress(len(texts))
        return out
