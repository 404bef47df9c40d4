"""Text metrics for LLM answers: exact and normalised match, token F1, containment, key points.

Normalisation follows the convention of extractive QA evaluation: lower case, punctuation and
the articles *a*, *an*, *the* removed, whitespace collapsed. When the reference is a list
(several acceptable answers), a row scores its best match.

Example:
    >>> normalize_answer("The  Eiffel Tower!")
    'eiffel tower'
    >>> token_f1("the Eiffel tower in Paris", "Eiffel Tower")
    0.6666666666666666
    >>> normalized_match("Yes.", ["yes", "maybe"])
    1.0
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from compound.metrics.base import Score, metric

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation) | {"‘", "’", "“", "”", "–", "—", "…"}


def normalize_answer(text: str) -> str:
    """Lower case, no punctuation, no articles, single spaces."""
    text = unicodedata.normalize("NFKC", str(text)).lower()
    text = "".join(" " if ch in _PUNCTUATION else ch for ch in text)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def tokens(text: str) -> list[str]:
    """The normalised words of ``text``."""
    return normalize_answer(text).split()


def references_of(reference: Any) -> list[str]:
    """The acceptable answers: a list as is, anything else as one answer."""
    if reference is None:
        return []
    if isinstance(reference, str):
        return [reference]
    if isinstance(reference, Sequence):
        return [str(r) for r in reference]
    return [str(reference)]


def _best(prediction: str, reference: Any, score: Callable[[str, str], float]) -> float | None:
    refs = references_of(reference)
    if not refs:
        return None
    return max(score(prediction or "", ref) for ref in refs)


@metric(compares="label")
def exact_match(prediction: str, reference: Any) -> float | None:
    """The answer equals a reference exactly (surrounding whitespace ignored)."""
    return _best(prediction, reference, lambda p, r: float(p.strip() == r.strip()))


@metric(compares="label")
def normalized_match(prediction: str, reference: Any) -> float | None:
    """The answer equals a reference after normalisation (case, punctuation, articles)."""
    return _best(
        prediction, reference, lambda p, r: float(normalize_answer(p) == normalize_answer(r))
    )


def _f1(prediction: str, reference: str) -> float:
    pred, ref = tokens(prediction), tokens(reference)
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


@metric
def token_f1(prediction: str, reference: Any) -> float | None:
    """Harmonic mean of word precision and recall against the best reference."""
    return _best(prediction, reference, _f1)


def _contains(prediction: str, reference: str) -> float:
    needle = normalize_answer(reference)
    if not needle:
        return 0.0
    return float(re.search(rf"(?:^| ){re.escape(needle)}(?: |$)", normalize_answer(prediction))
                 is not None)


@metric
def contains(prediction: str, reference: Any) -> float | None:
    """A reference appears in the answer, as whole words after normalisation."""
    return _best(prediction, reference, _contains)


def _stem(word: str) -> str:
    """A crude suffix strip so that "needs"/"need" and "taking"/"take" meet."""
    for suffix in ("ing", "ed", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix) and not word.endswith("ss"):
            return word[: -len(suffix)]
    return word


@metric
def key_points(prediction: str, reference: Any, *, min_recall: float = 0.8) -> Score:
    """The fraction of the reference's key points the answer states.

    A key point counts as stated when it appears in the answer after normalisation, or when at
    least ``min_recall`` of its words do (after stripping common suffixes). The reason lists
    the points missing.
    """
    points = references_of(reference)
    if not points:
        return Score(None, "no key points in the reference")
    answer = normalize_answer(prediction or "")
    answer_words = Counter(_stem(w) for w in answer.split())
    missing = []
    for point in points:
        words = [_stem(w) for w in tokens(point)]
        if not words:
            continue
        found = _contains(answer, point) or (
            sum((Counter(words) & answer_words).values()) / len(words) >= min_recall
        )
        if not found:
            missing.append(point)
    value = 1 - len(missing) / len(points)
    return Score(value, "missing: " + "; ".join(missing) if missing else "")
