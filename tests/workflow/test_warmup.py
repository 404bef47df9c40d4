"""Warm-up: every model, index and rail a workflow uses is loaded and answers once before the
first request; `compound serve` is ready only after it."""

from __future__ import annotations

import threading
import time
from typing import Any

from compound.intelligence.llm import ScriptedLLM
from compound.workflow import Workflow
from compound.workflow.adapters import LLMStep
from compound.workflow.step import Step
from compound.workflow.warmup import warm_up


class SlowIndex:
    """A retriever-shaped component: ``index`` and ``load()``, slow to load."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.index = object()
        self.seconds = seconds
        self.loaded = threading.Event()
        self.queries: list[str] = []

    def load(self) -> None:
        time.sleep(self.seconds)
        self.loaded.set()

    def run(self, query: str) -> list[str]:
        assert self.loaded.is_set(), "searched before it was loaded"
        self.queries.append(query)
        return [f"hit for {query}"]


class FakeGuard:
    def __init__(self) -> None:
        self.loaded = False

    def load(self) -> None:
        self.loaded = True


class FakeRailStep:
    def __init__(self) -> None:
        self.guard = FakeGuard()
        self.checked: list[str] = []

    def run(self, text: str) -> str:
        self.checked.append(text)
        return "allow"


class Broken:
    def load(self) -> None:
        raise OSError("weights not found")

    def run(self, text: str) -> str:
        return text


def test_every_component_is_loaded_and_answers_once() -> None:
    index, rail = SlowIndex(), FakeRailStep()
    llm = ScriptedLLM(["the real answer"])
    flow = Workflow([Step(rail, name="screen", inputs={"text": "input.text"}),
                     Step(index, name="search", inputs={"query": "input.text"}),
                     Step(LLMStep(llm), name="draft", inputs={"prompt": "input.text"})],
                    name="flow")
    warmed = {w.step: w for w in warm_up(flow)}
    assert warmed["screen"].what == "rails loaded and checked" and rail.guard.loaded
    assert warmed["search"].what == "index opened and searched" and len(index.queries) == 1
    assert warmed["draft"].what == "model loaded"
    assert llm.calls == []  # a scripted model's replies are left for real requests
    assert all(w.problem is None for w in warmed.values())


def test_a_component_that_fails_to_load_is_reported_not_raised() -> None:
    [warmed] = warm_up(Workflow([Step(Broken(), name="model", inputs={"text": "input.text"})],
                                name="flow"))
    assert warmed.what == "not warmed" and warmed.problem == "OSError: weights not found"


def test_serve_is_ready_only_after_the_workflows_are_warm() -> None:
    from fastapi.testclient import TestClient

    from compound.production.serving import create_app
    from compound.production.serving_spec import ServeSpec
    from compound.store import MemoryStore

    index = SlowIndex(seconds=1.0)
    flow = Workflow([Step(index, name="search", inputs={"query": "input.query"})],
                    name="search")
    app = create_app({"search": flow}, store=MemoryStore(), spec=ServeSpec(auth=False))
    seen: list[Any] = []
    with TestClient(app) as client:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready = client.get("/readyz")
            seen.append(ready.json()["waiting_for"])
            if ready.status_code == 200:
                break
            time.sleep(0.05)
        assert ready.status_code == 200, seen[-1]
        assert index.loaded.is_set()
        assert any("workflow 'search' warming up" in w for w in seen)
        answer = client.post("/v1/workflows/search", json={"query": "card"})
        assert answer.status_code == 200 and answer.json()["output"] == ["hit for card"]


def test_a_workflow_eval_runs_one_row_at_a_time_with_an_embedded_model() -> None:
    from compound.evaluation.workflow_target import WorkflowTarget

    class Embedded(ScriptedLLM):
        provider = "embedded"  # type: ignore[assignment]

    def target(llm: ScriptedLLM) -> WorkflowTarget:
        flow = Workflow([Step(LLMStep(llm), name="draft", inputs={"prompt": "input.text"})],
                        name="flow")
        return WorkflowTarget(flow, name="flow", fingerprint="f")

    # rows in parallel would queue on the one model and count the wait as latency
    assert target(Embedded(["a"])).max_concurrency == 1
    assert target(ScriptedLLM(["a"])).max_concurrency is None
