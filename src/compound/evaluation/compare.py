"""Two runs of an eval compared answer by answer by a pairwise judge (positions swapped).

Rows are matched by example id; only rows both runs answered are judged. The result says how
often the judge preferred each run, and how often it contradicted itself when the order was
swapped (position bias).

Example:
    >>> from compound.evaluation.judges import PairwiseJudge
    >>> from compound.evaluation.results import RowResult, RunRepository
    >>> from compound.intelligence.llm import ScriptedLLM
    >>> from compound.store import MemoryStore
    >>> runs = RunRepository(MemoryStore())
    >>> for run_id, text in (("a", "Paris"), ("b", "Lyon")):
    ...     runs.put_row(run_id, RowResult(index=0, id="q1", status="ok", output=text,
    ...                                    inputs={"question": "Capital of France?"}))
    >>> judge = PairwiseJudge(ScriptedLLM(['{"better": "A"}']))
    >>> compare_runs(runs, "a", "b", judge).inconsistent
    1
"""

from __future__ import annotations

from compound.evaluation.judges.pairwise import PairwiseJudge, PairwiseResult, compare_pairwise
from compound.evaluation.judges.rubric import question_text
from compound.evaluation.results import RunRepository


def compare_runs(
    runs: RunRepository, run_a: str, run_b: str, judge: PairwiseJudge, *,
    limit: int | None = None,
) -> PairwiseResult:
    """Judge run ``run_a``'s answers against ``run_b``'s on the examples both answered."""
    rows_b = {r.id: r for r in runs.rows(run_b) if r.status == "ok"}
    pairs = [
        (question_text(row.inputs), row.output, rows_b[row.id].output)
        for row in runs.rows(run_a)
        if row.status == "ok" and row.id in rows_b
    ]
    return compare_pairwise(judge, pairs[:limit] if limit else pairs)
