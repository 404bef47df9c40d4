"""Judges: an LLM scoring answers against a rubric, pairwise preference between two systems
with positions swapped, and agreement with human labels (Cohen's kappa) to decide whether a
judge can be trusted.

Example:
    >>> from compound.evaluation.judges import cohen_kappa
    >>> round(cohen_kappa([1, 1, 0, 0], [1, 1, 0, 1]), 2)
    0.5
"""

from compound.evaluation.judges.agreement import JudgeAgreement, cohen_kappa, judge_agreement
from compound.evaluation.judges.pairwise import (
    PairwiseJudge,
    PairwiseResult,
    PairwiseVerdict,
    compare_pairwise,
)
from compound.evaluation.judges.rubric import RubricJudge, Verdict

__all__ = [
    "JudgeAgreement",
    "PairwiseJudge",
    "PairwiseResult",
    "PairwiseVerdict",
    "RubricJudge",
    "Verdict",
    "cohen_kappa",
    "compare_pairwise",
    "judge_agreement",
]
