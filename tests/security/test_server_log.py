"""uvicorn's own log lines are redacted and show control characters visibly (issue 14).

A real ``compound serve module:app`` on 127.0.0.1, in a subprocess: a route that fails with
an exception quoting the request makes uvicorn log "Exception in ASGI application" with a
traceback. Its captured stderr must hold that line, but neither the API key nor the email
from the request, nor a raw ESC byte.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("fastapi")

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-proj-Q7w3E9r1T5y8U2i6O4p0A3s7D1f5G9h2"
EMAIL = "jane.roe@example.org"

APP = textwrap.dedent('''
    from dataclasses import dataclass

    from fastapi import Request

    from compound.production.serving import create_app
    from compound.production.serving_spec import ServeSpec
    from compound.store import MemoryStore
    from compound.workflow import Workflow


    @dataclass(frozen=True)
    class Query:
        text: str


    def echo(text: str) -> str:
        return text


    app = create_app({"echo": Workflow([echo], name="echo", input=Query)}, store=MemoryStore(),
                     spec=ServeSpec(auth=False, rate_limit=None), name="log-probe")


    @app.get("/boom")
    async def boom(request: Request) -> None:
        raise RuntimeError("cannot serve " + request.query_params.get("q", ""))
''')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_uvicorn_tracebacks_carry_neither_secrets_nor_raw_escapes(tmp_path: Path) -> None:
    (tmp_path / "log_probe.py").write_text(APP)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT / "src")]),
           "COMPOUND_HOME": str(tmp_path / "home")}
    log = tmp_path / "stderr.log"
    with open(log, "wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "compound", "serve", "log_probe:app", "--port", str(port),
             "--no-auth", "--home", str(tmp_path / "home")],
            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=err)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()[-2000:]
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code < 500:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        probe = f"key {KEY} mail {EMAIL} \x1b[2J\x1b]0;owned\x07"
        response = httpx.get(f"{base}/boom", params={"q": probe}, timeout=10)
        assert response.status_code == 500
        time.sleep(0.5)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
    text = log.read_bytes().decode("utf-8", errors="replace")
    assert "Exception in ASGI application" in text, text[-2000:]
    assert "cannot serve" in text  # the traceback's message is there, redacted
    assert KEY not in text and KEY[8:20] not in text
    assert EMAIL not in text
    assert "\x1b" not in text and "\x07" not in text
