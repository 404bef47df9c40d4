"""Any component is an eval target: a trained model, a rail, one field of a workflow step; and a
structured output never scores 0 silently under a label metric."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compound.errors import SpecError, UserError
from compound.evaluation.plan import plan_eval
from compound.evaluation.runner import EvalRunner
from compound.intelligence.registry import ModelRegistry
from compound.store import Store, open_store
from compound.system import System

pytest.importorskip("sklearn")

SPEC = """\
name: desk
loop: hybrid
task: Route support requests.
criteria:
  intent_accuracy: {metric: accuracy, threshold: 0.0}
store: {path: store.db}   # workflow steps load the model from the system's store
models:
  intent:
    kind: predictor
    task: text_classification
    dataset: train.jsonl
    test_dataset: test.jsonl
    target: label
    features: [text]
guardrails:
  secrets: {type: secrets, stage: input, action: block}
workflows:
  answer:
    input: {question: str}
    steps:
      - {name: classify, uses: intent, inputs: {text: input.question}}
evals:
  by_model:
    dataset: {path: test.jsonl, inputs: {text: text}, expected: label}
    target: {model: intent}
    metrics: [accuracy]
  by_field:
    dataset: {path: test.jsonl, inputs: {question: text}, expected: label}
    target: {workflow: answer, output: classify.label}
    metrics: [accuracy]
  by_workflow:
    dataset: {path: test.jsonl, inputs: {question: text}, expected: label}
    target: {workflow: answer}
    metrics: [accuracy]
  leaks:
    dataset: {path: leaks.jsonl, inputs: {text: text}, expected: label}
    target: {rail: secrets}
    metrics: [recall, precision]
"""

TRAIN = {"card": ["lost card", "card stolen", "card missing", "new card"],
         "money": ["top up", "add money", "send money", "money transfer"]}
TEST = [("card lost today", "card"), ("my card was stolen", "card"),
        ("top up please", "money"), ("send money now", "money"), ("new card please", "card"),
        ("money transfer help", "money")]
# enough rows that no bootstrap resample of recall lacks a positive one
LEAKS = [*((f"my key is ghp_{c * 36}", 1) for c in "abcdefghijkl"),
         *((f"how do I top up {n} euros?", 0) for n in range(12))]


def write(path: Path, rows: list[dict[str, object]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> tuple[System, Store]:
    """The spec with its intent model trained and promoted into the system's store."""
    from compound.intelligence.ml.training import train

    folder = tmp_path_factory.mktemp("desk")
    write(folder / "train.jsonl", [{"text": f"{p} {w}", "label": label}
                                   for label, phrases in TRAIN.items() for p in phrases
                                   for w in ("please", "now", "help", "today", "hi")])
    write(folder / "test.jsonl", [{"text": t, "label": label} for t, label in TEST])
    write(folder / "leaks.jsonl", [{"text": t, "label": label} for t, label in LEAKS])
    (folder / "compound.yaml").write_text(SPEC)
    system = System.load(folder)
    store = open_store(system)
    result = train(system, "intent", store=store)
    assert result.record is not None
    ModelRegistry(store).promote("intent", result.record.version, criteria=system.criteria)
    return system, store


def evaluate(desk: tuple[System, Store], name: str) -> object:
    system, store = desk
    return EvalRunner(store, progress=False).run(plan_eval(system, name, store=store),
                                                 resume=False)


def test_a_predictor_is_a_target_and_its_rows_keep_the_probability(
    desk: tuple[System, Store],
) -> None:
    from compound.intelligence.ml.predictor import Predictor

    store = desk[1]
    run = evaluate(desk, "by_model")
    predictor = Predictor(name="intent", store=store)
    expected = sum(predictor.run(t).label == label for t, label in TEST) / len(TEST)
    assert run.metric("accuracy").value == pytest.approx(expected)  # type: ignore[attr-defined]
    assert run.counts["ok"] == len(TEST)  # type: ignore[attr-defined]
    rows = run_rows(store, run)
    assert {r.output for r in rows} <= {"card", "money"}
    assert all(0.0 < r.data["probability"] <= 1.0 and r.data["version"] == 1 for r in rows)


def run_rows(store: Store, run: object) -> list:  # type: ignore[type-arg]
    from compound.evaluation.results import RunRepository

    return RunRepository(store).rows(run.id)  # type: ignore[attr-defined]


def test_one_field_of_a_step_is_a_target_and_scores_as_the_model_does(
    desk: tuple[System, Store],
) -> None:
    by_model, by_field = evaluate(desk, "by_model"), evaluate(desk, "by_field")
    assert by_field.metric("accuracy").value == by_model.metric("accuracy").value  # type: ignore[attr-defined]
    row = run_rows(desk[1], by_field)[0]
    assert row.output in ("card", "money") and row.data["label"] == row.output


def test_a_structured_workflow_output_under_a_label_metric_stops_the_run_with_the_fix(
    desk: tuple[System, Store],
) -> None:
    with pytest.raises(UserError) as info:
        evaluate(desk, "by_workflow")
    text = str(info.value)
    assert "eval 'by_workflow': metric 'accuracy'" in text
    assert "returned a Prediction" in text and "output: classify.label" in text


def test_a_rail_is_a_target_whose_decision_is_a_label(desk: tuple[System, Store]) -> None:
    run = evaluate(desk, "leaks")
    assert run.metric("recall").value == 1.0  # type: ignore[attr-defined]
    assert run.metric("precision").value == 1.0  # type: ignore[attr-defined]
    rows = {r.inputs["text"][:8]: r for r in run_rows(desk[1], run)}
    assert rows["my key i"].output == "1" and rows["my key i"].data["action"] == "block"
    assert rows["how do I"].output == "0" and rows["how do I"].data["action"] == "allow"


def test_a_rail_target_scores_redact_as_firing_and_needs_one_text() -> None:
    from compound.evaluation.component_targets import RailTarget
    from compound.production.rails.pii import PIIRail

    target = RailTarget(PIIRail(name="pii"))
    assert target.run({"text": "write to ada@example.com"}).text == "1"
    assert target.run({"question": "nothing personal here"}).text == "0"
    with pytest.raises(UserError, match=r"checks one text.*fields a, b"):
        target.run({"a": "x", "b": "y"})


def test_target_references_are_checked_when_the_spec_loads(tmp_path: Path) -> None:
    def load(target: str) -> None:
        System.from_yaml(SPEC.replace("target: {model: intent}", target), source="c.yaml")

    with pytest.raises(SpecError, match=r"evals.by_model.target.rail: rail 'secret' is not "
                                        r"declared.*did you mean 'secrets'"):
        load("target: {rail: secret}")
    with pytest.raises(SpecError, match=r"model 'intnet' is not declared.*did you mean 'intent'"):
        load("target: {model: intnet}")
    with pytest.raises(SpecError, match=r"'prompt' is for an LLM target, but 'intent' is a "
                                        "predictor"):
        load("target: {model: intent, prompt: 'Q: {text}'}")
    with pytest.raises(SpecError, match=r"has no step 'clasify' \(did you mean 'classify'\?\)"):
        System.from_yaml(SPEC.replace("output: classify.label", "output: clasify.label"))
