"""A run killed with SIGKILL midway resumes in a new process: no row lost, none repeated."""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from compound.evaluation.results import RunRepository
from compound.evaluation.runner import EvalRunner
from compound.store import SQLiteStore

SYSTEM = textwrap.dedent('''
    import os, sys, time
    from compound.evaluation.datasets import Dataset
    from compound.evaluation.plan import EvalPlan
    from compound.evaluation.runner import EvalRunner
    from compound.evaluation.targets import FunctionTarget
    from compound.store import SQLiteStore

    ROWS = [{"id": f"r{i}", "question": f"what is {i}", "answer": str(i)} for i in range(40)]

    def slow_answer(inputs):
        with open(os.environ["CALL_LOG"], "a") as log:
            log.write(inputs["question"] + "\\n")
        time.sleep(float(os.environ.get("DELAY", "0")))
        return inputs["question"].split()[-1]

    def plan():
        return EvalPlan.simple("killme", Dataset(ROWS, name="k"), FunctionTarget(slow_answer),
                               ["exact_match"], inputs=["question"], expected="answer",
                               concurrency=2)

    if __name__ == "__main__":
        EvalRunner(SQLiteStore(sys.argv[1]), progress=False).run(plan())
''')


@pytest.mark.integration
def test_sigkill_midway_then_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "killable.py").write_text(SYSTEM)
    db = tmp_path / "compound.db"
    env = {**os.environ, "CALL_LOG": str(tmp_path / "first.log"), "DELAY": "0.2",
           "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    child = subprocess.Popen([sys.executable, str(tmp_path / "killable.py"), str(db)], env=env)
    deadline = time.monotonic() + 60
    done = 0
    try:
        while time.monotonic() < deadline and child.poll() is None:
            if db.exists():
                store = SQLiteStore(db)
                done = sum(1 for _ in store.items("eval_rows"))
                store.close()
                if done >= 10:
                    break
            time.sleep(0.02)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    store = SQLiteStore(db)
    repo = RunRepository(store)
    [killed] = repo.runs("killme")
    assert killed.status == "running"
    before = len(repo.rows(killed.id))
    assert 10 <= before < 40

    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("CALL_LOG", str(tmp_path / "second.log"))
    monkeypatch.setenv("DELAY", "0")
    killable = importlib.import_module("killable")
    run = EvalRunner(store, progress=False).run(killable.plan())

    assert run.id == killed.id and run.status == "complete"
    rows = repo.rows(run.id)
    assert [r.index for r in rows] == list(range(40))
    assert len({r.id for r in rows}) == 40
    resumed_calls = (tmp_path / "second.log").read_text().splitlines()
    assert len(resumed_calls) == 40 - before  # only the rows that were missing ran again
    assert run.counts == {"total": 40, "ok": 40, "error": 0, "invalid": 0}
    assert run.metric("exact_match").value == 1.0
    store.close()
