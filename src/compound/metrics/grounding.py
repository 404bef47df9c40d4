"""Groundedness: is each claim of the answer supported by the retrieved passages?

The answer is split into claims (sentences). A claim is supported when

* ``mode="lexical"`` (default, deterministic, free): some passage contains at least
  ``min_overlap`` of the claim's content words (stop words left out);
* ``mode="judge"``: the judge model, shown the passages and the claim, answers
  ``{"supported": true}`` (JSON constrained by a schema).

The row's value is the fraction of claims supported; the reason lists the others. Rows without
passages score None (not applicable) rather than a made-up number.

Example:
    >>> passages = ["Shirley Temple served as Chief of Protocol of the United States."]
    >>> groundedness("Shirley Temple was Chief of Protocol. She was born on Mars.",
    ...              passages).value
    0.5
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from compound.metrics.base import Score, metric
from compound.metrics.text import tokens

_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_STOP_TEXT = """a an the of in on at to for from by with and or but is are was were be been being
it its this that these those as he she they them his her their we you i not no yes do does did
has have had which who whom what when where why how there than then so such also"""
STOP_WORDS = frozenset(_STOP_TEXT.split())
SUPPORT_SCHEMA = {
    "type": "object",
    "properties": {"supported": {"type": "boolean"}},
    "required": ["supported"],
}


def claims_of(answer: str) -> list[str]:
    """The sentences of ``answer`` that carry at least one content word."""
    parts = [p.strip() for p in _SENTENCE.split(answer or "")]
    return [p for p in parts if content_words(p)]


def content_words(text: str) -> list[str]:
    """Normalised words of ``text`` without stop words."""
    return [w for w in tokens(text) if w not in STOP_WORDS]


def _lexically_supported(claim: str, passages: Sequence[str], min_overlap: float) -> bool:
    words = set(content_words(claim))
    if not words:
        return True
    return any(
        len(words & set(tokens(passage))) / len(words) >= min_overlap for passage in passages
    )


def _judge_supports(judge: Any, claim: str, passages: Sequence[str]) -> bool:
    evidence = "\n\n".join(passages)
    prompt = (
        f"Passages:\n{evidence}\n\nClaim: {claim}\n\n"
        "Is the claim fully supported by the passages? Reply with JSON {\"supported\": true} or "
        "{\"supported\": false}."
    )
    completion = judge.complete(prompt, json_schema=SUPPORT_SCHEMA, max_tokens=16,
                                temperature=0.0)
    data = completion.data if isinstance(completion.data, dict) else {}
    return bool(data.get("supported"))


@metric
def groundedness(
    prediction: str,
    contexts: Sequence[str] | None,
    judge: Any = None,
    *,
    mode: str = "lexical",
    min_overlap: float = 0.6,
) -> Score:
    """The fraction of the answer's claims supported by the passages."""
    if not contexts:
        return Score(None, "no passages to check the answer against")
    claims = claims_of(prediction)
    if not claims:
        return Score(None, "the answer makes no claim")
    if mode not in ("lexical", "judge"):
        raise ValueError(f"groundedness mode must be 'lexical' or 'judge'; received {mode!r}")
    if mode == "judge" and judge is None:
        raise ValueError("groundedness mode 'judge' needs a judge: add 'judge:' to the eval")
    unsupported = [
        claim for claim in claims
        if not (
            _judge_supports(judge, claim, contexts) if mode == "judge"
            else _lexically_supported(claim, contexts, min_overlap)
        )
    ]
    value = 1 - len(unsupported) / len(claims)
    return Score(value, "unsupported: " + " | ".join(unsupported) if unsupported else "")
