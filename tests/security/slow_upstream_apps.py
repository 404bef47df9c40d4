"""The app `compound serve slow_upstream_apps:app` runs for the slow-upstream tests: one
workflow on a remote model at ``$SLOW_UPSTREAM_URL`` (timeout_s 5, four places and four
waiting), and a healthy one on a scripted model; plus a helper that runs it in a subprocess."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


@dataclass(frozen=True)
class Query:
    text: str


def app() -> Any:
    from compound.intelligence.llm import ScriptedLLM
    from compound.intelligence.llm.openai_compat import OpenAICompatibleLLM
    from compound.production.serving import create_app
    from compound.production.serving.app import served_llm
    from compound.production.serving_spec import ServeSpec
    from compound.store import SQLiteStore
    from compound.workflow import Step, Workflow
    from compound.workflow.adapters import LLMStep

    home = Path(os.environ["COMPOUND_HOME"])
    spec = ServeSpec(auth=False, rate_limit=None, timeout_s=30,
                     llm_queue={"concurrency": 4, "max_waiting": 4, "wait_timeout_s": 30})
    slow = served_llm("slow", OpenAICompatibleLLM(
        model="backend", base_url=os.environ["SLOW_UPSTREAM_URL"], timeout_s=5), spec)
    fast = served_llm("llm", ScriptedLLM(["Paris."]), spec)
    flows = [
        Workflow([Step(LLMStep(slow, template="Answer: {text}"), name="ask")], name="ask_slow",
                 input=Query),
        Workflow([Step(LLMStep(fast, template="Answer: {text}"), name="answer")],
                 name="answer", input=Query),
    ]
    return create_app({f.name: f for f in flows}, store=SQLiteStore(home / "compound.db"),
                      spec=spec, llms={"slow": slow, "llm": fast}, name="slow-upstream")


class Served:
    """`compound serve slow_upstream_apps:app` on 127.0.0.1 in its own process."""

    def __init__(self, home: Path, upstream_url: str) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.home = home
        self.log = home / "server.log"
        self.env = {**os.environ, "COMPOUND_HOME": str(home), "SLOW_UPSTREAM_URL": upstream_url,
                    "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT / "src")])}
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Served:
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "compound", "serve", "slow_upstream_apps:app",
                 "--port", str(self.port), "--home", str(self.home)],
                env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 90
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.__exit__()
        raise RuntimeError(f"server not ready in 90 s: {self.log.read_text()[-2000:]}")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
