"""Metrics scored by a judge model: a rubric score, normalised to 0..1.

Example:
    >>> from compound.intelligence.llm import ScriptedLLM
    >>> judge = ScriptedLLM(['{"score": 4, "reason": "mostly right"}'])
    >>> llm_judge("Paris", {"question": "Capital of France?"}, "Paris", judge).value
    0.75
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from compound.metrics.base import Score, metric


@metric
def llm_judge(
    prediction: str,
    inputs: Mapping[str, Any] | None,
    reference: Any,
    judge: Any,
    *,
    rubric: str | None = None,
    scale: tuple[int, int] | list[int] = (1, 5),
) -> Score:
    """The judge's rubric score of the answer, mapped from ``scale`` to 0..1."""
    from compound.evaluation.judges.rubric import DEFAULT_RUBRIC, RubricJudge, question_text

    if judge is None:
        raise ValueError("metric 'llm_judge' needs a judge: add 'judge:' to the eval")
    low, high = int(scale[0]), int(scale[1])
    verdict = RubricJudge(judge, rubric=rubric or DEFAULT_RUBRIC, scale=(low, high)).run(
        question=question_text(inputs), answer=prediction, reference=reference
    )
    return Score((verdict.score - low) / (high - low), verdict.reason)
