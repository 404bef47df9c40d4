"""A served run the rails around it escalate goes to the human review queue: `compound serve`
on 127.0.0.1 answers with the decision and no output, and the queue holds the run, its
reasons and the answer that escalated, redacted as the store redacts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from serving_apps import free_port

from compound.production.serving.keys import ApiKeys
from compound.store import SQLiteStore

pytestmark = pytest.mark.integration

ANSWER = "Write to help@bank.example and we will reply within a day."
SPEC = f"""\
name: desk
loop: interaction
task: Answer customers.
models:
  llm: {{kind: llm, provider: scripted, options: {{replies: ["{ANSWER}"]}}}}
guardrails:
  pii: {{type: pii, stage: output, action: escalate}}
strategy:
  review: {{queue: desk}}
workflows:
  answer:
    input: {{question: str}}
    steps:
      - {{name: draft, uses: llm, options: {{template: "Answer: {{question}}"}}}}
serve:
  rate_limit: null
"""


def test_a_served_run_the_rails_escalate_is_queued_for_review(tmp_path: Path) -> None:
    spec = tmp_path / "compound.yaml"
    spec.write_text(SPEC)
    key, _ = ApiKeys(SQLiteStore(tmp_path / "compound.db")).create("tests", scope="admin")
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    server = subprocess.Popen([sys.executable, "-m", "compound", "serve", str(spec), "--port",
                               str(port), "--home", str(tmp_path)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {key}"}
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        answer = httpx.post(f"{url}/v1/workflows/answer", json={"question": "How to reach you?"},
                            headers=headers, timeout=30)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["output"] is None and body["guard"]["action"] == "escalate"
        assert body["guard"]["reasons"] == ["pii: found 1 EMAIL_ADDRESS"]
        queued = httpx.get(f"{url}/v1/review", headers=headers, timeout=30).json()
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=20)
    [item] = queued
    assert item["key"] == f"desk/{body['guard']['review_id']:012d}", output
    assert item["run_id"] == body["run_id"] and item["status"] == "open"
    assert item["reason"] == "flagged: pii: found 1 EMAIL_ADDRESS"
    assert item["input"] == {"question": "How to reach you?"}
    assert item["proposed"] == "Write to <EMAIL_ADDRESS> and we will reply within a day."
    assert item["context"] == {"stage": "output", "workflow": "answer", "rails": ["pii"]}
