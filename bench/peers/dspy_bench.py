"""DSPy: a 5-module program and ReAct with DummyLM (no network, no cache)."""

from __future__ import annotations

import json
import sys
import time
import warnings
from typing import Any

warnings.filterwarnings("ignore")
start = time.perf_counter()
import dspy  # noqa: E402

IMPORT_S = time.perf_counter() - start

from common import median_per_call, plain_pipeline, tool_functions  # noqa: E402
from dspy.utils.dummies import DummyLM  # noqa: E402


class Inc(dspy.Module):
    def forward(self, x: int) -> int:
        return x + 1


class Five(dspy.Module):
    def __init__(self) -> None:
        super().__init__()
        self.steps = [Inc() for _ in range(5)]

    def forward(self, x: int) -> int:
        for step in self.steps:
            x = step(x=x)
        return x


def pipeline() -> Any:
    program = Five()
    return lambda: program(x=0)


def agent(iterations: int) -> Any:
    answers = [{"next_thought": "add", "next_tool_name": "add",
                "next_tool_args": {"a": i, "b": 1}} for i in range(iterations)]
    answers.append({"next_thought": "done", "next_tool_name": "finish", "next_tool_args": {}})
    answers.append({"reasoning": "done", "answer": "done"})
    react = dspy.ReAct("question -> answer", tools=list(tool_functions()), max_iters=50)

    def run() -> None:
        with dspy.context(lm=DummyLM(list(answers)), cache=False):
            react(question="go")

    return run


def main() -> None:
    number = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)
    plain = median_per_call(plain_pipeline(), number=number * 20, repeat=7)
    pipe = median_per_call(pipeline(), number=number * 5, repeat=7)
    a10 = median_per_call(agent(10), number=max(5, number // 20), repeat=5)
    a0 = median_per_call(agent(0), number=max(5, number // 20), repeat=5)
    print(json.dumps({
        "version": dspy.__version__,
        "per_step_us": (pipe - plain) / 5 * 1e6,
        "per_agent_iteration_us": (a10 - a0) / 10 * 1e6,
        "import_s": IMPORT_S,
    }))


if __name__ == "__main__":
    main()
