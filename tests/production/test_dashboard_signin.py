"""The dashboard URL that `compound up` prints opens the dashboard signed in: the session key
rides in the URL fragment, the page's script keeps it in session storage and removes it from
the address bar. A real `compound up` subprocess, headless Chromium (Debian's) via Playwright."""

from __future__ import annotations

import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SPEC = """\
name: signin
loop: interaction
task: Answer.
models:
  llm: {provider: scripted, options: {replies: ["Paris."]}}
workflows:
  answer:
    steps:
      - {name: draft, uses: llm}
"""


def printed_dashboard_url(process: subprocess.Popen[str], deadline_s: float = 120) -> str:
    """The 'dashboard (opens signed in): URL' line of `compound up`'s stderr."""
    assert process.stderr is not None
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stderr],  # type: ignore[union-attr]
                     daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            if process.poll() is not None:
                break
            continue
        seen.append(line)
        found = re.search(r"dashboard \(opens signed in\): (\S+)", line)
        if found:
            return found.group(1)
    raise AssertionError("compound up printed no dashboard URL:\n" + "".join(seen))


def test_the_printed_dashboard_url_opens_it_signed_in(tmp_path: Path) -> None:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the dashboard test needs: pip install playwright "
        "(the dev extra) and Debian's chromium (apt-get install chromium)")
    if not Path(CHROMIUM).exists():
        pytest.skip("the dashboard test needs Debian's chromium: apt-get install chromium")
    (tmp_path / "compound.yaml").write_text(SPEC)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "COMPOUND_HOME": str(tmp_path / "home"), "NO_COLOR": "1",
           "COLUMNS": "200"}
    process = subprocess.Popen(
        [sys.executable, "-m", "compound", "up", str(tmp_path), "--port", str(port),
         "--serve-seconds", "90"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env)
    try:
        url = printed_dashboard_url(process)
        assert url.startswith(f"http://127.0.0.1:{port}/dashboard#key=ck_"), url
        key = url.split("#key=", 1)[1]
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                 args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                for _ in range(60):  # the server may still be starting
                    try:
                        page.goto(url)
                        break
                    except sync_api.Error:
                        time.sleep(0.5)
                page.wait_for_selector("body[data-loaded=true]", timeout=20_000)
                assert page.locator("#key-form").is_hidden()  # never asked for a key
                assert page.locator("#banner").is_hidden()
                assert page.locator("#system-name").inner_text() == "signin"
                assert "key=" not in page.url and key not in page.url  # gone from the bar
                assert page.url == f"http://127.0.0.1:{port}/dashboard"
                assert page.evaluate("sessionStorage.getItem('compound-key')") == key
                page.reload()  # a reload of the clean address stays signed in
                page.wait_for_selector("body[data-loaded=true]", timeout=20_000)
                assert page.locator("#key-form").is_hidden()
                other = browser.new_page()  # without the fragment, it asks for a key
                other.goto(f"http://127.0.0.1:{port}/dashboard")
                other.wait_for_selector("#key-form:not([hidden])", timeout=20_000)
                assert "compound keys create NAME --scope read" in other.locator(
                    "#banner").inner_text()
                assert not errors, errors
            finally:
                browser.close()
    finally:
        process.terminate()
        process.wait(timeout=30)
