"""The pytest plugin: evals written as tests pass or fail on metric requirements."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

USER_TESTS = textwrap.dedent('''
    from compound.evaluation import Dataset

    DATA = Dataset([{"q": f"{i}+{i}?", "a": str(2 * i)} for i in range(20)], name="sums")

    def adder(inputs):
        left = int(inputs["q"].split("+")[0])
        return str(left * 2) if left % 4 else "no idea"

    def test_good_enough(compound_eval):
        run = compound_eval.run(DATA, adder, ["exact_match"], inputs=["q"], expected="a")
        compound_eval.require(run, exact_match=0.7)

    def test_too_strict(compound_eval):
        run = compound_eval.run(DATA, adder, ["exact_match", "latency_ms"], inputs=["q"],
                                expected="a")
        compound_eval.require(run, exact_match=0.9, latency_ms=10_000)
''')


@pytest.mark.integration
def test_evals_as_tests(tmp_path: Path) -> None:
    (tmp_path / "test_user_evals.py").write_text(USER_TESTS)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:compound",
         "-p", "compound.evaluation.pytest_plugin", "--rootdir", str(tmp_path), str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "1 failed, 1 passed" in out
    assert "exact_match = 0.75, needs >= 0.9" in out
    assert "latency_ms = " not in out  # lower-is-better and under its bound: not a problem
    assert "compound evals" in out and "test_good_enough: exact_match=0.750" in out
