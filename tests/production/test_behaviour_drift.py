"""Model-behaviour drift: what the models do (confidence, review and refusal rates, answer
length, online scores) compared with the reference window, and the alert when a worse model
version is promoted under traffic."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from serving_apps import Query

from compound.intelligence.ml import Prediction, ScriptedPredictor, train
from compound.intelligence.promotion import spec_gate
from compound.intelligence.registry import ModelRegistry, PromotionDecision
from compound.production.monitoring.behaviour import (
    MAX_OPEN_RUNS,
    BehaviourLog,
    BehaviourMonitor,
)
from compound.production.monitoring.drift_monitor import recent_alerts
from compound.production.serving import app_from_system, create_app
from compound.production.serving_spec import DriftSpec, ServeSpec
from compound.store import MemoryStore, SQLiteStore, Store, open_store
from compound.strategy.review import ReviewHandler, ReviewQueue
from compound.system import System
from compound.workflow import Step, Workflow
from compound.workflow.context import RunContext
from compound.workflow.kinds import predictor


def spans_of_a_run(run_id: str, *, confidence: float, version: int = 1, tokens: int = 40,
                   reviewed: bool = False, rail: str = "allow") -> list[dict[str, Any]]:
    """The spans a served run ends, as the serving tracer hands them to the monitor."""
    spans = [
        {"kind": "step", "name": "intent", "attributes": {
            "compound.output": Prediction("card", confidence, model="intent", version=version)}},
        {"kind": "model", "name": "chat", "attributes": {
            "gen_ai.request.model": "writer", "gen_ai.usage.output_tokens": tokens}},
        {"kind": "rail", "name": "toxicity", "attributes": {
            "compound.rail.name": "toxicity", "compound.rail.action": rail}},
        {"kind": "step", "name": "reply", "attributes": {"compound.output": "a reply"}},
    ]
    if reviewed:
        spans.append({"kind": "strategy", "name": "review",
                      "attributes": {"compound.review.id": 7}})
    return [{**span, "trace_id": run_id, "status": "ok"} for span in spans]


def log_runs(log: BehaviourLog, first: int, count: int, rng: np.random.Generator, *,
             low: float = 0.6, high: float = 0.95, tokens: float = 40.0, version: int = 1,
             refuse: float = 0.0) -> None:
    for i in range(first, first + count):
        confidence = float(rng.uniform(low, high))
        blocked = rng.random() < refuse
        for span in spans_of_a_run(f"r{i}", confidence=confidence, version=version,
                                   tokens=int(rng.normal(tokens, 5)),
                                   reviewed=confidence < 0.7,
                                   rail="block" if blocked else "allow"):
            log.on_span(span)
        log.on_run_end("ask", f"r{i}")


def spec(**behaviour: float) -> DriftSpec:
    return DriftSpec(reference_size=200, min_samples=50, max_per_s=10_000, embedder="fake",
                     behaviour=behaviour)


# -- the log -------------------------------------------------------------------------------

def test_a_runs_spans_become_one_row_of_behaviour_signals() -> None:
    store = MemoryStore()
    log = BehaviourLog(store, per_flush=100)
    for span in spans_of_a_run("r1", confidence=0.62, version=3, tokens=55, reviewed=True,
                               rail="block"):
        log.on_span(span)
    for span in spans_of_a_run("r2", confidence=0.9, tokens=20):
        log.on_span(span)
    log.on_run_end("ask", "r1")
    log.on_run_end("ask", "r2", keep=False)  # not sampled (e.g. a chat run): forgotten
    log.add_score("ask", "r1", "groundedness", 0.75)
    assert log.flush() == 2
    rows = [r.data for r in store.read("behaviour:ask")]
    assert rows[0] == {"run_id": "r1", "observed": {
        "review_rate": True, "confidence:intent": 0.62, "version:intent": 3,
        "answer_tokens:writer": 55, "refusal_rate:toxicity": True}}
    assert rows[1]["observed"] == {"score:groundedness": 0.75}


def test_spans_of_runs_that_never_end_are_bounded() -> None:
    log = BehaviourLog(MemoryStore())
    for i in range(MAX_OPEN_RUNS + 50):
        log.on_span(spans_of_a_run(f"r{i}", confidence=0.9)[0])
    assert len(log._open) == MAX_OPEN_RUNS


# -- the statistics ------------------------------------------------------------------------

def test_an_unchanged_system_stays_quiet() -> None:
    store = MemoryStore()
    log = BehaviourLog(store, per_flush=10_000)
    rng = np.random.default_rng(11)
    log_runs(log, 0, 200, rng, refuse=0.05)
    log_runs(log, 200, 200, rng, refuse=0.05)
    log.flush()
    report = BehaviourMonitor(store, spec()).check("ask")
    assert report.status == "ok", report.message
    assert {(s.signal, s.model) for s in report.signals} == {
        ("confidence", "intent"), ("answer_tokens", "writer"), ("review_rate", None),
        ("refusal_rate", "toxicity")}
    assert recent_alerts(store) == []


def test_false_alarms_are_rare_on_resamples_of_one_distribution() -> None:
    alarms = 0
    for seed in range(40):
        store = MemoryStore()
        log = BehaviourLog(store, per_flush=10_000)
        rng = np.random.default_rng(seed)
        log_runs(log, 0, 200, rng, refuse=0.05)
        log_runs(log, 200, 100, rng, refuse=0.05)
        log.flush()
        alarms += BehaviourMonitor(store, spec()).check("ask").status == "drift"
    assert alarms <= 2  # four signals at p < 0.01 and an effect floor: about 1 in 100 expected


def test_each_signal_that_moves_is_named_with_its_model_and_versions() -> None:
    store = MemoryStore()
    log = BehaviourLog(store, per_flush=10_000)
    rng = np.random.default_rng(5)
    log_runs(log, 0, 200, rng)
    log_runs(log, 200, 150, rng, low=0.4, high=0.8, tokens=80, version=2, refuse=0.3)
    log.flush()
    report = BehaviourMonitor(store, spec()).check("ask")
    found = {(s.signal, s.model): s for s in report.signals}
    assert report.status == "drift" and all(s.drifted for s in found.values())
    confidence = found["confidence", "intent"]
    assert confidence.versions == {"reference": [1], "current": [2]}
    assert confidence.current_mean < confidence.reference_mean - 0.1
    assert found["answer_tokens", "writer"].change == pytest.approx(1.0, abs=0.1)  # doubled
    assert "review rate rose from 32% to 78%" in found["review_rate", None].describe()
    assert "refusal rate of rail toxicity rose from 0% to" in report.message
    alerts = recent_alerts(store)
    assert {(a["signal"], a["model"]) for a in alerts} == set(found)
    assert any("mean confidence of model intent (v1 -> v2) fell" in a["message"]
               for a in alerts)
    BehaviourMonitor(store, spec()).check("ask")  # still drifting: no second alert
    assert len(recent_alerts(store)) == len(alerts)


def test_a_significant_change_below_the_floor_does_not_alert() -> None:
    store = MemoryStore()
    log = BehaviourLog(store, per_flush=100_000)
    rng = np.random.default_rng(2)
    log_runs(log, 0, 3000, rng, low=0.80, high=0.90)
    log_runs(log, 3000, 3000, rng, low=0.78, high=0.88)  # 0.02 lower: significant at 3000
    log.flush()

    def confidence(**behaviour: float) -> Any:
        settings = DriftSpec(reference_size=3000, min_samples=50, max_samples=5000,
                             behaviour=behaviour)
        return next(s for s in BehaviourMonitor(store, settings).check("ask").signals
                    if s.signal == "confidence")

    default = confidence()
    assert default.p_value < 1e-6 and not default.drifted
    assert confidence(confidence_change=0.01).drifted


# -- served: a worse version promoted under traffic ----------------------------------------

class Registry:
    """The versions of model 'intent' and which one is in production, as the server sees
    them: :meth:`promote` makes every later prediction come from another version."""

    def __init__(self, *versions: ScriptedPredictor) -> None:
        self.versions = {model.version: model for model in versions}
        self.production = min(self.versions)

    def promote(self, version: int) -> None:
        self.production = version

    def predict_batch(self, examples: list[Any]) -> list[Prediction]:
        return self.versions[self.production].predict_batch(examples)

    def run(self, example: Any) -> Prediction:
        return self.predict_batch([example])[0]


def served(store: Store, registry: Registry) -> Any:
    """``classify``: the model's prediction, sent to human review below 0.7 confidence."""
    handler = ReviewHandler(ReviewQueue(store))

    def triage(intent: Prediction, text: str, ctx: RunContext) -> dict[str, Any]:
        if (intent.probability or 0.0) < 0.7:
            answer = handler.escalate(text, proposal=None, reason="below_threshold", ctx=ctx)
            return {"label": None, "review": answer.review_id}
        return {"label": intent.label}

    flow = Workflow([Step(registry, name="intent", inputs={"example": "input.text"}),
                     Step(triage, name="triage", inputs={"intent": "intent",
                                                        "text": "input.text"})],
                    name="classify", input=Query)
    spec = ServeSpec(auth=False, rate_limit=None, flush_every_s=0.2, checkpoints="never",
                     drift={"reference_size": 150, "min_samples": 50, "max_per_s": 10_000,
                            "check_every_s": 3600, "embedder": "fake"})
    return create_app({"classify": flow}, store=store, spec=spec, name="behaviour-tests")


def versions(seed: int) -> tuple[ScriptedPredictor, ScriptedPredictor]:
    rng = random.Random(seed)
    good = ScriptedPredictor(["card_arrival"], name="intent", version=1,
                             confidence=lambda _: rng.uniform(0.6, 0.97))
    worse = ScriptedPredictor(["card_arrival"], name="intent", version=2,
                              confidence=lambda _: rng.uniform(0.4, 0.85))
    return good, worse


def send(client: TestClient, count: int) -> None:
    for i in range(count):
        response = client.post("/v1/workflows/classify", json={"text": f"where is card {i}"})
        assert response.status_code == 200, response.text


SPEC = """\
name: behaviour-tests
loop: interaction
task: Say what a banking question is about.
workflows:
  classify:
    input: {text: str}
    steps:
      - {name: intent, uses: "serving_apps:label_of", inputs: {example: input.text}}
serve:
  drift: {reference_size: 150, min_samples: 50, embedder: fake}
"""


def compound_drift(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (home / "compound.yaml").write_text(SPEC)
    env = {**os.environ, "COLUMNS": "160", "NO_COLOR": "1",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path])}
    return subprocess.run([sys.executable, "-m", "compound", "drift",
                           str(home / "compound.yaml"), "--home", str(home), *args],
                          capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.integration
@pytest.mark.parametrize("promote", [True, False], ids=["worse-version", "unchanged"])
def test_promoting_a_worse_model_under_traffic_raises_the_behaviour_alert(
        tmp_path: Path, promote: bool) -> None:
    registry = Registry(*versions(seed=4))
    app = served(SQLiteStore(tmp_path / "compound.db"), registry)
    with TestClient(app) as client:
        send(client, 150)  # the reference window
        first = client.post("/v1/drift/check").json()["behaviour"][0]
        assert first["status"] == "insufficient_data"  # every run so far is reference
        if promote:
            registry.promote(2)
        send(client, 150)
        report = client.post("/v1/drift/check").json()["behaviour"][0]
        shown = client.get("/v1/drift").json()
        metrics = client.get("/metrics").text
    signals = {(s["signal"], s["model"]): s for s in report["signals"]}
    alerts = [a for a in shown["alerts"] if a["type"] == "behaviour"]
    assert shown["behaviour"][0]["status"] == report["status"]
    if not promote:
        assert report["status"] == "ok", report["message"]
        assert not alerts and not any(s["drifted"] for s in signals.values())
        assert 'compound_behaviour_drift_active{workflow="classify"} 0.0' in metrics
        return
    assert report["status"] == "drift"
    confidence = signals["confidence", "intent"]
    assert confidence["drifted"] and confidence["versions"] == {"reference": [1],
                                                                "current": [2]}
    assert signals["review_rate", None]["drifted"]
    assert {(a["signal"], a["model"]) for a in alerts} == {("confidence", "intent"),
                                                           ("review_rate", None)}
    assert any("mean confidence of model intent (v1 -> v2) fell" in a["message"]
               for a in alerts)
    assert 'compound_behaviour_drift_active{workflow="classify"} 2.0' in metrics
    # the same check from the command line, reading the store the server wrote
    table = compound_drift(tmp_path)
    assert table.returncode == 0, table.stderr
    print(table.stdout)
    assert "model behaviour" in table.stdout and "intent v2" in table.stdout
    assert "behaviour drift in classify: mean confidence of model intent (v1 -> v2)" in (
        " ".join(table.stdout.split()))
    as_json = json.loads(compound_drift(tmp_path, "--json").stdout)
    assert as_json["behaviour"][0]["status"] == "drift"


# -- served: a worse version trained and promoted in the registry under traffic ------------

INTENTS = {
    "card_lost": ["i lost my card", "my card was stolen", "card is missing",
                  "cannot find my card"],
    "top_up": ["how do i top up", "add money to my account", "top up failed", "topping up"],
    "transfer": ["send money abroad", "transfer to a friend", "wire transfer", "pay my rent"],
}
FILLER = ["please", "help", "today", "now", "urgent", "hi", "thanks", "quickly", "again"]

REGISTRY_SPEC = """\
name: real-promotion
loop: interaction
task: Say what a banking question is about.
store: {path: compound.db}
criteria:
  # a loose gate: a version this far behind production's accuracy still goes through
  intent_accuracy: {metric: accuracy, threshold: 0.5, tolerance: 0.5}
models:
  intent:
    kind: predictor
    task: text_classification
    learner: tfidf_linear
    dataset: intents.jsonl
    target: label
    features: [text]
workflows:
  classify:
    input: {text: str}
    steps:
      - {name: intent, uses: intent, inputs: {text: input.text}}
      - {name: triage, uses: "serving_apps:triage", inputs: {intent: intent, text: input.text}}
"""


def intent_rows(count: int, *, seed: int, mislabelled: float) -> list[dict[str, str]]:
    """Banking requests in three intents with filler words; a ``mislabelled`` share of the
    labels are drawn at random (a careless labelling round)."""
    rng = random.Random(seed)
    labels = sorted(INTENTS)
    rows = []
    for i in range(count):
        label = labels[i % len(labels)]
        words = rng.choice(INTENTS[label]).split() + rng.sample(FILLER, rng.randint(0, 2))
        rng.shuffle(words)
        if rng.random() < mislabelled:
            label = rng.choice(labels)
        rows.append({"text": " ".join(words), "label": label})
    return rows


def train_and_promote(system: System, rows: list[dict[str, str]]) -> PromotionDecision:
    """Write the training rows, train a version of 'intent' and promote it through the spec's
    gate, in a store of its own (as ``compound train`` and ``models promote`` would)."""
    (system.base_dir / "intents.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with open_store(system) as store:
        train(system, "intent", store=store)
        decision = ModelRegistry(store).promote("intent", **spec_gate(system, "intent"))
    assert decision.promoted, decision.message
    return decision


def wait_until_ready(client: TestClient, timeout_s: float = 30.0) -> None:
    """As a load balancer does: no traffic before the models are loaded (/readyz)."""
    deadline = time.monotonic() + timeout_s
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, client.get("/readyz").text
        time.sleep(0.05)


def ask(client: TestClient, texts: list[str]) -> None:
    for text in texts:
        response = client.post("/v1/workflows/classify", json={"text": text})
        assert response.status_code == 200, response.text


@pytest.mark.integration
@pytest.mark.parametrize("worse", [True, False], ids=["worse-version", "same-rows-again"])
def test_a_worse_version_promoted_in_the_registry_under_traffic_raises_the_behaviour_alert(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, worse: bool) -> None:
    pytest.importorskip("sklearn")
    monkeypatch.setattr(predictor, "REFRESH_S", 0.1)
    (tmp_path / "compound.yaml").write_text(REGISTRY_SPEC)
    system = System.load(tmp_path)
    clean = intent_rows(600, seed=1, mislabelled=0.15)
    train_and_promote(system, clean)
    traffic = [r["text"] for r in intent_rows(300, seed=99, mislabelled=0.0)]
    # checkpointed runs (the default for two steps): triage finds the store in the context
    spec = ServeSpec(auth=False, rate_limit=None, flush_every_s=0.2,
                     drift={"reference_size": 150, "min_samples": 50, "max_per_s": 10_000,
                            "check_every_s": 3600, "embedder": "fake"})
    with TestClient(app_from_system(system, spec=spec)) as client:
        wait_until_ready(client)
        ask(client, traffic[:150])  # the reference window, answered by v1
        first = client.post("/v1/drift/check").json()["behaviour"][0]
        assert first["status"] == "insufficient_data"
        # v2, promoted through the spec's gate: trained on rows with three times as many wrong
        # labels, or on the same rows again (an equally good version)
        rows = intent_rows(600, seed=2, mislabelled=0.45) if worse else clean
        assert train_and_promote(system, rows).replaced == 1
        time.sleep(0.2)  # past REFRESH_S: the next request reads the registry again
        ask(client, traffic[150:])
        report = client.post("/v1/drift/check").json()["behaviour"][0]
        shown = client.get("/v1/drift").json()
    signals = {(s["signal"], s["model"]): s for s in report["signals"]}
    alerts = [a for a in shown["alerts"] if a["type"] == "behaviour"]
    # the version the server answered with is the registry's
    assert signals["confidence", "intent"]["versions"] == {"reference": [1], "current": [2]}
    if not worse:
        assert report["status"] == "ok", report["message"]
        assert not alerts and not any(s["drifted"] for s in signals.values())
        return
    assert report["status"] == "drift", report["message"]
    assert signals["confidence", "intent"]["drifted"]
    assert signals["review_rate", None]["drifted"]
    assert {(a["signal"], a["model"]) for a in alerts} == {("confidence", "intent"),
                                                           ("review_rate", None)}
    assert any("mean confidence of model intent (v1 -> v2) fell" in a["message"]
               for a in alerts)
