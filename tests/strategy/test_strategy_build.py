"""Strategy components built from compound.yaml work end to end."""

from __future__ import annotations

from typing import Any

import pytest

from compound.store import MemoryStore
from compound.strategy.build import StrategyBuilder
from compound.system import System


def system(tmp_path: Any) -> System:
    (tmp_path / "compound.yaml").write_text("""
name: support
loop: interaction
task: Answer support requests.
models:
  primary: {kind: llm, provider: scripted, options: {replies: [], cycle: false}}
  backup: {kind: llm, provider: scripted, options: {replies: [backup answer]}}
  judge: {kind: llm, provider: scripted, options: {replies: ['{"best": 0}']}}
strategy:
  routers:
    front:
      kind: rules
      rules:
        - {when: "'refund' in input", use: review}
        - {when: "length > 60", use: answer}
      default: inner
    inner: {kind: rules, rules: [{when: "length > 1000", use: review}], default: answer}
  fallbacks:
    answer: {options: [primary, {model: backup, retries: 1}], backoff: {base_s: 0}}
  ensembles:
    pick: {members: [backup, backup], combine: best_of_n, judge: judge}
  budgets:
    periods: [{period: day, max_tokens: 100000}]
""")
    return System.load(tmp_path)


def test_rules_route_to_review_chains_and_other_routers(tmp_path: Any) -> None:
    store = MemoryStore()
    builder = StrategyBuilder(system(tmp_path), store=store)
    front = builder.router("front")
    refund = front.run("I want a refund")
    assert refund.answer.status == "review" and builder.review_queue().entries()
    answered = front.run("where is my card")
    assert answered.decision.route == "inner"
    assert answered.answer.value == "backup answer"
    assert answered.answer.source == "answer:backup"
    assert builder.budgets()[0].spent(store)[0] > 0


def test_best_of_n_from_the_spec(tmp_path: Any) -> None:
    builder = StrategyBuilder(system(tmp_path), store=MemoryStore())
    assert builder.ensemble("pick").run("q").value == "backup answer"


def test_the_spec_cache_persists_in_the_store(tmp_path: Any) -> None:
    store = MemoryStore()
    builder = StrategyBuilder(system(tmp_path), store=store)
    cache = builder.cache()
    llm = builder.llm("backup")
    cache.complete(llm, "q")
    assert cache.complete(llm, "q").hit == "exact"
    assert any(True for _ in store.items("cache"))


@pytest.mark.dataset
@pytest.mark.integration
def test_confidence_routing_on_banking77(shared_dataset: Any) -> None:
    """The real path on real data: train (TF-IDF only, to stay fast), calibrate on valid,
    route the test split; the covered share is far more accurate than the whole."""
    pytest.importorskip("sklearn")
    import json

    import numpy as np

    from compound.intelligence.ml.predictor import Predictor
    from compound.intelligence.ml.training import train
    from compound.strategy.answers import PredictorHandler
    from compound.strategy.calibration import calibrate_threshold
    from compound.strategy.review import ReviewHandler, ReviewQueue
    from compound.strategy.routing import ConfidenceRouter

    paths = {s: shared_dataset(f"banking77/{s}.jsonl") for s in ("train", "valid", "test")}
    spec = System.from_yaml(f"""
name: b77
loop: prediction
task: Intents.
models:
  intent: {{kind: predictor, task: text_classification, dataset: {paths['train']},
            test_dataset: {paths['test']}, target: label, features: [text]}}
""")
    predictor = Predictor(name="intent", model=train(spec, "intent", register=False).model)
    rows = {s: [json.loads(line) for line in p.read_text().splitlines()] for s, p in
            paths.items() if s != "train"}
    valid = predictor.predict_batch([r["text"] for r in rows["valid"]])
    found = calibrate_threshold([p.probability for p in valid],
                                [p.label == r["label"] for p, r in zip(valid, rows["valid"],
                                                                       strict=True)],
                                covered_accuracy=0.97)
    assert found.chosen is not None
    queue = ReviewQueue(MemoryStore())
    router = ConfidenceRouter(model=PredictorHandler("intent", predictor),
                              fallback=ReviewHandler(queue), threshold=found.chosen.threshold)
    routed = router.run_batch([r["text"] for r in rows["test"]])
    covered = [(x.answer.value == r["label"]) for x, r in zip(routed, rows["test"], strict=True)
               if x.decision.route == "intent"]
    everything = [p.label == r["label"] for p, r in
                  zip(predictor.predict_batch([r["text"] for r in rows["test"]]), rows["test"],
                      strict=True)]
    assert len(queue.entries()) == len(routed) - len(covered)
    assert 0.5 < len(covered) / len(routed) < 1.0
    assert np.mean(covered) > np.mean(everything) + 0.03
