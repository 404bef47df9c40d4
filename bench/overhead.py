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
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PEERS_VENV = HERE / ".peers-venv"
sys.path.insert(0, str(HERE / "peers"))
from common import median_per_call, plain_pipeline  # noqa: E402  (shared with the peers)

PEERS = {"langgraph": "langgraph_bench.py", "haystack": "haystack_bench.py",
         "dspy": "dspy_bench.py"}


def measure_compound(number: int) -> dict[str, Any]:
    from compound.intelligence.llm import ScriptedLLM, ToolCall
    from compound.orchestration.tools import Tool
    from compound.store import SQLiteStore
    from compound.workflow import Agent, RunContext, Workflow
    from compound.workflow.tracing import StoreSink, Tracer

    def s1(x: int) -> int:
        return x + 1

    def s2(x: int) -> int:
        return x + 1

    def s3(x: int) -> int:
        return x + 1

    def s4(x: int) -> int:
        return x + 1

    def s5(x: int) -> int:
        return x + 1

    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    def multiply(a: int, b: int) -> int:
        """Multiply two integers."""
        return a * b

    def negate(a: int) -> int:
        """Negate an integer."""
        return -a

    folder = tempfile.mkdtemp(prefix="compound-bench-")
    store = SQLiteStore(Path(folder) / "compound.db")
    tracer = Tracer(StoreSink(store))
    flush = tracer.flush

    flow = Workflow([s1, s2, s3, s4, s5])
    payload = {"x": 0}
    assert flow.run(payload).output == 5

    def untraced() -> None:
        flow.run(payload)

    def traced() -> None:
        flow.run(payload, ctx=RunContext(tracer=tracer))

    tools = [Tool(f) for f in (add, multiply, negate)]

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
    step = median_per_call(untraced, number=number * 5, repeat=9)
    step_traced = median_per_call(traced, number=number * 5, repeat=9)
    flush()
    step_exported = median_per_call(traced, number=number * 5, repeat=9, after=flush)
    n_agent = max(10, number // 5)
    a10 = median_per_call(agent(10, trace=False), number=n_agent, repeat=7)
    a0 = median_per_call(agent(0, trace=False), number=n_agent, repeat=7)
    a10t = median_per_call(agent(10, trace=True), number=n_agent, repeat=7)
    a0t = median_per_call(agent(0, trace=True), number=n_agent, repeat=7)
    flush()
    a10e = median_per_call(agent(10, trace=True), number=n_agent, repeat=7, after=flush)
    a0e = median_per_call(agent(0, trace=True), number=n_agent, repeat=7, after=flush)
    tracer.close()
    store.close()
    return {
        "plain_python_per_step_us": plain / 5 * 1e6,
        "per_step_us": (step - plain) / 5 * 1e6,
        "per_step_traced_us": (step_traced - plain) / 5 * 1e6,
        "per_step_traced_with_export_us": (step_exported - plain) / 5 * 1e6,
        "per_agent_iteration_us": (a10 - a0) / 10 * 1e6,
        "per_agent_iteration_traced_us": (a10t - a0t) / 10 * 1e6,
        "per_agent_iteration_traced_with_export_us": (a10e - a0e) / 10 * 1e6,
        "tracing": "'traced': spans go to a SQLite store through the background writer, which "
                   "runs concurrently (competing for the GIL) but is not waited for; "
                   "'traced_with_export': each round also waits until every span is written",
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
        "per_step_with_export": compound["per_step_traced_with_export_us"] / step - 1,
        "per_iteration_with_export":
            compound["per_agent_iteration_traced_with_export_us"] / iteration - 1,
    }
    result["tracing_adds_at_most_10_percent"] = {
        **{f"{k}_extra": v for k, v in extra.items()}, "target": "<= 0.10",
        "met": max(extra.values()) <= 0.10}
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
