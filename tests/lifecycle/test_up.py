"""`compound up`: the scorecard logic, and the whole loop on the support_desk example."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from compound.lifecycle.up import MachineLoad, Scorecard, ScoreLine, format_number

REPO = Path(__file__).resolve().parents[2]


def line(value: float | None, *, direction: str = "higher", regressed: str | None = None,
         kind: str = "quality", name: str = "c") -> ScoreLine:
    return ScoreLine(name, "m", value, 0.8, direction, None, None, "e", regressed,  # type: ignore[arg-type]
                     kind)  # type: ignore[arg-type]


def test_scorecard_passes_only_when_every_criterion_is_measured_and_met() -> None:
    assert Scorecard("s", [line(0.9), line(0.5, direction="lower")]).passed
    assert not Scorecard("s", [line(0.9), line(0.7)]).passed
    unmeasured = Scorecard("s", [line(0.9), line(None)])
    assert not unmeasured.passed
    assert unmeasured.failures() == ["c: no eval measures 'm'"]
    regressed = Scorecard("s", [line(0.9, regressed="0.9 is 0.05 below the baseline 0.95")])
    assert regressed.failures() == ["c: 0.9 is 0.05 below the baseline 0.95"]


def test_a_failed_latency_criterion_warns_unless_strict() -> None:
    machine = MachineLoad(5.5, 4.2, 2)
    slow = Scorecard("s", [line(0.9), line(9120.0, direction="lower", kind="latency",
                                           name="p95")], machine=machine)
    assert not slow.passed and not slow.blocking() and slow.blocking(strict=True)
    [why] = slow.failures(kind="latency")
    assert why == ("p95: 9,120 is not <= 0.8 (load average 5.5 (1 min), 4.2 (5 min) on 2 "
                   "cores; the machine was busy)")
    assert slow.failures(kind="quality") == []
    wrong = Scorecard("s", [line(0.5), line(1.0, direction="lower", kind="latency")])
    assert wrong.blocking() and wrong.blocking(strict=True)
    unmeasured = Scorecard("s", [line(None, kind="latency")])
    assert unmeasured.blocking()


def test_numbers_read_without_exponents() -> None:
    assert [format_number(v) for v in (23180.4, 0.9068, 1.0, 0.0, 8000.0, 12.345)] == [
        "23,180", "0.9068", "1", "0", "8,000", "12.35"]


def test_the_scorecard_piped_to_a_narrow_pipe_cuts_nothing() -> None:
    import io

    from rich.console import Console

    from compound.cli.scorecard import print_whole, scorecard_table

    card = Scorecard("support_desk", [
        ScoreLine("answer_groundedness_of_every_reply", "groundedness", 0.6667, 0.5,
                  "higher", 0.3333, 1.0, "answers"),
        ScoreLine("p95_latency_ms", "p95_latency_ms", 23180.4, 8000, "lower", 1229.0,
                  23180.4, "answers", kind="latency"),
    ], machine=MachineLoad(3.0, 2.5, 2))
    out = io.StringIO()
    console = Console(file=out, width=40, force_terminal=False, color_system=None)
    print_whole(console, scorecard_table(card))
    text = out.getvalue()
    assert "answer_groundedness_of_every_reply" in text and "…" not in text
    assert "23,180" in text and "e+0" not in text
    assert "FAIL (warning)" in text and "<= 8,000" in text
    assert "load average 3.0 (1 min), 2.5 (5 min) on 2 cores" in text
    row = next(r for r in text.splitlines() if "p95_latency_ms" in r)
    assert "[1,229, 23,180]" in row  # one row: nothing wrapped onto a second line


@pytest.mark.integration
def test_up_builds_evaluates_serves_and_answers(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "COMPOUND_HOME": str(tmp_path), "COLUMNS": "200", "NO_COLOR": "1"}
    out = subprocess.run(
        [sys.executable, "-m", "compound", "up", str(REPO / "examples" / "support_desk"),
         "--limit", "300", "--port", str(port), "--serve-seconds", "20", "--force",
         "--ask", "I ordered a card ten days ago and it has not arrived yet"],
        capture_output=True, text=True, env=env, timeout=900,
    )
    assert out.returncode in (0, -2, 130), out.stderr[-3000:]
    assert "trained intent@1, promoted" in out.stdout
    rows = {row.split()[1]: row for row in out.stdout.splitlines()
            if row.startswith("│") and len(row.split()) > 2}
    # Quality criteria must pass; latency depends on how loaded the 2-core machine is, so it
    # must be measured and shown (pass or fail) but is not asserted here (--force serves).
    for criterion in ("intent_accuracy", "answer_groundedness", "injection_recall"):
        assert "pass" in rows[criterion], out.stdout[-3000:]
    assert any(word in rows["p95_latency_ms"] for word in ("pass", "FAIL"))
    assert "-> HTTP 200" in out.stderr
    answer = json.loads(out.stdout[out.stdout.index('{\n  "run_id"'):].split("\n}\n")[0] + "\n}")
    reply = answer["output"]
    assert reply["routed_to"] in ("answer", "review")
    if reply["routed_to"] == "answer":
        assert reply["text"] and reply["citations"]
    else:
        assert reply["reason"]


@pytest.mark.integration
def test_up_without_serving_answers_in_process(tmp_path: Path) -> None:
    # no datasets folder at all: the example's own data is enough
    env = {**os.environ, "COMPOUND_HOME": str(tmp_path), "COLUMNS": "200", "NO_COLOR": "1",
           "COMPOUND_DATA": str(tmp_path / "no-datasets"), "XDG_CACHE_HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-m", "compound", "up", str(REPO / "examples" / "support_desk"),
         "--no-serve", "--limit", "300", "--ask", "How do I activate my new card?"],
        capture_output=True, text=True, env=env, timeout=900,
    )
    assert out.returncode == 0, out.stderr[-3000:]  # latency only warns without --strict
    assert "asked workflow 'answer'" in out.stderr
    reply = json.loads(out.stdout[out.stdout.index('{\n  "text"'):])
    assert reply["routed_to"] == "answer" and reply["intent"] == "activate_my_card"
    assert reply["citations"][0] == "kb/card-activation.md"
