"""bench/llm_quality.py's pipeline on a tiny input with the scripted LLM: the prompts, the
scores and the speed figures it prints (the real models run in the benchmark itself)."""

from __future__ import annotations

import importlib.util
import io
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from compound.intelligence.llm import ScriptedLLM
from compound.system import System

BENCH = Path(__file__).resolve().parents[2] / "bench" / "llm_quality.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("llm_quality_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_quiz_and_the_qa_set_are_large_enough(bench: ModuleType) -> None:
    quiz = bench.read_jsonl(bench.QUIZ)
    assert len(quiz) >= 10 and {r["kind"] for r in quiz} == {"factual", "passage"}
    qa = bench.read_jsonl(bench.QUESTIONS)
    assert len(qa) >= 60 and all(r["key_points"] and r["answer"] for r in qa)
    assert [r["id"] for r in bench.pick(qa, 4)] == ["qa-001", "qa-020", "qa-039", "qa-058"]


def test_the_desk_copy_builds_the_prompts_with_the_desks_own_steps(
        bench: ModuleType, tmp_path: Path) -> None:
    path, system_text = bench.desk_copy(tmp_path / "desk")
    assert system_text.startswith("You are a bank's customer support assistant.")
    spec = yaml.safe_load(path.read_text())
    steps = spec["workflows"]["contexts"]["steps"]
    assert [s["name"] for s in steps] == ["classify", "retrieve", "prompt"]
    assert "when" not in steps[1]  # every question gets passages, confident or not
    assert System.load(path).name == "support_desk"


def test_scores_and_speed_from_a_scripted_model(bench: ModuleType) -> None:
    quiz = bench.quiz_items(bench.read_jsonl(bench.QUIZ)[:2])  # Tokyo, 366
    qa = [bench.Item("qa-x", "sys", "Passages: Cards arrive in 5 days.\n\nQ: when?",
                     "Cards arrive in 5 working days.", ["5 days"], ["Cards arrive in 5 days."])]
    llm = ScriptedLLM(["Cards arrive in 5 days.", "Tokyo.", "365 days."])
    rows = io.StringIO()
    result = bench.evaluate(llm, "scripted", qa, quiz, rows, lambda line: None)
    assert result["grounded_qa"]["key_points"] == 1.0
    assert result["grounded_qa"]["groundedness"] == 1.0
    assert result["quiz"]["correct"] == 0.5  # Tokyo right, 365 wrong
    assert result["quiz"]["n"] == 2 and result["quiz"]["answer_s_p95"] is not None
    written = [json.loads(line) for line in rows.getvalue().splitlines()]
    assert [r["id"] for r in written] == ["qa-x", "quiz-01", "quiz-02"]
