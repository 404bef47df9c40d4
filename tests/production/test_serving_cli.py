"""`compound serve`, `compound keys` and `compound drift` as a user runs them."""

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

pytestmark = pytest.mark.integration

SPEC = """\
name: faq
loop: interaction
task: Answer questions about the bank.
models:
  llm:
    provider: scripted
    options:
      replies: ["Cards arrive within five working days."]
workflows:
  answer:
    input: {question: str}
    steps:
      - {name: reply, uses: llm, options: {template: "Answer: {question}"}}
serve:
  port: 1
  rate_limit: null
"""


def compound(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "compound", *args], capture_output=True,
                          text=True, env=env, timeout=120)


def test_keys_are_created_listed_and_revoked(tmp_path: Path) -> None:
    created = compound("keys", "create", "web-app", "--scope", "read", "--home", str(tmp_path))
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    assert secret.startswith("ck_") and "shown" not in created.stdout
    key_id = secret.split("_")[1]
    listed = compound("keys", "list", "--home", str(tmp_path))
    assert key_id in listed.stdout and "web-app" in listed.stdout and "active" in listed.stdout
    assert secret not in listed.stdout
    assert compound("keys", "revoke", key_id, "--home", str(tmp_path)).returncode == 0
    assert "revoked" in compound("keys", "list", "--home", str(tmp_path)).stdout
    unknown = compound("keys", "revoke", "nope", "--home", str(tmp_path))
    assert unknown.returncode == 2 and "compound keys list" in unknown.stderr
    bad_scope = compound("keys", "create", "x", "--scope", "root", "--home", str(tmp_path))
    assert bad_scope.returncode == 2 and "read, write, admin" in bad_scope.stderr


def test_serve_a_spec_then_check_drift(tmp_path: Path) -> None:
    spec = tmp_path / "compound.yaml"
    spec.write_text(SPEC)
    key = compound("keys", "create", "tests", "--scope", "admin", "--home",
                   str(tmp_path)).stdout.strip()
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "compound", "serve", str(spec), "--port",
                               str(port), "--home", str(tmp_path)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        headers = {"Authorization": f"Bearer {key}"}
        answer = httpx.post(f"{url}/v1/workflows/answer", json={"question": "card?"},
                            headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.json()["output"]["text"] == "Cards arrive within five working days."
        chat = httpx.post(f"{url}/v1/chat/completions", headers=headers, json={
            "model": "llm", "messages": [{"role": "user", "content": "card?"}]})
        assert chat.json()["choices"][0]["message"]["content"].startswith("Cards")
        page = httpx.get(f"{url}/dashboard")
        assert page.status_code == 200 and "<svg" not in page.text  # drawn by the script
        assert httpx.get(f"{url}/dashboard/static/dashboard.js").status_code == 200
        assert httpx.get(f"{url}/openapi.json").json()["info"]["title"] == "faq (compound)"
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=20)
    assert f"serving faq at http://127.0.0.1:{port}" in output
    drift = compound("drift", str(spec), "--home", str(tmp_path))
    assert drift.returncode == 0, drift.stderr
    assert "answer" in drift.stdout and "insufficient_data" in drift.stdout


@pytest.mark.parametrize("command", [
    ["serve", "{spec}", "--on", "local"],
    ["serve", "{spec}", "--on", "ray"],
    ["up", "{spec}"],  # before the build, which can take minutes
    ["serve-model"],  # before the model loads
])
def test_a_port_another_process_holds_is_refused_before_anything_starts(
        tmp_path: Path, command: list[str]) -> None:
    import socket

    spec = tmp_path / "compound.yaml"
    spec.write_text(SPEC)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        started = time.monotonic()
        done = compound(*[part.format(spec=spec) for part in command], "--port", str(port),
                        *(["--home", str(tmp_path)] if command[0] == "serve" else []))
    assert done.returncode == 2, done.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "choose another --port" in done.stderr and "Traceback" not in done.stderr
    assert "serving" not in done.stderr and "building" not in done.stderr
    assert "loading" not in done.stderr and "design review" not in done.stderr
    assert not done.stdout.strip()  # no build table, no scorecard
    assert time.monotonic() - started < 60  # refused before Ray, a model or uvicorn starts


def test_an_address_this_machine_does_not_have_is_refused_naming_the_host() -> None:
    from compound.errors import UserError
    from compound.production.serving.address import check_can_listen

    with pytest.raises(UserError, match=r"203\.0\.113\.77:8000 .*check --host"):
        check_can_listen("203.0.113.77", 8000)  # TEST-NET-3: never an address of this machine
    with pytest.raises(UserError, match="does not resolve"):
        check_can_listen("no-such-host.invalid", 8000)
    with pytest.raises(UserError, match="no control characters"):
        check_can_listen("127.0.0.1\x00.evil", 8000)  # the C library would stop at the NUL
    for port in (70000, -1):  # never wrapped round to some other port
        with pytest.raises(UserError, match=f"127.0.0.1:{port}: a port is 1 to 65535"):
            check_can_listen("127.0.0.1", port)
    check_can_listen("127.0.0.1", 0)  # any free port: allowed
