"""Apps the serving tests run, in-process and under `compound serve` in a real subprocess, and
a helper that starts and stops such a subprocess on 127.0.0.1."""

from __future__ import annotations

import asyncio
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

from compound.intelligence.llm import ScriptedLLM
from compound.intelligence.ml import Prediction, ScriptedPredictor
from compound.production.serving import create_app
from compound.production.serving.app import served_llm
from compound.production.serving_spec import ServeSpec
from compound.store import SQLiteStore, Store
from compound.strategy.review import ReviewHandler, ReviewQueue
from compound.workflow import Step, Workflow
from compound.workflow.adapters import LLMStep
from compound.workflow.context import RunContext

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
ANSWER = "Paris is the capital and the largest city of France, on the Seine."


@dataclass(frozen=True)
class Query:
    text: str


@dataclass(frozen=True)
class Transaction:
    amount: float
    country: str


def label_of(example: Any) -> str:
    return "card_arrival" if "card" in str(example) else "other"


@dataclass(frozen=True)
class Triaged:
    """What ``triage`` decided: the model's label, or the review item it went to instead."""

    label: str | None
    review: str | None = None


def triage(intent: Prediction, text: str, ctx: RunContext) -> Triaged:
    """A step after a predictor step: predictions below 0.7 confidence go to human review
    (the default queue, in the run's store)."""
    if (intent.probability or 0.0) < 0.7:
        assert ctx.store is not None
        answer = ReviewHandler(ReviewQueue(ctx.store)).escalate(
            text, proposal=None, reason="below_threshold", ctx=ctx)
        return Triaged(label=None, review=answer.review_id)
    return Triaged(label=str(intent.label))


def classify_flow(predictor: ScriptedPredictor | None = None) -> Workflow:
    predictor = predictor or ScriptedPredictor(label_of, name="intent")
    return Workflow([Step(predictor, name="intent", inputs={"example": "input.text"})],
                    name="classify", input=Query, description="intent of a banking question")


def score(amount: float, country: str) -> dict[str, Any]:
    return {"risk": min(1.0, amount / 1000), "country": country}


async def slow(text: str) -> str:
    await asyncio.sleep(5)
    return text


def broken(text: str) -> str:
    raise ValueError(f"cannot handle {text!r}")


def make_app(store: Store, *, spec: ServeSpec | None = None, token_delay_s: float = 0.0,
             replies: list[str] | None = None, **extra: Any) -> Any:
    """Workflows: classify (ML, one step), answer (LLM, streams tokens), score (numbers, for
    drift), slow (sleeps 5 s, for timeouts), broken (a failing step)."""
    spec = spec or ServeSpec()
    llm = served_llm("llm", ScriptedLLM(replies or [ANSWER], token_delay_s=token_delay_s), spec)
    flows = [
        classify_flow(),
        Workflow([Step(LLMStep(llm, template="Answer briefly: {text}"), name="answer")],
                 name="answer", input=Query),
        Workflow([score], name="score", input=Transaction),
        Workflow([slow], name="slow", input=Query),
        Workflow([broken], name="broken", input=Query),
    ]
    return create_app({f.name: f for f in flows}, store=store, spec=spec, llms={"llm": llm},
                      name="serving-tests", **extra)


def subprocess_app() -> Any:
    """The app `compound serve serving_apps:subprocess_app` serves; settings from the env."""
    home = Path(os.environ["COMPOUND_HOME"])
    spec = ServeSpec(rate_limit=None, flush_every_s=0.5, llm_queue={"concurrency": 1},
                     drift={"reference_size": 40, "min_samples": 20, "embedder": "fake",
                            "check_every_s": 3600, "max_per_s": 1000},
                     online_evals={"short_answer": {"metric": "serving_apps:short_answer"}})
    return make_app(SQLiteStore(home / "compound.db"), spec=spec,
                    token_delay_s=float(os.environ.get("SERVE_TOKEN_DELAY", "0")),
                    replies=[" ".join(["word"] * 200)] if os.environ.get("SERVE_LONG") else None)


def short_answer(prediction: str) -> float:
    """An online evaluator for the tests: 1 for answers under 100 characters."""
    return 1.0 if len(prediction) < 100 else 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """`compound serve serving_apps:subprocess_app` on 127.0.0.1 in its own process."""

    def __init__(self, home: Path, **env: str) -> None:
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "COMPOUND_HOME": str(home),
                    "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT / "src")]), **env}
        self.process: subprocess.Popen[bytes] | None = None
        self.log = home / "server.log"

    def start(self, timeout_s: float = 60.0) -> ServerProcess:
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "compound", "serve", "serving_apps:subprocess_app",
                 "--port", str(self.port), "--home", str(self.home)],
                env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server not ready in {timeout_s}s: {self.log.read_text()[-2000:]}")

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def shared_store_app() -> Any:
    """The app each `compound serve --on ray` replica builds in the replica tests: the store
    of $COMPOUND_STORE_URL (PostgreSQL), no rate limit (the tests flood it)."""
    from compound.store import open_store

    return make_app(open_store(), spec=ServeSpec(rate_limit=None, flush_every_s=1.0))
