"""What following the prompt registry costs an LLM step, per call. Prints JSON.

One LLM step (a scripted model, so the model costs nothing) is called ``--calls`` times in
each configuration; the configurations take turns call by call, so that the machine's load
weighs on each alike and only the differences mean anything:

* ``spec``: the step as before the registry, the spec's template and system message;
* ``registry``: the step following the production version in a real SQLite store (the same
  text as the spec's), the registry read again at most every 5 seconds, as served;
* ``registry_read_every_call``: the same with the registry read on every call (the worst
  case: what a read of the store costs);
* ``four_examples``: a version with four few-shot examples (rendered on each call through the
  version's template), pinned as an eval pins a candidate.

Each gives the median and p90 of one ``LLMStep.run`` in microseconds, and the median's excess
over ``spec``. The load of the machine before and after is recorded.

Usage:
    python bench/prompts.py [--calls 3000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TEMPLATE, SYSTEM = "Answer in one sentence: {question}", "You are the bank's assistant."


def steps(folder: Path) -> tuple[dict[str, Any], Any, Any]:
    """The four configurations' steps, the run context (with the store), and the store."""
    from compound.intelligence.llm import ScriptedLLM
    from compound.orchestration.prompts import PromptRegistry, PromptSource
    from compound.store import SQLiteStore
    from compound.workflow import RunContext
    from compound.workflow.adapters import LLMStep

    store = SQLiteStore(folder / "compound.db")
    registry = PromptRegistry(store)
    registry.seed("desk.answer", template=TEMPLATE, system=SYSTEM)
    examples = [{"input": {"question": f"Example question {n}?"}, "output": f"Answer {n}."}
                for n in range(4)]
    shown = registry.register("desk.answer", examples=examples, note="bench")

    def step(source: PromptSource | None) -> LLMStep:
        return LLMStep(ScriptedLLM(["Yes, from 9 to 5."]), template=TEMPLATE, system=SYSTEM,
                       name="answer", prompt=source)

    def source(**options: Any) -> PromptSource:
        return PromptSource("desk.answer", template=TEMPLATE, system=SYSTEM, **options)

    return ({"spec": step(None), "registry": step(source()),
             "registry_read_every_call": step(source(refresh_s=0.0)),
             "four_examples": step(source(pinned=shown))}, RunContext(store=store), store)


def run(calls: int, folder: Path) -> dict[str, Any]:
    configurations, ctx, store = steps(folder)
    samples: dict[str, list[float]] = {name: [] for name in configurations}
    for name, step in configurations.items():  # warm up, and check each answers
        assert step.run(ctx, question="warm up").text == "Yes, from 9 to 5.", name
    for number in range(calls):
        for name, step in configurations.items():
            start = time.perf_counter()
            step.run(ctx, question=f"Is the branch open on day {number}?")
            samples[name].append(time.perf_counter() - start)
    store.close()
    results: dict[str, Any] = {}
    for name, taken in samples.items():
        ordered = sorted(taken)
        results[name] = {"median_us": round(statistics.median(ordered) * 1e6, 1),
                         "p90_us": round(ordered[int(0.9 * (len(ordered) - 1))] * 1e6, 1)}
    base = results["spec"]["median_us"]
    for figures in results.values():
        figures["excess_over_spec_us"] = round(figures["median_us"] - base, 1)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=3000, help="calls per configuration")
    args = parser.parse_args()
    load_before = os.getloadavg()
    print(f"timing {args.calls} calls in each of 4 configurations", file=sys.stderr)
    with tempfile.TemporaryDirectory() as folder:
        results = run(args.calls, Path(folder))
    print(json.dumps({"calls": args.calls, "results": results,
                      "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                  "platform": platform.platform(), "load_before": load_before,
                                  "load_after": os.getloadavg()}}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
