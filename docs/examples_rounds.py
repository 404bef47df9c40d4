"""Steps used by the looped sub-workflow example in docs/workflows.md."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Round:
    """One round's draft, and how many rounds it took."""

    text: str
    round: int


def tally(draft: Any, last: Round | None = None) -> Round:
    """This round's draft, counting on the round before (None in the first)."""
    return Round(draft.text, (last.round if last else 0) + 1)
