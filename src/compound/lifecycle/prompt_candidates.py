"""Candidate prompts for an LLM step, the rows that judge them, and the model calls that
takes: the pieces the prompt optimiser (:mod:`compound.lifecycle.prompt_opt`) plans with.

* :func:`candidates`: few-shot sets drawn from the pool of examples (:data:`SHOTS`), and fixed
  instruction variants (:data:`INSTRUCTIONS`), alone and with a few-shot set; no instruction
  is written by a model, and no text of the pool is run as anything but text.
* :func:`split_rows`: the eval's rows cut, seeded, into dev rows (choose) and gate rows
  (decide).
* :class:`CallPlan`, :func:`fit_plan`: the most model calls an optimisation makes, stated
  before the first, with as many candidates as the budget has room for.

Example:
    >>> plan = CallPlan(candidates=4, dev_rows=10, gate_rows=10, per_row=1, budget=100)
    >>> plan.calls
    70
    >>> print(plan.text())  # doctest: +NORMALIZE_WHITESPACE
    production and 4 candidates on 10 dev rows, then production and the best on 10 gate
    rows: 70 model calls at most (1 a row), of a budget of 100
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from compound.errors import UserError
from compound.orchestration.prompts import PromptExample

if TYPE_CHECKING:
    from compound.evaluation.datasets import Example

#: instruction variants tried, after the system message (fixed rewrites: none is generated)
INSTRUCTIONS: tuple[str, ...] = (
    "Answer in one or two short sentences, using only the information given.",
    "Answer with the fewest words that fully answer the question.",
    "Answer directly. If the information given does not say, say that you do not know.",
)
#: how many examples a few-shot set holds, in the order they are tried
SHOTS: tuple[int, ...] = (2, 1, 3)

@dataclass(frozen=True)
class Candidate:
    """One prompt to try: production's template and system message with these instructions
    and examples.

    Attributes:
        label: what it is, in words (``2 examples, draw 1``).
        instructions: the instructions shown after the system message.
        examples: the few-shot examples.
    """

    label: str
    instructions: str
    examples: tuple[PromptExample, ...]


@dataclass(frozen=True)
class CallPlan:
    """The most model calls an optimisation makes, stated before it starts.

    Attributes:
        candidates: candidates tried on the dev rows (production besides).
        dev_rows: rows that choose the candidate.
        gate_rows: held-out rows that decide the promotion.
        per_row: model calls one row takes (the workflow's LLM steps, the judge).
        budget: the limit (``--budget``).
    """

    candidates: int
    dev_rows: int
    gate_rows: int
    per_row: int
    budget: int

    @property
    def calls(self) -> int:
        """The most calls: every version on the dev rows, two on the gate rows."""
        return self.per_row * ((self.candidates + 1) * self.dev_rows + 2 * self.gate_rows)

    def text(self) -> str:
        """The plan in one line."""
        return (f"production and {self.candidates} candidate"
                f"{'s' if self.candidates != 1 else ''} on {self.dev_rows} dev rows, then "
                f"production and the best on {self.gate_rows} gate rows: {self.calls} model "
                f"calls at most ({self.per_row} a row), of a budget of {self.budget}")


def fit_plan(*, wanted: int, dev_rows: int, gate_rows: int, per_row: int, budget: int
             ) -> CallPlan:
    """The plan with as many of ``wanted`` candidates as ``budget`` has room for.

    Raises:
        UserError: the budget has no room for even one candidate, saying how much it needs.
    """
    room = budget // max(per_row, 1) - 2 * gate_rows
    fits = min(wanted, room // dev_rows - 1) if dev_rows else 0
    if fits < 1:
        least = CallPlan(1, dev_rows, gate_rows, per_row, budget).calls
        raise UserError(f"a budget of {budget} model calls has no room for one candidate: "
                        f"production and one candidate on {dev_rows} dev rows and both on "
                        f"{gate_rows} gate rows take {least} ({per_row} a row); raise --budget "
                        "to at least that, or evaluate fewer rows (--limit)")
    return CallPlan(fits, dev_rows, gate_rows, per_row, budget)


def as_examples(pool: Sequence[PromptExample | Mapping[str, Any]]) -> list[PromptExample]:
    """The pool as examples.

    Raises:
        UserError: an entry is not ``{"input": ..., "output": "..."}``, naming which.
    """
    found = []
    for number, entry in enumerate(pool, 1):
        try:
            found.append(PromptExample.model_validate(entry))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'entry'}: {e['msg']}"
                                 for e in exc.errors())
            raise UserError(f"example {number} of the pool is not {{\"input\": TEXT or FIELDS, "
                            f"\"output\": TEXT}} ({problems}); received {entry!r:.200}"
                            ) from None
    return found


def candidates(pool: Sequence[PromptExample], *, production_instructions: str = "",
               wanted: int = 6, seed: int = 0, max_example_chars: int = 4000
               ) -> list[Candidate]:
    """Up to ``wanted`` candidates, the most different first: few-shot sets drawn from
    ``pool`` (:data:`SHOTS` examples, seeded) with production's instructions, then each
    instruction variant with no examples and with the first few-shot set, then more draws.

    A few-shot set whose examples together pass ``max_example_chars`` characters is drawn
    again from the shorter examples (the context must hold them and the request).
    """
    rng = random.Random(seed)
    sets: list[tuple[str, tuple[PromptExample, ...]]] = []
    seen: set[tuple[int, ...]] = set()
    for draw in range(1, max(wanted, 1) + 1):
        for k in SHOTS:
            if k > len(pool):
                continue
            chosen = _draw(pool, k, rng, max_example_chars)
            key = tuple(sorted(id(e) for e in chosen))
            if chosen and key not in seen:
                seen.add(key)
                sets.append((f"{k} example{'s' if k > 1 else ''}, draw {draw}", chosen))
    found = [Candidate(label, production_instructions, chosen) for label, chosen in sets[:2]]
    first = sets[0] if sets else None
    for number, text in enumerate(INSTRUCTIONS, 1):
        if text == production_instructions.strip():
            continue
        found.append(Candidate(f"instructions {number}", text, ()))
        if first is not None:
            found.append(Candidate(f"instructions {number} + {first[0]}", text, first[1]))
    found += [Candidate(label, production_instructions, chosen) for label, chosen in sets[2:]]
    return found[:wanted]


def _draw(pool: Sequence[PromptExample], k: int, rng: random.Random, limit: int
          ) -> tuple[PromptExample, ...]:
    chosen = rng.sample(list(pool), k)
    if sum(_chars(e) for e in chosen) <= limit:
        return tuple(chosen)
    short = sorted(pool, key=_chars)[:max(k, len(pool) // 2)]
    chosen = rng.sample(short, k)
    return tuple(chosen) if sum(_chars(e) for e in chosen) <= limit else ()


def _chars(example: PromptExample) -> int:
    shown = example.input if isinstance(example.input, str) else " ".join(
        str(v) for v in example.input.values())
    return len(shown) + len(example.output)


def split_rows(examples: Sequence[Example], *, dev_share: float = 0.5, seed: int = 0,
               what: str = "the eval") -> tuple[list[Example], list[Example]]:
    """The usable rows, shuffled with ``seed``, cut into dev rows (``dev_share`` of them, at
    least one) and gate rows (the rest, at least one).

    Raises:
        UserError: fewer than 2 usable rows.

    Example:
        >>> from compound.evaluation.datasets import Dataset
        >>> rows = Dataset([{"id": str(i), "q": "?"} for i in range(5)], name="d").examples()
        >>> [len(part) for part in split_rows(rows, dev_share=0.4)]
        [2, 3]
    """
    rows = [e for e in examples if not e.problems]
    if len(rows) < 2:
        raise UserError(f"{what} has {len(rows)} usable row(s); the optimiser needs at least 2 "
                        "(some choose the candidate, the others decide)")
    random.Random(seed).shuffle(rows)
    cut = max(1, min(len(rows) - 1, round(len(rows) * dev_share)))
    return rows[:cut], rows[cut:]
