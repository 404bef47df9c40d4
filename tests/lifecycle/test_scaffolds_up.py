"""The acceptance of `compound init`: each scaffold passes `compound up --no-serve` as generated,
with the real embedded LLM and real training (real CLI subprocesses, a temporary folder)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("loop", ["interaction", "prediction", "hybrid"])
def test_a_new_system_passes_up_as_generated(tmp_path: Path, loop: str) -> None:
    env = {**os.environ, "COMPOUND_HOME": str(tmp_path / "home"), "COLUMNS": "200",
           "NO_COLOR": "1"}

    def compound(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "compound", *args], cwd=tmp_path,
                              capture_output=True, text=True, env=env, timeout=600)

    made = compound("init", "faq", "--loop", loop)
    assert made.returncode == 0, made.stderr
    started = time.monotonic()
    up = compound("up", "faq", "--no-serve")
    seconds = time.monotonic() - started
    assert up.returncode == 0, (up.stdout[-3000:], up.stderr[-3000:])
    assert "scorecard passed" in up.stderr
    assert "scorecard of faq" in up.stdout
    assert "FAIL" not in up.stdout and "unmeasured" not in up.stdout
    print(f"compound up of the {loop} scaffold: {seconds:.1f} s")
    if loop == "interaction":  # the answer cites the help page it came from
        ran = compound("run", "faq", "answer", "-i", '{"question": "How much is the Pro plan?"}')
        assert ran.returncode == 0, ran.stderr
        answer = json.loads(ran.stdout)
        assert answer["text"].strip()
        assert "docs/billing.md" in {c["doc_id"] for c in answer["citations"]}
    if loop == "hybrid":  # a question on no topic of the docs gets no answer
        ran = compound("run", "faq", "answer", "-i", '{"question": "tell me a joke"}')
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.strip() == "null"
        assert "classify" in ran.stderr and "draft" not in ran.stderr  # skipped, not run
