"""The eval stack with the real embedded model (the default, via llama.cpp): a few rows only."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from compound.evaluation.cache import OutputCache
from compound.evaluation.datasets import Dataset
from compound.evaluation.judges import PairwiseJudge, RubricJudge
from compound.evaluation.plan import EvalPlan
from compound.evaluation.runner import EvalRunner
from compound.evaluation.targets import LLMTarget
from compound.store import SQLiteStore

DECISION = {"type": "object", "properties": {"answer": {"enum": ["yes", "no", "maybe"]}},
            "required": ["answer"]}


@pytest.mark.integration
@pytest.mark.dataset
def test_pubmedqa_rows_with_the_embedded_model_then_from_cache(
    embedded_llm: Any, shared_dataset: Callable[[str], Path], tmp_path: Path
) -> None:
    path = shared_dataset("pubmedqa/pqal.jsonl")
    with path.open() as handle:
        rows = [r for r in map(json.loads, handle) if r["split"] == "test"][:2]
    ds = Dataset(rows, name="pubmedqa")

    def plan(store: SQLiteStore) -> EvalPlan:
        target = LLMTarget(embedded_llm, prompt="Context: {contexts}\n\nQuestion: {question} "
                           "Answer yes, no or maybe.", json_schema=DECISION, output="answer",
                           max_tokens=16, cache=OutputCache(store))
        return EvalPlan.simple("pubmedqa", ds, target, ["normalized_match", "latency_s"],
                               inputs=["question", "contexts"], expected="decision")

    store = SQLiteStore(tmp_path / "c.db")
    first = EvalRunner(store, progress=False).run(plan(store))
    assert first.counts == {"total": 2, "ok": 2, "error": 0, "invalid": 0}
    outputs = [r.output for r in EvalRunner(store).runs.rows(first.id)]
    assert set(outputs) <= {"yes", "no", "maybe"}
    second = EvalRunner(store, progress=False).run(plan(store))
    assert second.cached == 2 and second.values() == first.values()


@pytest.mark.integration
def test_judges_with_the_embedded_model_answer_within_their_schema(embedded_llm: Any) -> None:
    judge = RubricJudge(embedded_llm, max_tokens=48)
    verdict = judge.run(question="What is the capital of France?", answer="Paris",
                        reference="Paris")
    assert 1 <= verdict.score <= 5
    pick = PairwiseJudge(embedded_llm).ask("What is the capital of France?", "Paris", "Berlin")
    assert pick in ("A", "B", "tie")
