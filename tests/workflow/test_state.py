"""State: checkpoints, resume without repeating side effects, replay, kill -9 and resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from compound.errors import RuntimeFailure, UserError
from compound.intelligence.llm import ScriptedLLM, ToolCall
from compound.orchestration.tools import tool
from compound.store import MemoryStore, SQLiteStore
from compound.workflow import Agent, Step, StepFailed, Workflow, replay, resume, start
from compound.workflow.effects import ReplayDiverged
from compound.workflow.state import CHECKPOINTS, RUNS
from compound.workflow.tracing import read_spans


@dataclass(frozen=True)
class Order:
    amount: int


@dataclass(frozen=True)
class Receipt:
    amount: int
    note: str


def test_a_failed_run_resumes_from_the_failed_step_without_rerunning_earlier_ones() -> None:
    calls: list[str] = []
    broken = {"yes": True}

    def charge(amount: int) -> Receipt:
        calls.append("charge")
        return Receipt(amount, "charged")

    def notify(note: str) -> str:
        calls.append("notify")
        if broken["yes"]:
            raise RuntimeFailure("mail server down")
        return f"sent: {note}"

    flow = Workflow([charge, notify], name="pay", input=Order)
    store = MemoryStore()
    with pytest.raises(StepFailed, match=r"step 'notify' failed: RuntimeFailure: mail server "
                                         r"down. Fix the cause and continue with 'compound "
                                         r"resume [0-9a-f]{32}'") as info:
        start(flow, Order(5), store=store)
    run_id = info.value.run_id
    record = store.get(RUNS, run_id)
    assert record["status"] == "failed" and record["failed_step"] == "notify"
    assert store.get(CHECKPOINTS, f"{run_id}/charge") == {
        "output": {"amount": 5, "note": "charged"}}
    broken["yes"] = False
    result = resume(flow, run_id, store=store)
    assert result.output == "sent: charged" and result.outputs["charge"] == Receipt(5, "charged")
    assert calls == ["charge", "notify", "notify"]
    assert store.get(RUNS, run_id)["status"] == "completed"
    with pytest.raises(UserError, match="already completed"):
        resume(flow, run_id, store=store)


def test_resume_inside_an_agent_step_does_not_repeat_a_side_effecting_call() -> None:
    ledger: list[int] = []
    crash = {"armed": True}

    @tool(side_effects=True)
    def pay(amount: int) -> str:
        """Pay."""
        ledger.append(amount)
        return "paid"

    @tool
    def check(amount: int) -> str:
        """Check a payment."""
        if crash["armed"]:
            raise KeyboardInterrupt  # stands in for the process dying mid-step
        return "ok"

    def script(messages: object, params: object) -> object:
        done = sum(1 for m in messages if m.role == "tool")  # type: ignore[attr-defined]
        return [ToolCall("pay", {"amount": 3}), ToolCall("check", {"amount": 3}), "done"][done]

    def build() -> Workflow:
        return Workflow([Agent(llm=ScriptedLLM(script), tools=[pay, check], name="clerk")],
                        name="agentic")

    store = MemoryStore()
    with pytest.raises(KeyboardInterrupt):
        start(build(), {"task": "pay 3"}, store=store, run_id="a" * 32)
    assert ledger == [3]
    crash["armed"] = False
    result = resume(build(), "a" * 32, store=store)
    assert result.output.answer == "done"
    assert ledger == [3]  # the completed side-effecting call was not made again


def test_replay_uses_recorded_model_outputs_and_never_runs_side_effects() -> None:
    sent: list[str] = []

    @tool(side_effects=True)
    def email(to: str) -> str:
        """Send an email."""
        sent.append(to)
        return "sent"

    def build(llm: ScriptedLLM) -> Workflow:
        agent = Agent(llm=llm, tools=[email], name="mailer")
        return Workflow([agent, Step(lambda answer: answer.upper(), name="shout",
                                     inputs={"answer": "mailer.answer"})], name="mail")

    store = MemoryStore()
    first = start(build(ScriptedLLM([ToolCall("email", {"to": "ana"}), "Mailed Ana."])),
                  {"task": "mail ana"}, store=store)
    assert sent == ["ana"] and first.output == "MAILED ANA."
    model_that_must_not_be_called = ScriptedLLM([RuntimeError("called the model")])
    again = replay(build(model_that_must_not_be_called), first.run_id, store=store)
    assert again.output == "MAILED ANA." and sent == ["ana"]
    assert model_that_must_not_be_called.calls == []
    spans = read_spans(store, again.run_id)
    assert any(s["attributes"].get("compound.replayed") for s in spans if s["kind"] == "model")

    diverging = Workflow([Agent(llm=model_that_must_not_be_called, tools=[email], name="other")],
                         name="mail")
    with pytest.raises(StepFailed, match="replay has no recorded model output"):
        replay(diverging, first.run_id, store=store)
    assert issubclass(ReplayDiverged, RuntimeFailure)


def test_an_unserialisable_step_output_is_a_clear_error_in_a_checkpointed_run() -> None:
    def lock(x: int) -> object:
        import threading

        return threading.Lock()

    with pytest.raises(UserError, match=r"the output of step 'lock' is a _thread.lock, which "
                                        r"cannot be written as JSON"):
        start(Workflow([lock]), {"x": 1}, store=MemoryStore())


KILLFLOW = '''
"""A workflow for the kill-and-resume test."""
import os
import time
from pathlib import Path

from compound import Agent, ScriptedLLM, Step, ToolCall, Workflow, tool

LEDGER = Path(os.environ["KILLFLOW_LEDGER"])


@tool(side_effects=True)
def charge(amount: int) -> str:
    """Charge the card."""
    with LEDGER.open("a") as f:
        f.write(f"charge {amount}\\n")
    return f"charged {amount}"


@tool(timeout_s=60)
def slow(seconds: float) -> str:
    """Wait a while."""
    Path(str(LEDGER) + ".slow").write_text("started")
    time.sleep(float(os.environ.get("KILLFLOW_SLOW", seconds)))
    return "waited"


def script(messages, params):
    done = sum(1 for m in messages if m.role == "tool")
    if done == 0:
        return ToolCall("charge", {"amount": 7}, id="c1")
    if done == 1:
        return ToolCall("slow", {"seconds": 30}, id="c2")
    return "All done."


def pay(amount: int) -> int:
    return amount


def build() -> Workflow:
    agent = Agent(llm=ScriptedLLM(script), tools=[charge, slow], name="clerk")
    return Workflow([
        Step(charge, name="pay", inputs={"amount": "input.amount"}),
        Step(agent, name="agent", inputs={"task": "input.task"}),
        Step(lambda answer: answer.upper(), name="shout", inputs={"answer": "agent.answer"}),
    ], name="killflow")
'''


@pytest.mark.integration
def test_a_killed_process_resumes_without_repeating_side_effecting_calls(tmp_path: Path
                                                                          ) -> None:
    (tmp_path / "killflow.py").write_text(textwrap.dedent(KILLFLOW))
    ledger = tmp_path / "ledger"
    env = {**os.environ, "KILLFLOW_LEDGER": str(ledger), "PYTHONPATH": str(tmp_path)}
    home = tmp_path / "home"
    run_id = "0123456789abcdef0123456789abcdef"
    compound = [sys.executable, "-c", "from compound.cli import main; main()"]
    process = subprocess.Popen(
        [*compound, "run", "killflow:build", "--input", '{"amount": 5, "task": "pay"}',
         "--home", str(home), "--run-id", run_id],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not Path(str(ledger) + ".slow").exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run never reached the slow tool"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    assert ledger.read_text().splitlines() == ["charge 5", "charge 7"]
    with SQLiteStore(home / "compound.db") as store:
        assert store.get(RUNS, run_id)["status"] == "running"
    done = subprocess.run([*compound, "resume", run_id, "--home", str(home)], cwd=tmp_path,
                          env={**env, "KILLFLOW_SLOW": "0"}, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == '"ALL DONE."'
    assert ledger.read_text().splitlines() == ["charge 5", "charge 7"]  # each ran once
    with SQLiteStore(home / "compound.db") as store:
        record = store.get(RUNS, run_id)
        assert record["status"] == "completed" and record["resumed"] == 1
        spans = read_spans(store, run_id)
    restored = [s["name"] for s in spans if s["attributes"].get("compound.step.restored")]
    replayed = [s["name"] for s in spans if s["attributes"].get("compound.replayed")]
    assert restored == ["pay"]
    assert "execute_tool charge" in replayed
    trace = subprocess.run([*compound, "trace", run_id, "--home", str(home)], cwd=tmp_path,
                           env=env, capture_output=True, text=True, timeout=60)
    assert "invoke_agent clerk [agent]" in trace.stdout and "stop=answer" in trace.stdout
