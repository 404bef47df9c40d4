"""A run's token and dollar limits, and what it has spent: one :class:`Budget` per run,
charged by every model call made through the run context.

Example:
    >>> budget = Budget(max_cost_usd=0.01)
    >>> budget.charge(tokens=10, cost_usd=0.02)
    >>> budget.exceeded()
    'cost_budget'
"""

from __future__ import annotations

from typing import Literal

BudgetReason = Literal["token_budget", "cost_budget"]


class Budget:
    """Token and dollar limits for a run, and what has been spent so far.

    Args:
        max_tokens: most prompt + completion tokens across every model call; None: no limit.
        max_cost_usd: most dollars across every model call; None: no limit.

    Example:
        >>> budget = Budget(max_tokens=100)
        >>> budget.charge(tokens=120, cost_usd=0.0)
        >>> budget.exceeded()
        'token_budget'
    """

    __slots__ = ("cost_usd", "max_cost_usd", "max_tokens", "tokens")

    def __init__(self, *, max_tokens: int | None = None, max_cost_usd: float | None = None):
        self.max_tokens = max_tokens
        self.max_cost_usd = max_cost_usd
        self.tokens = 0
        self.cost_usd = 0.0

    def charge(self, *, tokens: int, cost_usd: float) -> None:
        """Add what one model call consumed."""
        self.tokens += tokens
        self.cost_usd += cost_usd

    def exceeded(self) -> BudgetReason | None:
        """Which limit has been reached, if any."""
        if self.max_tokens is not None and self.tokens >= self.max_tokens:
            return "token_budget"
        if self.max_cost_usd is not None and self.cost_usd >= self.max_cost_usd:
            return "cost_budget"
        return None
