"""The groundedness rail: the claims of an answer must be supported by the retrieved context.

The answer is split into claims (its sentences, as the ``groundedness`` metric of
:mod:`compound.metrics.grounding` splits them, so that evaluation and production
measure the same thing). A claim is supported when one passage holds at least
``min_overlap`` of its content words **and** every number it states; with an ``llm``, claims
the lexical check rejects get a second opinion from the model (a paraphrase is supported
even when the words differ). The rail fires when the supported share is below ``threshold``.

An answer with no retrieved context is allowed (there is nothing to check it against)
unless ``require_documents`` is set.

Example:
    >>> rail = GroundednessRail(threshold=1.0)
    >>> context = ("The Eiffel Tower is 330 metres tall and stands in Paris.",)
    >>> ok = RailInput("The Eiffel Tower stands in Paris.", stage="output", documents=context)
    >>> rail.run(ok).action
    'allow'
    >>> bad = RailInput("The Eiffel Tower is 500 metres tall.", stage="output",
    ...                 documents=context)
    >>> rail.run(bad).reason
    "1 of 1 claims not supported by the retrieved context: 'The Eiffel Tower is 500 metres tall.'"
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from compound.production.rails.base import BaseRail, RailRequest
from compound.production.rails.verdict import Action, RailInput, Verdict

if TYPE_CHECKING:
    from compound.intelligence.llm import LLM
    from compound.workflow.context import RunContext

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


class GroundednessRail(BaseRail):
    """Checks that an answer's claims are supported by the retrieved passages.

    Args:
        threshold: the least share of supported claims (``escalate`` below it by default).
        min_overlap: the share of a claim's content words one passage must hold.
        llm: judges claims the lexical check rejects.
        require_documents: fire when there is no context to check against.
        max_claims: check at most this many claims (the rest count as unchecked).
        max_chars: read at most this many characters of the answer and of each passage.
        **common: name, stages, action, timeout_s, on_error (see :class:`BaseRail`).
    """

    type = "groundedness"
    default_stages = ("output",)
    default_action: Action = "escalate"

    def __init__(self, *, threshold: float | None = None, min_overlap: float = 0.6,
                 llm: LLM | None = None, require_documents: bool = False,
                 max_claims: int = 40, max_chars: int = 50_000, **common: Any) -> None:
        common.setdefault("timeout_s", 30.0 if llm is not None else 2.0)
        super().__init__(**common)
        self.threshold = 0.8 if threshold is None else threshold
        self.min_overlap = min_overlap
        self.llm = llm
        self.require_documents = require_documents
        self.max_claims = max_claims
        self.max_chars = max_chars

    def check(self, subject: RailInput, ctx: RunContext | None = None) -> Verdict:
        from compound.metrics.grounding import claims_of

        documents = [d[:self.max_chars] for d in subject.documents if d]
        if not documents:
            if self.require_documents:
                return self.fire(subject, "no retrieved context to check the answer against")
            return self.allow(subject, "no retrieved context to check against")
        from compound.metrics.text import tokens

        claims = claims_of(subject.text[:self.max_chars])[:self.max_claims]
        if not claims:
            return self.allow(subject, "the answer makes no claim")
        passages = [(d, set(tokens(d))) for d in documents]
        unsupported = [c for c in claims if not self._supported(c, passages, ctx)]
        share = 1 - len(unsupported) / len(claims)
        details = {"claims": len(claims), "unsupported": [c[:200] for c in unsupported]}
        if share >= self.threshold:
            return self.allow(subject, f"{len(claims) - len(unsupported)} of {len(claims)} "
                                       "claims supported", score=share, details=details)
        shown = "; ".join(f"'{c[:120]}'" for c in unsupported[:3])
        return self.fire(subject, f"{len(unsupported)} of {len(claims)} claims not supported "
                                  f"by the retrieved context: {shown}", score=share,
                         details=details)

    def _supported(self, claim: str, passages: Sequence[tuple[str, set[str]]],
                   ctx: RunContext | None) -> bool:
        if any(lexically_supported(claim, text, self.min_overlap, words=words)
               for text, words in passages):
            return True
        return self.llm is not None and self._judged(claim, [t for t, _ in passages], ctx)

    def _judged(self, claim: str, documents: Sequence[str], ctx: RunContext | None) -> bool:
        from compound.metrics.grounding import SUPPORT_SCHEMA

        assert self.llm is not None
        evidence = "\n\n".join(d[:2000] for d in documents[:8])
        prompt = (f"Passages:\n{evidence}\n\nClaim: {claim}\n\nIs the claim fully supported by "
                  "the passages? Reply with JSON {\"supported\": true} or "
                  "{\"supported\": false}.")
        params: dict[str, Any] = {"json_schema": SUPPORT_SCHEMA, "max_tokens": 16,
                                  "temperature": 0.0}
        completion = (ctx.complete(self.llm, prompt, **params) if ctx is not None
                      else self.llm.complete(prompt, **params))
        return isinstance(completion.data, dict) and completion.data.get("supported") is True

    @classmethod
    def from_spec(cls, request: RailRequest) -> GroundednessRail:
        return cls(**request.common(), threshold=request.spec.threshold, llm=request.llm(),
                   **request.spec.options)


def lexically_supported(claim: str, passage: str, min_overlap: float, *,
                        words: set[str] | None = None) -> bool:
    """Whether ``passage`` holds ``min_overlap`` of the claim's content words and all its
    numbers (``words``: the passage's tokens, when already known)."""
    from compound.metrics.grounding import content_words
    from compound.metrics.text import tokens

    wanted = set(content_words(claim))
    numbers = _NUMBER.findall(claim)
    if numbers and not all(n in passage for n in numbers):
        return False
    if not wanted:
        return True
    have = words if words is not None else set(tokens(passage))
    return len(wanted & have) / len(wanted) >= min_overlap
