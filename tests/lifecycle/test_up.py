"""`compound up`: the scorecard logic, and the whole loop on the support_desk example."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from compound.lifecycle.up import Scorecard, ScoreLine

REPO = Path(__file__).resolve().parents[2]


def line(value: float | None, *, direction: str = "higher", regressed: str | None = None
         ) -> ScoreLine:
    return ScoreLine("c", "m", value, 0.8, direction, None, None, "e", regressed)  # type: ignore[arg-type]


def test_scorecard_passes_only_when_every_criterion_is_measured_and_met() -> None:
    assert Scorecard("s", [line(0.9), line(0.5, direction="lower")]).passed
    assert not Scorecard("s", [line(0.9), line(0.7)]).passed
    unmeasured = Scorecard("s", [line(0.9), line(None)])
    assert not unmeasured.passed
    assert unmeasured.failures() == ["c: no eval measures 'm'"]
    regressed = Scorecard("s", [line(0.9, regressed="0.9 is 0.05 below the baseline 0.95")])
    assert regressed.failures() == ["c: 0.9 is 0.05 below the baseline 0.95"]


@pytest.mark.integration
@pytest.mark.dataset
def test_up_builds_evaluates_serves_and_answers(
    shared_dataset: object, tmp_path: Path
) -> None:
    shared_dataset("banking77/train.jsonl")  # type: ignore[operator]
    shared_dataset("prompt-injections/test.jsonl")  # type: ignore[operator]
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
@pytest.mark.dataset
def test_up_without_serving_answers_in_process(shared_dataset: object, tmp_path: Path) -> None:
    shared_dataset("banking77/train.jsonl")  # type: ignore[operator]
    shared_dataset("prompt-injections/test.jsonl")  # type: ignore[operator]
    env = {**os.environ, "COMPOUND_HOME": str(tmp_path), "COLUMNS": "200", "NO_COLOR": "1"}
    out = subprocess.run(
        [sys.executable, "-m", "compound", "up", str(REPO / "examples" / "support_desk"),
         "--no-serve", "--limit", "300", "--ask", "How do I activate my new card?"],
        capture_output=True, text=True, env=env, timeout=900,
    )
    assert out.returncode in (0, 1), out.stderr[-3000:]  # 1 only if latency failed under load
    assert "asked workflow 'answer'" in out.stderr
    reply = json.loads(out.stdout[out.stdout.index('{\n  "text"'):])
    assert reply["routed_to"] == "answer" and reply["intent"] == "activate_my_card"
    assert reply["citations"][0] == "kb/card-activation.md"
