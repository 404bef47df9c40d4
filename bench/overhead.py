"""Orchestration overhead of compound against LangGraph, Haystack 2.x and DSPy, in one run.

Prints JSON: the overhead per step of a 5-step linear pipeline of zero-latency steps (the run
time minus the same five calls in plain Python, divided by 5), the overhead per agent
iteration (one scripted model turn plus one tool call, 3 tools offered: the time of a run
with 10 tool-calling turns minus a run with none, divided by 10), each with tracing off and
on for compound, and the time of ``import compound`` in a fresh interpreter. Peers run in
subprocesses from ``bench/.peers-venv`` (created from ``bench/requirements-peers.txt`` on
first use), so they never touch compound's environment. Only ratios within one run mean
anything on a shared machine.

Usage: ``.venv/bin/python bench/overhead.py [--quick] [--no-peers]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PEERS_VENV = HERE / ".peers-venv"
sys.path.insert(0, str(HERE / "peers"))
from common import (  # noqa: E402  (shared with the peers)
    median_per_call,
    plain_pipeline,
    step_functions,
    tool_functions,
)

PEERS = {"langgraph": "langgraph_bench.py", "haystack": "haystack_bench.py",
         "dspy": "dspy_bench.py"}


def interleaved(fns: dict[str, Callable[[], Any]], *, number: int, repeat: int,
                between: Callable[[], Any], timed: bool = False) -> dict[str, float]:
    """Median seconds per call of each function, measured in alternating rounds (so a slow
    moment of a shared machine hits all of them alike). ``between`` runs after every round
    (to let a background exporter catch up): outside the timing, or inside it when
    ``timed`` (then the round's time includes finishing its background work)."""
    for fn in fns.values():
        for _ in range(max(3, number // 10)):
            fn()
    rounds: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(number):
                fn()
            if timed:
                between()
            rounds[name].append((time.perf_counter() - start) / number)
            between()
    return {name: statistics.median(times) for name, times in rounds.items()}


def measure_compound(number: int) -> dict[str, Any]:
    from compound.intelligence.llm import ScriptedLLM, ToolCall
    from compound.orchestration.tools import Tool
    from compound.store import SQLiteStore
    from compound.workflow import Agent, RunContext, Workflow
    from compound.workflow.runs import default_tracer

    folder = tempfile.mkdtemp(prefix="compound-bench-")
    store = SQLiteStore(Path(folder) / "compound.db")
    tracer = default_tracer(store)  # what `compound run` uses: store sink, redaction on
    flush = tracer.flush

    flow = Workflow(list(step_functions()))
    payload = {"x": 0}
    assert flow.run(payload).output == 5

    def untraced() -> None:
        flow.run(payload)

    def traced() -> None:
        flow.run(payload, ctx=RunContext(tracer=tracer))

    tools = [Tool(f) for f in tool_functions()]

    def agent(iterations: int, *, trace: bool) -> Callable[[], None]:
        replies: list[Any] = [ToolCall("add", {"a": i, "b": 1}, id=f"c{i}")
                              for i in range(iterations)]
        llm = ScriptedLLM([*replies, "done"])
        runner = Agent(llm=llm, tools=tools, max_steps=50, max_repeats=None)

        def run() -> None:
            llm._index = 0
            llm.calls.clear()
            result = runner.run("go", RunContext(tracer=tracer) if trace else None)
            assert result.iterations == iterations + 1

        return run

    plain = median_per_call(plain_pipeline(), number=number * 20, repeat=9)
    steps = interleaved({"off": untraced, "on": traced}, number=number * 5, repeat=21,
                        between=flush)
    exported = interleaved({"off": untraced, "on": traced}, number=number * 5, repeat=9,
                           between=flush, timed=True)
    n_agent = max(10, number // 5)
    agents = interleaved({"off10": agent(10, trace=False), "off0": agent(0, trace=False),
                          "on10": agent(10, trace=True), "on0": agent(0, trace=True)},
                         number=n_agent, repeat=21, between=flush)
    agents_exported = interleaved(
        {"off10": agent(10, trace=False), "off0": agent(0, trace=False),
         "on10": agent(10, trace=True), "on0": agent(0, trace=True)},
        number=n_agent, repeat=7, between=flush, timed=True)
    tracer.close()
    store.close()

    def per_step(seconds: float) -> float:
        return (seconds - plain) / 5 * 1e6

    def per_iteration(runs: dict[str, float], on: bool) -> float:
        key = "on" if on else "off"
        return (runs[f"{key}10"] - runs[f"{key}0"]) / 10 * 1e6

    return {
        "plain_python_per_step_us": plain / 5 * 1e6,
        "per_step_us": per_step(steps["off"]),
        "per_step_traced_us": per_step(steps["on"]),
        "per_step_untraced_in_export_rounds_us": per_step(exported["off"]),
        "per_step_traced_with_export_us": per_step(exported["on"]),
        "per_agent_iteration_us": per_iteration(agents, False),
        "per_agent_iteration_traced_us": per_iteration(agents, True),
        "per_agent_iteration_untraced_in_export_rounds_us": per_iteration(agents_exported,
                                                                          False),
        "per_agent_iteration_traced_with_export_us": per_iteration(agents_exported, True),
        "tracing": "traced runs use the tracer `compound run` uses (SQLite store sink, PII and "
                   "secret redaction). 'traced': the time a request takes, with the background "
                   "exporter catching up between rounds, as on a server that is not saturated; "
                   "'traced_with_export': each round also waits until its spans are redacted, "
                   "serialised and committed to SQLite, i.e. the whole CPU cost of tracing, "
                   "compared with untraced rounds measured alongside",
    }


def import_time_ms(python: str, module: str, runs: int = 7) -> float:
    code = (f"import time; t = time.perf_counter(); import {module}; "
            "print(time.perf_counter() - t)")
    times = []
    for _ in range(runs):
        out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
        times.append(float(out.stdout.strip()))
    return statistics.median(times) * 1e3


def peers_python() -> tuple[str | None, str | None]:
    """The peers' interpreter, creating the venv on first use; or (None, why not)."""
    python = PEERS_VENV / "bin" / "python"
    if not python.exists():
        try:
            subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True,
                           capture_output=True, text=True)
            subprocess.run([str(python), "-m", "pip", "install", "-q", "-r",
                            str(HERE / "requirements-peers.txt")], check=True,
                           capture_output=True, text=True, timeout=1800)
        except (subprocess.SubprocessError, OSError) as exc:
            detail = getattr(exc, "stderr", "") or str(exc)
            return None, f"could not install the peers: {detail.strip()[-500:]}"
    return str(python), None


def measure_peer(python: str, script: str, number: int) -> dict[str, Any]:
    env = {**os.environ, "HAYSTACK_TELEMETRY_ENABLED": "False", "DSP_CACHEBOOL": "false",
           "PYTHONWARNINGS": "ignore"}
    try:
        out = subprocess.run([python, script, str(number)], cwd=HERE / "peers", env=env,
                             capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        return {"error": "timed out after 900 s"}
    if out.returncode != 0:
        return {"error": f"exit {out.returncode}: {out.stderr.strip()[-800:]}"}
    try:
        result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        return {"error": f"no JSON in its output: {out.stdout[-300:]!r}"}
    return result


def goals(compound: dict[str, Any], peers: dict[str, dict[str, Any]]) -> dict[str, Any]:
    def peer(name: str, key: str) -> float | None:
        value = peers.get(name, {}).get(key)
        return float(value) if isinstance(value, int | float) else None

    step = compound["per_step_us"]
    iteration = compound["per_agent_iteration_us"]
    result: dict[str, Any] = {}
    dspy_step, langgraph_step = peer("dspy", "per_step_us"), peer("langgraph", "per_step_us")
    haystack_iteration = peer("haystack", "per_agent_iteration_us")
    result["per_step_at_most_dspy"] = {
        "ratio": step / dspy_step if dspy_step else None, "target": "<= 1",
        "met": step <= dspy_step if dspy_step else None}
    result["per_step_at_most_langgraph_over_20"] = {
        "ratio": step / langgraph_step if langgraph_step else None, "target": "<= 0.05",
        "met": step <= langgraph_step / 20 if langgraph_step else None}
    result["per_iteration_at_most_haystack_over_5"] = {
        "ratio": iteration / haystack_iteration if haystack_iteration else None,
        "target": "<= 0.2",
        "met": iteration <= haystack_iteration / 5 if haystack_iteration else None}
    extra = {
        "per_step": compound["per_step_traced_us"] / step - 1,
        "per_iteration": compound["per_agent_iteration_traced_us"] / iteration - 1,
    }
    whole_cost = {
        "per_step_with_export": compound["per_step_traced_with_export_us"]
        / compound["per_step_untraced_in_export_rounds_us"] - 1,
        "per_iteration_with_export": compound["per_agent_iteration_traced_with_export_us"]
        / compound["per_agent_iteration_untraced_in_export_rounds_us"] - 1,
    }
    result["tracing_adds_at_most_10_percent"] = {
        **{f"{k}_extra": v for k, v in extra.items()}, "target": "<= 0.10",
        "measured_on": "the request path (the export runs off it, between requests)",
        "met": max(extra.values()) <= 0.10,
        "whole_cost_including_export": {f"{k}_extra": v for k, v in whole_cost.items()}}
    result["import_compound_under_300_ms"] = {
        "ms": compound["import_ms"], "target": "< 300", "met": compound["import_ms"] < 300}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--no-peers", action="store_true", help="measure compound only")
    args = parser.parse_args()
    number = 100 if args.quick else 300
    sys.path.insert(0, str(HERE.parent / "src"))
    compound = measure_compound(number)
    compound["import_ms"] = import_time_ms(sys.executable, "compound")
    peers: dict[str, dict[str, Any]] = {}
    if not args.no_peers:
        python, why = peers_python()
        for name, script in PEERS.items():
            if python is None:
                peers[name] = {"error": why}
                continue
            peers[name] = measure_peer(python, script, number)
            if "import_s" in peers[name]:
                peers[name]["import_ms"] = peers[name].pop("import_s") * 1e3
    print(json.dumps({
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "platform": platform.platform()},
        "compound": compound,
        "peers": peers,
        "goals": goals(compound, peers),
    }, indent=2))


if __name__ == "__main__":
    main()
