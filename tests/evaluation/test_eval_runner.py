"""The runner: every row accounted for (ok, error, invalid), metrics with bootstrap intervals,
parallel, resumable, seeded."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from compound.evaluation.datasets import Dataset
from compound.evaluation.plan import EvalPlan
from compound.evaluation.results import RunRepository
from compound.evaluation.runner import EvalRunner
from compound.evaluation.targets import FunctionTarget, LLMTarget
from compound.intelligence.llm import LLMTimeout, ScriptedLLM
from compound.metrics import metric
from compound.store import MemoryStore

ROWS = [{"id": f"r{i}", "question": f"what is {i}?", "answer": str(i)} for i in range(30)]


def answer(inputs: dict[str, Any]) -> str:
    return inputs["question"].split()[-1].rstrip("?")


def test_errors_and_invalid_rows_are_counted_and_kept() -> None:
    rows = [dict(r) for r in ROWS]
    del rows[3]["answer"]            # missing expected field
    del rows[4]["question"]          # missing input field

    def reply(messages: Any, params: Any) -> Any:
        question = messages[-1].content
        if question == "what is 5?":
            return LLMTimeout("too slow")
        return answer({"question": question})

    llm = ScriptedLLM(reply)
    plan = EvalPlan.simple("qa", Dataset(rows, name="qa"), LLMTarget(llm, prompt="{question}"),
                           ["exact_match", "latency_ms"], inputs=["question"], expected="answer")
    store = MemoryStore()
    run = EvalRunner(store, progress=False).run(plan)
    assert run.counts == {"total": 30, "ok": 27, "error": 1, "invalid": 2}
    stored = RunRepository(store).rows(run.id)
    assert [r.index for r in stored] == list(range(30))
    bad = {r.status: r for r in stored if r.status != "ok"}
    assert bad["error"].error_type == "LLMTimeout" and "too slow" in bad["error"].error
    invalid = [r for r in stored if r.status == "invalid"]
    assert [r.error for r in invalid] == ["missing expected field 'answer'",
                                           "missing input field 'question'"]
    em = run.metric("exact_match")
    # The error row counts as a miss (0) rather than vanishing; invalid rows are left out.
    assert em.n == 28 and em.value == pytest.approx(27 / 28)
    latency = run.metric("latency_ms")
    assert latency.n == 27 and latency.not_applicable == 1


def test_a_metric_that_raises_is_counted_not_fatal() -> None:
    @metric
    def fragile(prediction: str) -> float:
        if prediction == "7":
            raise ZeroDivisionError("bug in the metric")
        return 1.0

    plan = EvalPlan.simple("qa", Dataset(ROWS, name="qa"), FunctionTarget(answer),
                           [fragile, "exact_match"], inputs=["question"], expected="answer")
    store = MemoryStore()
    run = EvalRunner(store, progress=False).run(plan)
    assert run.metric("fragile").errors == 1 and run.metric("fragile").n == 29
    assert run.metric("exact_match").value == 1.0
    row = RunRepository(store).rows(run.id)[7]
    assert row.metric_errors == {"fragile": "ZeroDivisionError: bug in the metric"}


def test_bootstrap_interval_brackets_the_value_and_is_seeded() -> None:
    def half_right(inputs: dict[str, Any]) -> str:
        n = int(answer(inputs))
        return str(n) if n % 2 else "wrong"

    def run_once(seed: int) -> Any:
        plan = EvalPlan.simple("qa", Dataset(ROWS, name="qa"), FunctionTarget(half_right),
                               ["exact_match"], inputs=["question"], expected="answer",
                               seed=seed)
        return EvalRunner(MemoryStore(), progress=False).run(plan).metric("exact_match")

    first, again = run_once(0), run_once(0)
    assert first.value == 0.5
    assert first.low is not None and first.high is not None
    assert first.low < 0.5 < first.high
    assert (first.low, first.high) == (again.low, again.high)


def test_rows_run_in_parallel() -> None:
    active, peak = 0, 0
    lock = threading.Lock()

    def slow(inputs: dict[str, Any]) -> str:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.02)
        with lock:
            active -= 1
        return answer(inputs)

    plan = EvalPlan.simple("qa", Dataset(ROWS, name="qa"), FunctionTarget(slow),
                           ["exact_match"], inputs=["question"], expected="answer",
                           concurrency=4)
    run = EvalRunner(MemoryStore(), progress=False).run(plan)
    assert run.metric("exact_match").value == 1.0
    assert peak > 1


class Crash(BaseException):
    """Stands in for the process dying (not an Exception: the runner must not catch it)."""


def test_an_interrupted_run_resumes_without_losing_or_repeating_rows() -> None:
    calls: list[str] = []
    crash_after = 11

    def flaky(inputs: dict[str, Any]) -> str:
        if len(calls) == crash_after:
            raise Crash
        calls.append(inputs["question"])
        return answer(inputs)

    store = MemoryStore()
    plan = EvalPlan.simple("qa", Dataset(ROWS, name="qa"), FunctionTarget(flaky),
                           ["exact_match"], inputs=["question"], expected="answer",
                           concurrency=1)
    with pytest.raises(Crash):
        EvalRunner(store, progress=False).run(plan)
    repo = RunRepository(store)
    [interrupted] = repo.runs("qa")
    assert interrupted.status == "running"
    assert len(repo.rows(interrupted.id)) == crash_after
    crash_after = -1
    run = EvalRunner(store, progress=False).run(plan)
    assert run.id == interrupted.id and run.status == "complete"
    rows = repo.rows(run.id)
    assert [r.index for r in rows] == list(range(30))
    assert len(calls) == 30 and len(set(calls)) == 30  # each row ran exactly once
    assert run.metric("exact_match").value == 1.0


def test_a_changed_plan_starts_a_new_run_instead_of_resuming() -> None:
    store = MemoryStore()
    first = EvalPlan.simple("qa", Dataset(ROWS, name="qa"), FunctionTarget(answer),
                            ["exact_match"], inputs=["question"], expected="answer")
    one = EvalRunner(store, progress=False).run(first)
    other = EvalPlan.simple("qa", Dataset(ROWS[:10], name="qa"), FunctionTarget(answer),
                            ["exact_match"], inputs=["question"], expected="answer")
    two = EvalRunner(store, progress=False).run(other)
    assert one.id != two.id and two.counts["total"] == 10


def test_async_targets_are_awaited() -> None:
    async def answer_async(inputs: dict[str, Any]) -> str:
        return answer(inputs)

    plan = EvalPlan.simple("qa", Dataset(ROWS[:5], name="qa"), FunctionTarget(answer_async),
                           ["exact_match"], inputs=["question"], expected="answer")
    assert EvalRunner(MemoryStore(), progress=False).run(plan).metric("exact_match").value == 1.0


def test_corpus_metrics_get_an_interval_and_their_failures_are_reported() -> None:
    plan = EvalPlan.simple("qa", Dataset(ROWS, name="qa"), FunctionTarget(answer),
                           ["accuracy", "mae"], inputs=["question"], expected="answer")
    run = EvalRunner(MemoryStore(), progress=False).run(plan)
    assert run.metric("accuracy").value == 1.0 and run.metric("mae").value == 0.0
    words = EvalPlan.simple("qa", Dataset(ROWS, name="qa"), FunctionTarget(lambda x: "seven"),
                            ["accuracy", "mae"], inputs=["question"], expected="answer")
    broken = EvalRunner(MemoryStore(), progress=False).run(words)
    assert broken.metric("accuracy").value == 0.0
    assert broken.metric("mae").value is None and broken.metric("mae").errors == 1
    assert "is not a number" in broken.metric_errors["mae"]


def test_judge_agreement_with_human_labels_is_measured() -> None:
    rows = [{**r, "human": 5 if i % 2 else 1} for i, r in enumerate(ROWS)]

    def judge_reply(messages: Any, params: Any) -> str:
        number = int(messages[-1].content.split("what is ")[1].split("?")[0])
        return '{"score": 5}' if number % 2 else '{"score": 2}'

    from compound.evaluation.spec import JudgeSpec

    plan = EvalPlan.simple("qa", Dataset(rows, name="qa"), FunctionTarget(answer), ["llm_judge"],
                           inputs=["question"], expected="answer",
                           judge=ScriptedLLM(judge_reply),
                           judge_spec=JudgeSpec(human_field="human", min_kappa=0.6))
    run = EvalRunner(MemoryStore(), progress=False).run(plan)
    agreement = run.judge_agreement
    assert agreement is not None and agreement["n"] == 30
    # The judge says 2 where humans say 1: it agrees on half the rows only.
    assert agreement["observed"] == 0.5 and agreement["kappa"] < 0.6
    assert agreement["trusted"] is False


def test_a_configuration_mistake_stops_the_run_instead_of_failing_every_row() -> None:
    from compound.errors import UserError

    def misconfigured(inputs: dict[str, Any]) -> str:
        raise UserError("OPENAI_API_KEY is not set; export it")

    plan = EvalPlan.simple("qa", Dataset(ROWS, name="qa"), FunctionTarget(misconfigured),
                           ["exact_match"], inputs=["question"], expected="answer")
    with pytest.raises(UserError, match="OPENAI_API_KEY"):
        EvalRunner(MemoryStore(), progress=False).run(plan)
