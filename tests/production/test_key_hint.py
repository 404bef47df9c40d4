"""The 401 answer names a `compound keys create` command that works as written: run as printed
(with a name for the key), it makes a key this very server accepts."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient

from compound.production.serving import app_from_system
from compound.system import System

SPEC = """\
name: hinted
loop: interaction
task: Answer.
models:
  llm: {provider: scripted, options: {replies: ["Paris."]}}
workflows:
  answer:
    steps:
      - {name: draft, uses: llm}
"""


def test_the_printed_key_command_makes_a_key_the_server_accepts(tmp_path: Path) -> None:
    (tmp_path / "compound.yaml").write_text(SPEC)
    system = System.load(tmp_path)
    with TestClient(app_from_system(system)) as client:
        refused = client.get("/v1/runs")
        assert refused.status_code == 401
        message = refused.json()["error"]["message"]
        command = re.search(r"'(compound keys create [^']+)'", message)
        assert command, message
        args = shlex.split(command.group(1).replace("NAME", "dashboard"))
        env = {k: v for k, v in os.environ.items() if k != "COMPOUND_HOME"}  # another shell
        made = subprocess.run([sys.executable, "-m", "compound", *args[1:]], env=env,
                              capture_output=True, text=True, timeout=120)
        assert made.returncode == 0, made.stderr
        secret = made.stdout.strip().splitlines()[-1]
        assert secret.startswith("ck_")
        allowed = client.get("/v1/runs", headers={"Authorization": f"Bearer {secret}"})
        assert allowed.status_code == 200, allowed.text
        wrong = client.get("/v1/runs", headers={"Authorization": "Bearer ck_nope_nope"})
        assert "compound keys create NAME --scope read" in wrong.json()["error"]["message"]


def test_compound_serve_hints_a_command_that_makes_a_key_in_its_store(tmp_path: Path) -> None:
    import queue
    import socket
    import threading

    (tmp_path / "compound.yaml").write_text(SPEC)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "compound", "serve", str(tmp_path),
                               "--port", str(port)], stderr=subprocess.PIPE, text=True,
                              cwd=tmp_path.parent)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in server.stderr or ()],
                     daemon=True).start()
    try:
        hint = ""
        while "keys create" not in hint:
            hint = lines.get(timeout=120)
    finally:
        server.terminate()
        server.wait(timeout=30)
    command = hint[hint.index("compound keys create"):].strip()
    args = shlex.split(command.replace("NAME", "web-app"))
    env = {k: v for k, v in os.environ.items() if k != "COMPOUND_HOME"}
    made = subprocess.run([sys.executable, "-m", "compound", *args[1:]], env=env, cwd="/",
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    from compound.production.serving.keys import ApiKeys
    from compound.store import open_store

    with open_store(System.load(tmp_path)) as store:  # the store the server used
        assert [k.name for k in ApiKeys(store).list()] == ["web-app"]
