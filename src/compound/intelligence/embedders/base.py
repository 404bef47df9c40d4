"""The embedder interface: texts in, L2-normalised float32 vectors out.

An embedder is the boundary between compound and a text-embedding model. Retrieval uses it to
index passages and embed queries; ML models use it to turn text into features. A provider
implements :meth:`Embedder._embed`; the base class checks the input and the output once for
all of them, so every embedder returns the same shape and dtype.

Example:
    >>> from compound.intelligence.embedders import FakeEmbedder
    >>> vectors = FakeEmbedder(dim=8).embed(["a cat", "a dog"])
    >>> vectors.shape, str(vectors.dtype)
    ((2, 8), 'float32')
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence

import numpy as np

from compound.errors import RuntimeFailure, UserError

#: Called with the number of texts embedded so far, for progress bars.
ProgressCallback = Callable[[int], None]


class Embedder(abc.ABC):
    """A text-embedding model behind one small interface.

    Attributes:
        model_id: names the model *and* every setting that changes its vectors (quantisation,
            truncation). Caches key embeddings by it, so two embedders with the same id must
            return the same vectors.
        dim: the vector size.
        max_tokens: the model's window; longer texts are truncated (None: no limit).
        stride: the overlap, in tokens, between consecutive :meth:`windows` of a long text
            (0 where the embedder does not cut texts into windows).
    """

    model_id: str
    dim: int
    max_tokens: int | None = None
    stride: int = 0

    def load(self) -> None:  # noqa: B027 - optional hook
        """Load weights. Idempotent; :meth:`embed` calls it on first use."""

    @abc.abstractmethod
    def _embed(self, texts: list[str], progress: ProgressCallback | None) -> np.ndarray:
        """Embed a non-empty list of strings; rows need not be normalised yet."""

    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` takes in this model (whitespace words unless overridden)."""
        return len(text.split())

    def windows(self, text: str) -> list[str]:
        """``text`` cut into overlapping pieces that each fit the model's window.

        An index that scores a long chunk by its best window ("MaxP") embeds each piece. The
        default keeps the text whole; embedders with a tokenizer override it.

        Example:
            >>> from compound.intelligence.embedders import FakeEmbedder
            >>> Embedder.windows(FakeEmbedder(), "a long text")
            ['a long text']
        """
        return [text]

    def windows_many(self, texts: Sequence[str]) -> list[list[str]]:
        """:meth:`windows` of each text (a cache or a batching tokenizer overrides it)."""
        return [self.windows(text) for text in texts]

    def embed(
        self, texts: Sequence[str], *, progress: ProgressCallback | None = None
    ) -> np.ndarray:
        """Embed ``texts``, one row per text, in order.

        Args:
            texts: the strings (a list or tuple, not one bare string).
            progress: called with the count of texts done, as batches finish.

        Returns:
            A ``(len(texts), dim)`` float32 array whose rows have unit L2 norm.

        Raises:
            UserError: ``texts`` is a single string or holds something that is not a string.
            RuntimeFailure: the model returned the wrong shape or non-finite values.
        """
        if isinstance(texts, str | bytes):
            raise UserError(
                f"{type(self).__name__}.embed() takes a list of strings; received one "
                f"{type(texts).__name__} ({texts[:40]!r}). Wrap it: embed([text])"
            )
        items = list(texts)
        for index, text in enumerate(items):
            if not isinstance(text, str):
                raise UserError(
                    f"{type(self).__name__}.embed(): item {index} is a "
                    f"{type(text).__name__}, expected str; convert it before embedding"
                )
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        self.load()
        vectors = np.asarray(self._embed(items, progress), dtype=np.float32)
        if vectors.shape != (len(items), self.dim):
            raise RuntimeFailure(
                f"embedder '{self.model_id}' returned shape {vectors.shape} for {len(items)} "
                f"texts; expected ({len(items)}, {self.dim}). The model file may not match "
                "the embedder's settings."
            )
        if not np.isfinite(vectors).all():
            raise RuntimeFailure(
                f"embedder '{self.model_id}' returned NaN or infinite values; the model file "
                "may be corrupt (delete the prepared copy in the model cache and retry)"
            )
        return normalise(vectors)

    def embed_query(self, text: str) -> np.ndarray:
        """One text's vector, shape ``(dim,)``."""
        return self.embed([text])[0]

    def run(self, texts: Sequence[str]) -> np.ndarray:
        """The component entry point: the same as :meth:`embed`."""
        return self.embed(texts)


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm; an all-zero row stays zero."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms == 0, 1.0, norms)).astype(np.float32, copy=False)
