"""The support_desk example, trained, indexed and served by `compound serve` on 127.0.0.1 with
the embedded model: a question carrying a card number and an email leaves neither in the
store's files (database, -wal, -shm), read while the server still runs."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from privacy_payloads import CARD_SPACES, EMAIL, leaks

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "examples" / "support_desk"


def _compound(*args: str, env: dict[str, str], timeout: float = 600) -> str:
    out = subprocess.run([sys.executable, "-m", "compound", *args], capture_output=True,
                         text=True, env=env, timeout=timeout)
    assert out.returncode == 0, (args, out.stdout[-2000:], out.stderr[-2000:])
    return out.stdout


def test_a_served_question_leaves_no_card_number_or_email_in_the_store(tmp_path: Path) -> None:
    env = {**os.environ, "COMPOUND_HOME": str(tmp_path), "NO_COLOR": "1", "COLUMNS": "200"}
    _compound("train", str(SPEC), "intent", env=env)
    _compound("models", "promote", str(SPEC), "intent", env=env)
    _compound("ingest", str(SPEC), env=env)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "compound", "serve", str(SPEC), "--port", str(port),
         "--no-auth"], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 600
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            assert time.time() < deadline, "the server was not ready within 600 s"
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        question = (f"My card {CARD_SPACES} has not arrived yet, please write to {EMAIL}")
        response = httpx.post(f"{url}/v1/workflows/answer", json={"question": question},
                              timeout=300)
        assert response.status_code == 200, response.text
        run_id = response.json()["run_id"]
        time.sleep(3)  # the trace and the run record are written off the request path
        detail = httpx.get(f"{url}/v1/runs/{run_id}", timeout=30).json()
        assert detail["spans"] and "<EMAIL_ADDRESS>" in json.dumps(detail["record"])
        assert leaks(tmp_path / "compound.db", (CARD_SPACES, EMAIL)) == []
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()
