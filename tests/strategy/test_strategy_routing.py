"""Routers send each request where the spec says; thresholds meet their target."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from compound.errors import UserError
from compound.intelligence.llm import ScriptedLLM
from compound.intelligence.ml.types import Prediction
from compound.store import MemoryStore
from compound.strategy.answers import FunctionHandler, LLMHandler, PredictorHandler
from compound.strategy.calibration import calibrate_threshold, threshold_curve
from compound.strategy.plot import calibration_svg
from compound.strategy.review import ReviewHandler, ReviewQueue
from compound.strategy.routing import (
    ConfidenceRouter,
    LearnedRouter,
    RuleRouter,
    routing_examples,
)
from compound.workflow import ListSink, RunContext, Tracer


class TablePredictor:
    """A fake ML model: fixed (label, probability) per text; counts batch calls."""

    def __init__(self, table: dict[str, tuple[str, float]]) -> None:
        self.table = table
        self.batches: list[int] = []

    def predict_batch(self, texts: list[str]) -> list[Prediction]:
        self.batches.append(len(texts))
        return [Prediction(label=self.table[t][0], probability=self.table[t][1], model="intent",
                           version=4, alternatives=(("other", 0.01),)) for t in texts]


TABLE = {"where is my card": ("card_arrival", 0.97), "card gone??": ("lost_card", 0.42),
         "top up failed": ("top_up_failed", 0.91)}


def test_confidence_router_answers_with_the_model_when_confident_and_defers_the_rest() -> None:
    predictor = TablePredictor(TABLE)
    llm = ScriptedLLM(["lost_or_stolen_card"], model="gemma")
    router = ConfidenceRouter(model=PredictorHandler("intent", predictor),
                              fallback=LLMHandler("llm", llm, template="Intent of: {input}"),
                              threshold=0.9)
    routed = router.run_batch(list(TABLE))
    assert [r.decision.route for r in routed] == ["intent", "llm", "intent"]
    assert [r.answer.value for r in routed] == ["card_arrival", "lost_or_stolen_card",
                                                "top_up_failed"]
    assert routed[0].answer.version == 4
    assert routed[1].first is not None and routed[1].first.value == "lost_card"
    assert predictor.batches == [3] and len(llm.calls) == 1
    assert llm.calls[0][0][0].content == "Intent of: card gone??"


def test_below_threshold_requests_go_to_review_with_the_proposal() -> None:
    queue = ReviewQueue(MemoryStore())
    router = ConfidenceRouter(model=PredictorHandler("intent", TablePredictor(TABLE)),
                              fallback=ReviewHandler(queue), threshold=0.9)
    routed = router.run("card gone??")
    assert routed.answer.status == "review" and routed.answer.value is None
    item = queue.get(routed.answer.review_id or "")
    assert (item.proposed, item.confidence, item.reason, item.source) == \
        ("lost_card", 0.42, "below_threshold", "intent")
    assert item.context == {"alternatives": [["other", 0.01]]}


def test_routing_decisions_are_traced() -> None:
    sink = ListSink()
    ctx = RunContext(tracer=Tracer(sink), run_id="ef" * 16)
    router = ConfidenceRouter(model=PredictorHandler("intent", TablePredictor(TABLE)),
                              fallback=FunctionHandler("llm", lambda t: "x"), threshold=0.9,
                              name="intent_router")
    router.run("card gone??", ctx)
    ctx.tracer.flush()
    attributes = next(s for s in sink.spans if s["name"] == "route intent_router")["attributes"]
    assert attributes["compound.route.chosen"] == "llm"
    assert attributes["compound.route.reason"] == "below_threshold"
    assert attributes["compound.route.confidence"] == 0.42
    assert attributes["compound.route.threshold"] == 0.9


def test_rule_router_first_matching_rule_wins() -> None:
    handlers = {name: FunctionHandler(name, lambda t, n=name: n)
                for name in ("big", "refunds", "small")}
    router = RuleRouter(rules=[("length > 40", "big"), ("'refund' in input", "refunds")],
                        default="small", handlers=handlers)
    assert router.run("I want a refund").answer.value == "refunds"
    assert router.run("I want a refund for the thing I bought last week, please").decision \
        .reason == "rule[0]: length > 40"
    assert router.run("hello").decision.route == "small"


def test_rule_router_rejects_bad_rules_at_build_time() -> None:
    handlers = {"a": FunctionHandler("a", str)}
    with pytest.raises(UserError, match="reads text"):
        RuleRouter(rules=[("len(text) > 3", "a")], default="a", handlers=handlers)
    with pytest.raises(UserError, match="has no handler"):
        RuleRouter(rules=[("length > 3", "b")], default="a", handlers=handlers)


def test_learned_router_follows_the_classifier_above_its_confidence() -> None:
    table = {"easy one": ("ml", 0.9), "hard one": ("llm", 0.8), "unsure": ("ml", 0.3)}
    handlers = {"ml": FunctionHandler("ml", lambda t: "ml"),
                "llm": FunctionHandler("llm", lambda t: "llm")}
    router = LearnedRouter(classifier=PredictorHandler("difficulty", TablePredictor(table)),
                           handlers=handlers, default="llm", min_confidence=0.5)
    assert [router.run(t).decision.route for t in table] == ["ml", "llm", "llm"]
    assert router.run("unsure").decision.reason == "low_confidence"


def test_routing_examples_label_the_cheapest_correct_route() -> None:
    rows = routing_examples(["a", "b", "c"],
                            {"llm": [True, True, False], "ml": [True, False, False]},
                            {"ml": 0.0, "llm": 0.002})
    assert [r["label"] for r in rows] == ["ml", "llm", "llm"]


def test_calibration_picks_the_most_coverage_meeting_the_target() -> None:
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0, 1, 2000)
    correct = rng.uniform(0, 1, 2000) < confidence  # calibrated: P(right) = confidence
    found = calibrate_threshold(confidence, correct, covered_accuracy=0.9,
                                fallback_cost_usd=0.002)
    chosen = found.chosen
    assert chosen is not None and chosen.covered_accuracy is not None
    assert chosen.covered_accuracy >= 0.9
    lower = [p for p in found.points if p.threshold < chosen.threshold]
    assert all(p.covered_accuracy is None or p.covered_accuracy < 0.9 for p in lower[-5:])
    assert chosen.cost_per_1k_usd == pytest.approx((1 - chosen.coverage) * 2.0)


def test_a_confidence_level_makes_the_choice_more_careful() -> None:
    rng = np.random.default_rng(1)
    confidence = rng.uniform(0, 1, 2000)
    correct = rng.uniform(0, 1, 2000) < confidence
    plain = calibrate_threshold(confidence, correct, covered_accuracy=0.8)
    careful = calibrate_threshold(confidence, correct, covered_accuracy=0.8,
                                  confidence_level=0.95)
    assert plain.chosen and careful.chosen
    assert careful.chosen.threshold > plain.chosen.threshold


def test_quality_ratio_target_is_the_cheapest_point_keeping_that_share() -> None:
    confidence = np.array([0.95, 0.9, 0.8, 0.7, 0.6, 0.5])
    correct = np.array([True, True, True, False, False, False])
    found = calibrate_threshold(confidence, correct, quality_ratio=0.95, fallback_correct=1.0,
                                fallback_cost_usd=0.01)
    assert found.chosen is not None and found.chosen.threshold == 0.8
    assert found.chosen.system_accuracy == 1.0


def test_unreachable_targets_choose_nothing() -> None:
    found = calibrate_threshold([0.9, 0.8], [False, False], covered_accuracy=0.99)
    assert found.chosen is None and not found.met
    assert threshold_curve([0.5], [True])[-1].coverage == 0.0


def test_calibration_table_and_plot() -> None:
    found = calibrate_threshold([0.99, 0.9, 0.5, 0.2], [True, True, False, True],
                                covered_accuracy=1.0, fallback_cost_usd=0.001)
    svg = calibration_svg(found)
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "t=0.900" in svg and "covered accuracy" in svg
    from rich.console import Console

    console = Console(record=True, width=120)
    console.print(found.table())
    assert "0.900" in console.export_text()


def make_spec(tmp_path: Any, *, threshold: str = "target: {covered_accuracy: 1.0}") -> Any:
    import json

    rows = [{"text": t, "label": label} for t, label in
            [("lost my card", "card"), ("card is gone", "card"), ("card stolen", "card"),
             ("top up money", "topup"), ("add money", "topup"), ("top up failed", "topup")] * 8]
    (tmp_path / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    (tmp_path / "valid.jsonl").write_text("\n".join(json.dumps(r) for r in rows[:12]))
    (tmp_path / "compound.yaml").write_text(f"""
name: intents
loop: hybrid
task: Route banking requests.
models:
  llm: {{kind: llm, provider: scripted, options: {{replies: [card]}}}}
  intent: {{kind: predictor, task: text_classification, dataset: train.jsonl,
            target: label, features: [text]}}
strategy:
  routers:
    intent_router:
      kind: confidence
      model: intent
      fallback: review
      calibration_dataset: valid.jsonl
      {threshold}
""")
    from compound.intelligence.ml.training import train
    from compound.intelligence.registry import ModelRegistry
    from compound.store import open_store
    from compound.system import System

    system = System.load(tmp_path)
    with open_store(system) as store:
        train(system, "intent", store=store)
        ModelRegistry(store).promote("intent", criteria={})
    return system


@pytest.mark.integration
def test_calibrate_cli_saves_a_threshold_the_builder_uses(tmp_path: Any) -> None:
    pytest.importorskip("sklearn")
    from typer.testing import CliRunner

    from compound.cli import app, build
    from compound.store import open_store
    from compound.strategy.build import StrategyBuilder

    # 12 rows: the default 95% lower bound of a perfect score is about 0.82, so a target of
    # 1.0 is out of reach; 0.8 is not
    system = make_spec(tmp_path, threshold="target: {covered_accuracy: 0.8}")
    build()
    plot = tmp_path / "curve.svg"
    result = CliRunner().invoke(app, ["route", "calibrate", str(tmp_path), "intent_router",
                                      "--plot", str(plot)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "chosen threshold" in result.output and plot.read_text().startswith("<svg")
    assert "expected (90% interval" in result.output and "95% lower bound" in result.output
    with open_store(system) as store:
        router = StrategyBuilder(system, store=store).router("intent_router")
        assert 0.0 < router.threshold <= 1.0
        routed = router.run("lost my card")
        assert routed.answer.value == "card" or routed.answer.status == "review"


def test_a_router_without_threshold_or_calibration_says_what_to_do(tmp_path: Any) -> None:
    from compound.strategy.build import StrategyBuilder
    from compound.system import System

    (tmp_path / "compound.yaml").write_text("""
name: x
loop: hybrid
task: t
models:
  intent: {kind: predictor, task: text_classification, dataset: train.jsonl, target: label}
strategy:
  routers:
    r: {kind: confidence, model: intent, fallback: review, target: {covered_accuracy: 0.98}}
""")
    system = System.load(tmp_path)
    with pytest.raises(UserError, match="compound route calibrate"):
        StrategyBuilder(system, store=MemoryStore()).router("r")
