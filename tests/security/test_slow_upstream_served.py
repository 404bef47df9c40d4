"""A slow provider must not take the CLI or the server down: `compound run` and `compound ask`
(real subprocesses) end at the model's timeout_s, and under `compound serve` (real uvicorn)
a healthy route keeps answering while the slow one times out, no upstream connection stays
open after, and /readyz says 503 while the slow model's queue is saturated."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from slow_upstream_apps import ROOT, Served

from compound.intelligence.llm import ScriptedLLM
from compound.intelligence.llm.local_server import LocalOpenAIServer

pytest.importorskip("openai")
pytestmark = pytest.mark.integration

SPEC = """\
name: slowup
loop: interaction
task: Answer questions.
models:
  llm:
    kind: llm
    provider: openai
    model: backend
    base_url: {url}
    timeout_s: 5
workflows:
  answer:
    input: {{question: str}}
    steps:
      - {{name: draft, uses: llm, options: {{template: "Answer: {{question}}"}}}}
"""


@pytest.fixture
def trickler() -> Iterator[LocalOpenAIServer]:
    """Headers at once, then one byte every 2 s: minutes for a whole answer."""
    with LocalOpenAIServer(ScriptedLLM(["Paris is the capital of France."]),
                           fault="trickle:2") as server:
        yield server


def compound(*args: str, home: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {**os.environ, "COMPOUND_HOME": str(home), "PYTHONPATH": str(ROOT / "src"),
           "NO_COLOR": "1", "COLUMNS": "200"}
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "compound", *args], capture_output=True,
                          text=True, env=env, timeout=60)
    return done, time.monotonic() - start


def wait_closed(server: LocalOpenAIServer, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while server.open_connections and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server.open_connections == 0, f"{server.open_connections} upstream connection(s) open"


@pytest.mark.parametrize("command", ["run", "ask"])
def test_the_cli_ends_at_the_models_timeout(trickler: LocalOpenAIServer, tmp_path: Path,
                                            command: str) -> None:
    (tmp_path / "compound.yaml").write_text(SPEC.format(url=trickler.base_url))
    args = (["run", str(tmp_path), "answer", "-i", '{"question": "capital of France?"}']
            if command == "run" else ["ask", str(tmp_path), "capital of France?"])
    done, took = compound(*args, home=tmp_path / "home")
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert took < 25, f"took {took:.1f}s"  # about 5 s past start-up; the answer takes minutes
    assert "timeout_s of 5s" in output and "whole answer" in output, output
    assert "failed: " in done.stderr and "Traceback" not in output, output
    if command == "run":
        assert "LLMTimeout" in output, output
    wait_closed(trickler, within_s=5)


def test_compound_run_prints_no_traceback(trickler: LocalOpenAIServer, tmp_path: Path) -> None:
    (tmp_path / "compound.yaml").write_text(SPEC.format(url=trickler.base_url))
    done, _ = compound("run", str(tmp_path), "answer", "-i", '{"question": "capital?"}',
                       home=tmp_path / "home")
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr


def test_a_slow_upstream_does_not_take_the_server_down(trickler: LocalOpenAIServer,
                                                       tmp_path: Path) -> None:
    with Served(tmp_path, trickler.base_url) as served, \
            httpx.Client(base_url=served.url, timeout=60) as client, \
            ThreadPoolExecutor(8) as pool:
        started = time.monotonic()
        slow = [pool.submit(client.post, "/v1/workflows/ask_slow", json={"text": f"q{i}"})
                for i in range(7)]
        streamed = pool.submit(client.post, "/v1/workflows/ask_slow/stream", json={"text": "s"})
        # four calls run and four wait: the slow model's queue is full
        saturated = None
        while time.monotonic() - started < 4.5 and saturated is None:
            ready = client.get("/readyz")
            if ready.status_code == 503:
                saturated = ready.json()
            time.sleep(0.1)
        assert saturated is not None, "readyz never reported the saturated model"
        assert saturated["status"] == "saturated"
        assert any("model 'slow' is saturated" in r for r in saturated["waiting_for"])
        healthy = client.post("/v1/workflows/answer", json={"text": "capital?"})
        assert healthy.status_code == 200 and healthy.json()["output"]["text"] == "Paris."
        assert time.monotonic() - started < 5, "the healthy route waited for the slow one"
        answers = [f.result(timeout=60) for f in slow]
        assert [a.status_code for a in answers] == [504] * 7, [a.text for a in answers]
        assert all("timeout_s of 5s" in a.json()["error"]["message"] for a in answers)
        events = streamed.result(timeout=60).text
        assert "event: error" in events and '"type":"timeout"' in events.replace(" ", ""), events
        assert time.monotonic() - started < 20
        wait_closed(trickler, within_s=5)
        assert client.get("/readyz").status_code == 200
        again = client.post("/v1/workflows/answer", json={"text": "again?"})
        assert again.status_code == 200
