"""Stability in promotion: a candidate that changes too many of production's answers on the gate
rows is refused, even at equal accuracy; the loop type sets the limit when the spec is silent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compound.intelligence.ml import train
from compound.intelligence.promotion import spec_gate
from compound.intelligence.registry import EVENTS, ModelRegistry
from compound.loop_defaults import default_criteria
from compound.store import MemoryStore
from compound.system import System

pytest.importorskip("sklearn")

TRUTH = ["card", "money"] * 10  # the 20 gate rows' true labels
RIGHT_BEFORE = set(range(16))  # production gets rows 0-15 right: accuracy 0.8
RIGHT_AFTER = set(range(4, 20))  # the candidate gets rows 4-19 right: accuracy 0.8 too


def _spec(folder: Path, churn: str = "", loop: str = "prediction") -> System:
    rows = [{"text": f"{w} {n}", "label": label} for n in range(10)
            for label, w in (("card", "lost card"), ("money", "top up"))]
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "compound.yaml").write_text(f"""\
name: desk
loop: {loop}
task: Route requests.
models:
  intent:
    kind: predictor
    task: text_classification
    dataset: train.jsonl
    target: label
    features: [text]
{churn}""")
    return System.load(folder)


def _answers(right: set[int]) -> dict[str, object]:
    """Held-out predictions on 20 gate rows, right where ``right`` says, all confident."""
    other = {"card": "money", "money": "card"}
    labels = [t if i in right else other[t] for i, t in enumerate(TRUTH)]
    return {"gate": list(range(20)), "final": [], "sha256": {"gate": "rows", "final": "none"},
            "labels": labels, "confidence": [0.95] * 20, "truth": TRUTH}


def _register(system: System, registry: ModelRegistry, right: set[int]) -> int:
    """A real trained model, registered with the gate rows' answers given."""
    model = train(system, "intent", register=False).model
    metrics = {"accuracy": len(right) / 20, "ece": 0.05}
    record = registry.register(
        "intent", model, held_out=_answers(right), metrics=metrics, primary="accuracy",
        parts={"gate": metrics}, data={"test": {"rows": 20, "sha256": "t"},
                                       "gate": {"rows": 20, "sha256": "rows"},
                                       "final": {"rows": 0, "sha256": "none"}})
    return record.version


def _second_promotion(system: System) -> tuple[object, ModelRegistry]:
    registry = ModelRegistry(MemoryStore())
    first = _register(system, registry, RIGHT_BEFORE)
    assert registry.promote("intent", first, **spec_gate(system, "intent")).promoted
    candidate = _register(system, registry, RIGHT_AFTER)
    return registry.promote("intent", candidate, **spec_gate(system, "intent")), registry


def test_equal_accuracy_but_churn_over_the_spec_limit_is_refused(tmp_path: Path) -> None:
    system = _spec(tmp_path, "    churn: {max: 0.1}\n")
    decision, registry = _second_promotion(system)

    assert not decision.promoted  # type: ignore[attr-defined]
    checks = {c.name: c for c in decision.checks}  # type: ignore[attr-defined]
    assert checks["accuracy (primary)"].status == "pass"  # equal accuracy: 0.8 and 0.8
    assert checks["churn"].status == "fail" and checks["churn"].value == 0.4
    assert "8 of 20 gate rows changed label from intent@1" in checks["churn"].message
    assert decision.churn.confident_churn == 0.4  # type: ignore[attr-defined]
    assert registry.production("intent").version == 1  # type: ignore[union-attr]
    refused = [r.data for r in registry.store.read(EVENTS) if r.data["event"] == "refused"]
    assert refused[-1]["churn"]["churn"] == 0.4 and refused[-1]["churn"]["against"] == 1


def test_churn_under_the_limit_is_promoted(tmp_path: Path) -> None:
    system = _spec(tmp_path, "    churn: {max: 0.5, max_negative: 0.25}\n")
    decision, registry = _second_promotion(system)

    assert decision.promoted, decision.message  # type: ignore[attr-defined]
    current = registry.production("intent")
    assert current is not None and current.version == 2
    assert current.churn == {"against": 1, "churn": 0.4, "confident_churn": 0.4,
                             "negative_flips": 0.2, "rows": 20, "confidence": 0.8}


def test_a_silent_prediction_spec_limits_negative_flips(tmp_path: Path) -> None:
    system = _spec(tmp_path)
    decision, _ = _second_promotion(system)

    assert not decision.promoted  # type: ignore[attr-defined]
    failed = [c.name for c in decision.checks if c.failed]  # type: ignore[attr-defined]
    assert failed == ["negative_flips"]  # 4 of 20 rows production had right are wrong now
    assert [(d.name, d.rule) for d in default_criteria(system)][-1] == (
        "negative_flips", "<= 0.05 of the gate rows")


def test_churn_false_and_interaction_loops_do_not_gate_churn(tmp_path: Path) -> None:
    system = _spec(tmp_path, "    churn: false\n")
    decision, _ = _second_promotion(system)
    assert decision.promoted  # type: ignore[attr-defined]
    assert not any(c.name == "churn" for c in decision.checks)  # type: ignore[attr-defined]
    assert spec_gate(_spec(tmp_path, loop="interaction"), "intent")["churn"] is None


def test_training_keeps_gate_and_final_rows_apart(tmp_path: Path) -> None:
    system = _spec(tmp_path)
    registry = ModelRegistry(MemoryStore())
    record = train(system, "intent", store=registry.store).record
    assert record is not None
    held = registry.held_out(record)
    assert held is not None and not set(held["gate"]) & set(held["final"])
    assert len(held["gate"]) + len(held["final"]) == record.data["test"]["rows"]
    assert record.data["gate"]["rows"] == len(held["gate"]) > 0
    assert set(record.parts) == {"gate", "final"} and "accuracy" in record.final_metrics
