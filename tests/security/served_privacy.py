"""A served app for the privacy tests, run by uvicorn on 127.0.0.1 in a background thread,
and a stand-in upstream LLM server whose 500 body echoes an API key."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from privacy_payloads import API_KEY, PASSWORD

from compound.intelligence.llm import ScriptedLLM
from compound.production.serving import create_app
from compound.production.serving_spec import ServeSpec
from compound.store import open_store
from compound.strategy.review import ReviewQueue
from compound.workflow import Step, Workflow
from compound.workflow.context import RunContext


@dataclass(frozen=True)
class Question:
    question: str


class EchoingUpstream:
    """An OpenAI-compatible server that fails every call with a 500 quoting the caller's key,
    as a misbehaving upstream does."""

    def __init__(self) -> None:
        body = json.dumps({"error": {"message": f"internal error for key {API_KEY}",
                                     "type": "server_error"}}).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(500)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def make_app(db: Path, upstream_url: str) -> Any:
    """Workflows: ``ask`` (a model call, a review submission and a second step: checkpointed),
    ``echo`` (one step: recorded in batches), ``db`` (a step whose exception quotes a
    password) and ``upstream`` (a model behind an upstream that answers 500 with a key)."""
    from compound.intelligence.llm.openai_compat import OpenAICompatibleLLM
    from compound.workflow.adapters import LLMStep

    llm = ScriptedLLM(["Thanks, we will look into it for you."])

    def intake(question: str, ctx: RunContext) -> dict[str, Any]:
        draft = ctx.complete(llm, f"Answer the customer: {question}").text
        assert ctx.store is not None
        ReviewQueue(ctx.store).submit(question, proposed=draft, confidence=0.3,
                                      reason="below_threshold", run_id=ctx.run_id)
        return {"question": question, "draft": draft}

    def reply(intake: dict[str, Any]) -> str:
        return f"{intake['draft']} (about: {intake['question']})"

    def echo(question: str) -> str:
        return f"you said: {question}"

    def connect(question: str) -> str:
        raise RuntimeError(f"password={PASSWORD} for db")

    remote = OpenAICompatibleLLM(model="remote", base_url=upstream_url, timeout_s=10)
    flows = [
        Workflow([Step(intake, name="intake", inputs={"question": "input.question"}),
                  Step(reply, name="reply", inputs={"intake": "intake"})],
                 name="ask", input=Question),
        Workflow([echo], name="echo", input=Question),
        Workflow([connect], name="db", input=Question),
        Workflow([Step(LLMStep(remote, template="{question}"), name="upstream")],
                 name="upstream", input=Question),
    ]
    spec = ServeSpec(flush_every_s=0.2, rate_limit=None,
                     drift={"embedder": "fake", "check_every_s": 3600, "max_per_s": 1000})
    return create_app({f.name: f for f in flows}, store=open_store(path=db), spec=spec,
                      name="privacy-tests")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """``app`` served by uvicorn on 127.0.0.1 in a thread; yields its base URL."""
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error",
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, name="privacy-server", daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started:
        if time.time() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start within 30 s")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
