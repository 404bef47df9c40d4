"""The optional reranking stage: a slower, better scorer applied to the first candidates.

A reranker scores ``(query, passage)`` pairs; :meth:`Reranker.rerank` reorders hits by those
scores (ties keep the first stage's order). Three ship:

* :class:`OverlapReranker`: the share of query words a passage contains. Deterministic; the
  fake for tests, and a fair baseline.
* :class:`LLMReranker`: asks an LLM for a 0-10 relevance grade per passage (JSON-constrained).
* :class:`CrossEncoderReranker`: an ONNX cross-encoder (e.g. an ms-marco MiniLM export) from
  files you provide; compound ships no cross-encoder weights.

Example:
    >>> from compound.orchestration.retrieval.types import Hit
    >>> hits = [Hit("a#0", "a", "tax law", 2.0, 1), Hit("b#0", "b", "cats purr softly", 1.0, 2)]
    >>> [h.doc_id for h in OverlapReranker().rerank("why do cats purr", hits)]
    ['b', 'a']
"""

from __future__ import annotations

import abc
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from compound.errors import UserError, require
from compound.intelligence.llm.errors import InvalidResponse
from compound.orchestration.retrieval.types import Hit

_WORD = re.compile(r"\w+")


class Reranker(abc.ABC):
    """Scores passages against a query; higher is more relevant."""

    def load(self) -> None:  # noqa: B027 - optional hook
        """Load weights or open clients."""

    @abc.abstractmethod
    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        """One score per passage."""

    def rerank(self, query: str, hits: Sequence[Hit]) -> list[Hit]:
        """``hits`` reordered by :meth:`score`, ranks renumbered; each keeps earlier scores."""
        if not hits:
            return []
        self.load()
        scores = self.score(query, [h.text for h in hits])
        if len(scores) != len(hits):
            raise UserError(
                f"{type(self).__name__}.score returned {len(scores)} scores for {len(hits)} "
                "passages; it must return one per passage"
            )
        order = sorted(range(len(hits)), key=lambda i: (-scores[i], i))
        return [
            hits[i].with_score(float(scores[i]), "rerank", rank=rank)
            for rank, i in enumerate(order, start=1)
        ]

    def run(self, query: str, hits: Sequence[Hit]) -> list[Hit]:
        """The component entry point: the same as :meth:`rerank`."""
        return self.rerank(query, hits)


class OverlapReranker(Reranker):
    """The share of distinct query words (lower-cased, 3+ letters) found in the passage."""

    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        terms = {w for w in _WORD.findall(query.lower()) if len(w) > 2}
        if not terms:
            return [0.0] * len(passages)
        return [len(terms & set(_WORD.findall(p.lower()))) / len(terms) for p in passages]


_GRADE_SCHEMA = {
    "type": "object",
    "properties": {"relevance": {"type": "integer", "minimum": 0, "maximum": 10}},
    "required": ["relevance"],
}


class LLMReranker(Reranker):
    """Grades each passage 0-10 with an LLM (one call per passage, greedy, JSON output).

    Args:
        llm: a :class:`~compound.intelligence.llm.LLM` (anything with ``complete``).
        max_passage_chars: passages are cut to this many characters in the prompt.

    A reply that cannot be read as a grade (not JSON, or a number outside 0-10: the JSON
    grammar cannot hold a small model to the schema's bounds) counts as 0, so one bad answer
    demotes a passage rather than failing the search.
    """

    def __init__(self, llm: Any, *, max_passage_chars: int = 1500) -> None:
        self.llm = llm
        self.max_passage_chars = max_passage_chars

    def load(self) -> None:
        """Load the LLM now (where it can), not inside the first search."""
        load = getattr(self.llm, "load", None)
        if callable(load):
            load()

    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        grades = []
        for passage in passages:
            prompt = (
                "Grade how well the passage helps answer the question, from 0 (unrelated) "
                "to 10 (answers it fully).\n\n"
                f"Question: {query}\n\nPassage: {passage[: self.max_passage_chars]}\n\n"
                'Reply as JSON: {"relevance": <0-10>}'
            )
            try:
                completion = self.llm.complete(prompt, json_schema=_GRADE_SCHEMA,
                                               max_tokens=16, temperature=0.0)
            except InvalidResponse:
                grades.append(0.0)
                continue
            grades.append(_grade(getattr(completion, "data", None), completion.text))
        return grades


def _grade(data: Any, text: str) -> float:
    """The reply's 0-10 grade (its JSON, else the first number in its text), or 0."""
    value = data.get("relevance") if isinstance(data, dict) else None
    if not isinstance(value, int | float) or isinstance(value, bool):
        match = re.search(r"\d+(?:\.\d+)?", text or "")
        value = float(match.group()) if match else None
    return float(value) if value is not None and 0 <= value <= 10 else 0.0


class CrossEncoderReranker(Reranker):
    """An ONNX cross-encoder: ``(query, passage)`` pairs in, one relevance logit out.

    Args:
        model_path: the ONNX file (inputs ``input_ids``, ``attention_mask`` and optionally
            ``token_type_ids``; output logits of shape ``(batch, 1)``).
        tokenizer_path: its ``tokenizer.json``.
        max_tokens: pair length limit (the passage is truncated first).
        batch_size: pairs per forward pass.
        threads: intra-op threads; None uses every available core.
    """

    def __init__(
        self,
        *,
        model_path: str | os.PathLike[str],
        tokenizer_path: str | os.PathLike[str],
        max_tokens: int = 256,
        batch_size: int = 16,
        threads: int | None = None,
    ) -> None:
        self.model_path = Path(model_path)
        self.tokenizer_path = Path(tokenizer_path)
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self.threads = threads
        self.session_: Any = None
        self.tokenizer_: Any = None

    def load(self) -> None:
        if self.session_ is not None:
            return
        ort = require("onnxruntime", extra="retrieval", what="the cross-encoder reranker")
        tokenizers = require("tokenizers", extra="retrieval", what="the cross-encoder reranker")
        for label, path in (("model", self.model_path), ("tokenizer", self.tokenizer_path)):
            if not path.is_file():
                raise UserError(f"the cross-encoder's {label} file {path} does not exist")
        options = ort.SessionOptions()  # type: ignore[attr-defined]
        if self.threads:
            options.intra_op_num_threads = self.threads
        self.session_ = ort.InferenceSession(  # type: ignore[attr-defined]
            str(self.model_path), options, providers=["CPUExecutionProvider"]
        )
        tokenizer = tokenizers.Tokenizer.from_file(str(self.tokenizer_path))  # type: ignore[attr-defined]
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=self.max_tokens, strategy="only_second")
        self.tokenizer_ = tokenizer

    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        self.load()
        names = {i.name for i in self.session_.get_inputs()}
        out: list[float] = []
        for start in range(0, len(passages), self.batch_size):
            pairs = [(query, p) for p in passages[start : start + self.batch_size]]
            encodings = self.tokenizer_.encode_batch(pairs)
            width = max(len(e.ids) for e in encodings)
            feed = {
                "input_ids": np.zeros((len(pairs), width), dtype=np.int64),
                "attention_mask": np.zeros((len(pairs), width), dtype=np.int64),
                "token_type_ids": np.zeros((len(pairs), width), dtype=np.int64),
            }
            for row, e in enumerate(encodings):
                feed["input_ids"][row, : len(e.ids)] = e.ids
                feed["attention_mask"][row, : len(e.ids)] = 1
                feed["token_type_ids"][row, : len(e.ids)] = e.type_ids
            logits = self.session_.run(None, {k: v for k, v in feed.items() if k in names})[0]
            out += np.asarray(logits, dtype=np.float32).reshape(len(pairs), -1)[:, 0].tolist()
        return out
