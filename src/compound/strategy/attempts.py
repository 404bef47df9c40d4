"""A fallback chain's options and the record of every try: what
:mod:`compound.strategy.fallback` and :mod:`compound.strategy.streaming` both read.

Example:
    >>> from compound.intelligence.llm import ScriptedLLM
    >>> option = ChainOption(ScriptedLLM(["Paris."], model="backup"), retries=1)
    >>> option.label, Attempt("backup", 0, "ok").to_dict()["outcome"]
    ('backup', 'ok')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from compound.errors import RuntimeFailure
from compound.intelligence.llm.base import LLM
from compound.intelligence.llm.errors import LLMError
from compound.intelligence.llm.types import Completion
from compound.strategy.budgets import BudgetExceeded

Outcome = Literal["ok", "failed", "low_confidence"]


@dataclass(frozen=True)
class ChainOption:
    """One option: a model, its time limit (None: the model's own) and extra tries."""

    llm: LLM
    timeout_s: float | None = None
    retries: int = 0
    name: str = ""

    @property
    def label(self) -> str:
        return self.name or self.llm.model


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try of one option.

    Attributes:
        option: the option's name.
        attempt: 0 for the first try, then 1, 2... for retries.
        outcome: ``ok``, ``failed`` or ``low_confidence``.
        reason: why it failed (a :data:`~compound.strategy.spec.Reason`), else None.
        error: the error message, else None.
        latency_s: how long the try took.
        waited_s: the backoff slept before it.
        confidence: the answer's confidence, when the chain reads one.
    """

    option: str
    attempt: int
    outcome: Outcome
    reason: str | None = None
    error: str | None = None
    latency_s: float = 0.0
    waited_s: float = 0.0
    confidence: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"option": self.option, "attempt": self.attempt, "outcome": self.outcome,
                "reason": self.reason, "error": self.error,
                "latency_s": round(self.latency_s, 6), "waited_s": round(self.waited_s, 6),
                "confidence": self.confidence}


@dataclass(frozen=True)
class ChainResult:
    """The answer of a chain and how it got there.

    Attributes:
        completion: the accepted completion.
        option: the option that produced it.
        attempts: every try, in order.
        confidence: the answer's confidence, when the chain reads one.
        low_confidence: every option answered below ``min_confidence``; this is the most
            confident answer (send it to review).
    """

    completion: Completion
    option: str
    attempts: tuple[Attempt, ...] = field(default=())
    confidence: float | None = None
    low_confidence: bool = False

    @property
    def fell_back(self) -> bool:
        """Whether an option other than the first answered."""
        return bool(self.attempts) and self.option != self.attempts[0].option


class FallbackExhausted(RuntimeFailure):
    """No option of a chain produced an answer; ``attempts`` says what each did."""

    reason = "exhausted"
    retryable = False

    def __init__(self, chain: str, attempts: Sequence[Attempt], *, late: str = "") -> None:
        self.chain = chain
        self.attempts = tuple(attempts)
        tried = "; ".join(
            f"{a.option} try {a.attempt + 1}: {a.reason} ({a.error})" for a in attempts
        ) or "no option was tried"
        late = f" {late}" if late else ""
        super().__init__(
            f"fallback chain '{chain}': every option failed. {tried}.{late} Check the providers "
            "named above, raise their timeouts or retries, or end the chain with an option "
            "that does not depend on the network (the embedded model)"
        )


def failure_reason(error: BaseException) -> str | None:
    """The reason a chain acts on, or None when ``error`` must propagate."""
    if isinstance(error, LLMError | BudgetExceeded):
        return str(error.reason)
    return None
