"""BM25 over chunks with ``bm25s``: Lucene's scoring, English stop words and Snowball stemming.

``bm25s`` builds its sparse score matrix in about a second for SciFact's 5,183 abstracts and
answers thousands of queries a second, so the index is rebuilt whole whenever the documents
change rather than updated in place. It is saved into a folder whose name carries the index
generation; the caller switches to it atomically through its manifest.

Example:
    >>> index = LexicalIndex()
    >>> index.build(["c1", "c2"], ["cats purr softly", "dogs bark loudly"])
    >>> index.search("a purring cat", k=1)
    [('c1', ...)]
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from compound.errors import require


def _bm25s() -> Any:
    """``bm25s``, with its logger back at WARNING: the library sets its own logger to DEBUG on
    import, so once anything has configured the root logger (any ``logging.warning`` call
    does) every index build printed ``DEBUG:bm25s:...`` lines into the user's output."""
    module = require("bm25s", extra="retrieval", what="BM25 retrieval")
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return module


class LexicalIndex:
    """A BM25 index of texts identified by ids.

    Args:
        method: BM25 variant (``lucene``, ``robertson``, ``atire``, ``bm25l``, ``bm25+``).
        k1: term-frequency saturation.
        b: length normalisation.
        stemmer: a Snowball language for PyStemmer, or None for no stemming.
        stopwords: ``en`` or None.
    """

    def __init__(
        self,
        *,
        method: str = "lucene",
        k1: float = 1.5,
        b: float = 0.75,
        stemmer: str | None = "english",
        stopwords: str | None = "en",
    ) -> None:
        self.method = method
        self.k1 = k1
        self.b = b
        self.stemmer = stemmer
        self.stopwords = stopwords
        self.ids_: list[str] = []
        self.model_: Any = None
        self.tokenizer_: Any = None

    def _new_tokenizer(self) -> Any:
        tokenization = require("bm25s.tokenization", extra="retrieval", what="BM25 retrieval")
        stemmer = None
        if self.stemmer:
            stemmer_module = require("Stemmer", extra="retrieval", what="BM25 stemming")
            stemmer = stemmer_module.Stemmer(self.stemmer)  # type: ignore[attr-defined]
        return tokenization.Tokenizer(  # type: ignore[attr-defined]
            stopwords=self.stopwords or [], stemmer=stemmer
        )

    def build(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        """Index ``texts`` under ``ids`` (replacing anything indexed before)."""
        bm25s = _bm25s()
        self.tokenizer_ = self._new_tokenizer()
        self.ids_ = list(ids)
        if not self.ids_:
            self.model_ = None
            return
        tokens = self.tokenizer_.tokenize(list(texts), return_as="tuple", show_progress=False)
        model = bm25s.BM25(method=self.method, k1=self.k1, b=self.b)  # type: ignore[attr-defined]
        model.index(tokens, show_progress=False)
        self.model_ = model

    def search(
        self, query: str, k: int, *, mask: np.ndarray | None = None
    ) -> list[tuple[str, float]]:
        """The ``k`` best ``(id, score)`` pairs with a score above 0.

        Args:
            query: the query text.
            k: how many to return at most.
            mask: per-id 1/0 weights in index order (0 excludes), from a metadata filter.
        """
        if self.model_ is None or k < 1:
            return []
        tokens = self.tokenizer_.tokenize(
            [query], update_vocab=False, return_as="ids", show_progress=False
        )
        if not tokens or not tokens[0]:
            return []
        k = min(k, len(self.ids_))
        weight_mask = None if mask is None else mask.astype(np.float32)
        docs, scores = self.model_.retrieve(
            tokens, k=k, show_progress=False, weight_mask=weight_mask
        )
        return [
            (self.ids_[int(d)], float(s)) for d, s in zip(docs[0], scores[0], strict=True) if s > 0
        ]

    def save(self, folder: Path) -> None:
        """Write the index into ``folder`` (which must not exist yet)."""
        folder.mkdir(parents=True)
        (folder / "ids.json").write_text(json.dumps(self.ids_), encoding="utf-8")
        if self.model_ is not None:
            self.model_.save(str(folder / "bm25"), show_progress=False)
            self.tokenizer_.save_vocab(str(folder / "bm25"))
            self.tokenizer_.save_stopwords(str(folder / "bm25"))
        _fsync_tree(folder)

    def load(self, folder: Path) -> None:
        """Read an index written by :meth:`save`."""
        bm25s = _bm25s()
        self.ids_ = json.loads((folder / "ids.json").read_text(encoding="utf-8"))
        self.tokenizer_ = self._new_tokenizer()
        if not self.ids_:
            self.model_ = None
            return
        self.model_ = bm25s.BM25.load(str(folder / "bm25"), show_progress=False)  # type: ignore[attr-defined]
        self.tokenizer_.load_vocab(str(folder / "bm25"))
        self.tokenizer_.load_stopwords(str(folder / "bm25"))


def _fsync_tree(folder: Path) -> None:
    """Flush a freshly written folder so that a rename after it survives a power cut."""
    for path in folder.rglob("*"):
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
