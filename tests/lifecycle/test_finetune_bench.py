"""bench/finetune.py's system and figures on a tiny input (the real training runs in the
benchmark itself): the spec it writes is valid and its eval judges the LLM, and the paired
interval is computed on the rows' differences."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from compound.lifecycle.finetune.promotion import llm_eval
from compound.system import System

BENCH = Path(__file__).resolve().parents[2] / "bench" / "finetune.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    sys.path.insert(0, str(BENCH.parent))
    spec = importlib.util.spec_from_file_location("finetune_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_bench_system_is_valid_and_its_eval_judges_the_llm(bench: ModuleType,
                                                               tmp_path: Path) -> None:
    items = [bench.quality.Item(f"qa-{n}", "Answer from the passages.", f"Question {n}?",
                                "An answer.", ["answer"], ["a passage"]) for n in range(3)]
    spec = bench.write_system(tmp_path, "Answer from the passages.", items,
                              "qwen2.5-coder-0.5b-instruct-q4_k_m", 2)
    system = System.load(spec)
    assert llm_eval(system, bench.LLM) == "heldout"
    assert len((tmp_path / "eval.jsonl").read_text().splitlines()) == 3
    assert system.workflows["qa"].steps[0].options["system"] == "Answer from the passages."


def test_the_paired_change_is_the_mean_of_the_differences(bench: ModuleType) -> None:
    found = bench.paired([0.0, 0.5, 1.0], [1.0, 0.5, 1.0])
    assert found["change"] == pytest.approx(1 / 3, abs=1e-4)
    low, high = found["ci95"]
    assert 0.0 <= low <= found["change"] <= high <= 1.0
