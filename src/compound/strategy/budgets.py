"""Token and cost budgets: per request (the run context's :class:`~compound.workflow.Budget`)
and per period (minute, hour, day, month, kept in the store so that every process shares it).

Prices come from the one cost table, :mod:`compound.intelligence.llm.pricing`. Before a call,
:func:`estimate` prices the worst case (the prompt plus ``max_tokens`` of output); a call that
would exceed a budget is refused with :class:`BudgetExceeded`, which a fallback chain treats as
reason ``budget`` and moves on to a cheaper option. After the call, the actual usage is
charged.

Example:
    >>> from compound.intelligence.llm import ScriptedLLM
    >>> from compound.store import MemoryStore
    >>> store = MemoryStore()
    >>> daily = PeriodBudget(period="day", max_tokens=50)
    >>> cost = estimate(ScriptedLLM(["hi"]), "hello there", max_tokens=10)
    >>> cost.tokens
    12
    >>> daily.check(store, cost) is None
    True
    >>> daily.charge(store, tokens=45, cost_usd=0.0)
    >>> daily.check(store, cost)
    'day budget default: 45 of 50 tokens spent, this call may need 12'
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from compound.errors import RuntimeFailure, UserError

if TYPE_CHECKING:
    from compound.intelligence.llm import LLM
    from compound.intelligence.llm.types import Prompt
    from compound.store import Store
    from compound.workflow.budget import Budget

Period = Literal["minute", "hour", "day", "month"]
COLLECTION = "budgets"


class BudgetExceeded(RuntimeFailure):
    """A call was refused because it would exceed a budget.

    Attributes:
        reason: ``budget`` (what fallback chains key on).
        retryable: False: the same call would be refused again.
    """

    reason = "budget"
    retryable = False


@dataclass(frozen=True, slots=True)
class Estimate:
    """The most one call may use: prompt tokens plus ``max_tokens``, and its price."""

    tokens: int
    cost_usd: float


def estimate(llm: LLM, prompt: Prompt, *, max_tokens: int | None = None) -> Estimate:
    """Price the worst case of calling ``llm`` with ``prompt`` from the cost table."""
    from compound.intelligence.llm.pricing import cost_usd
    from compound.intelligence.llm.types import Usage, as_messages

    messages = as_messages(prompt)
    prompt_tokens = sum(llm.count_tokens(m.content) for m in messages)
    out = max_tokens if max_tokens is not None else llm.defaults.max_tokens
    usage = Usage(prompt_tokens, out)
    return Estimate(usage.total_tokens,
                    cost_usd(llm.provider, llm.model, usage, llm.price_per_mtok))


def check_request(budget: Budget, cost: Estimate) -> str | None:
    """Why a call of ``cost`` would exceed the run's budget, or None when it fits."""
    if budget.max_tokens is not None and budget.tokens + cost.tokens > budget.max_tokens:
        return (f"request budget: {budget.tokens} of {budget.max_tokens} tokens spent, this "
                f"call may need {cost.tokens}")
    if (budget.max_cost_usd is not None
            and budget.cost_usd + cost.cost_usd > budget.max_cost_usd + 1e-12):
        return (f"request budget: ${budget.cost_usd:.6f} of ${budget.max_cost_usd:.6f} spent, "
                f"this call may cost ${cost.cost_usd:.6f}")
    return None


def period_start(period: Period, now: float) -> str:
    """The UTC start of the period holding ``now``, as a sortable key."""
    moment = datetime.fromtimestamp(now, tz=UTC)
    formats = {"minute": "%Y-%m-%dT%H:%M", "hour": "%Y-%m-%dT%H", "day": "%Y-%m-%d",
               "month": "%Y-%m"}
    return moment.strftime(formats[period])


class PeriodBudget:
    """Limits over a calendar period (UTC), shared through the store.

    Args:
        period: ``minute``, ``hour``, ``day`` or ``month``.
        max_tokens: most tokens in one period; None: no limit.
        max_cost_usd: most dollars in one period; None: no limit.
        name: tells budgets apart (one per team, per feature...).
        clock: seconds since the epoch (tests pass a fake).
    """

    def __init__(self, *, period: Period, max_tokens: int | None = None,
                 max_cost_usd: float | None = None, name: str = "default",
                 clock: Any = time.time) -> None:
        if period not in ("minute", "hour", "day", "month"):
            raise UserError(f"budget period must be minute, hour, day or month; received "
                            f"{period!r}")
        if max_tokens is None and max_cost_usd is None:
            raise UserError(f"budget '{name}' sets no limit; give max_tokens or max_cost_usd")
        self.period = period
        self.max_tokens = max_tokens
        self.max_cost_usd = max_cost_usd
        self.name = name
        self.clock = clock
        self._lock = threading.Lock()

    def _key(self) -> str:
        return f"{self.name}:{self.period}:{period_start(self.period, self.clock())}"

    def spent(self, store: Store) -> tuple[int, float]:
        """Tokens and dollars spent in the current period."""
        record: Mapping[str, Any] = store.get(COLLECTION, self._key()) or {}
        return int(record.get("tokens", 0)), float(record.get("cost_usd", 0.0))

    def check(self, store: Store, cost: Estimate) -> str | None:
        """Why a call of ``cost`` would exceed this budget, or None when it fits."""
        tokens, dollars = self.spent(store)
        label = f"{self.period} budget {self.name}"
        if self.max_tokens is not None and tokens + cost.tokens > self.max_tokens:
            return (f"{label}: {tokens} of {self.max_tokens} tokens spent, this call may need "
                    f"{cost.tokens}")
        if self.max_cost_usd is not None and dollars + cost.cost_usd > self.max_cost_usd + 1e-12:
            return (f"{label}: ${dollars:.6f} of ${self.max_cost_usd:.6f} spent, this call may "
                    f"cost ${cost.cost_usd:.6f}")
        return None

    def charge(self, store: Store, *, tokens: int, cost_usd: float) -> None:
        """Add what a call used to the current period."""
        with self._lock, store.transaction():
            key = self._key()
            record = store.get(COLLECTION, key) or {"tokens": 0, "cost_usd": 0.0}
            store.put(COLLECTION, key, {"tokens": int(record["tokens"]) + tokens,
                                        "cost_usd": float(record["cost_usd"]) + cost_usd,
                                        "period": self.period, "name": self.name})
