"""A predictor as a workflow step: features in, a Prediction out, from the production model."""

from __future__ import annotations

from pathlib import Path

import pytest
from ml_cases import TEXT_MODEL, make_system, text_rows, write_jsonl

from compound.errors import UserError
from compound.intelligence.ml import Prediction, train
from compound.intelligence.registry import ModelRegistry
from compound.store import open_store
from compound.system import System
from compound.workflow.kinds.predictor import PredictorStep

pytest.importorskip("sklearn")

WORKFLOW = """\
name: test
loop: hybrid
task: Route requests.
store: {path: store.db}
models:
  intent:
    kind: predictor
    task: text_classification
    dataset: train.jsonl
    target: label
    features: [text]
  llm: {kind: llm, provider: scripted, options: {replies: ["ok"]}}
workflows:
  route:
    input: {question: str}
    steps:
      - {name: classify, uses: intent, inputs: {text: input.question}}
"""


def test_a_workflow_step_classifies_with_the_production_model(tmp_path: Path) -> None:
    from compound.workflow.loader import build_workflow

    write_jsonl(tmp_path / "train.jsonl", text_rows(300))
    (tmp_path / "compound.yaml").write_text(WORKFLOW)
    system = System.load(tmp_path)
    train(system, "intent")
    with open_store(system) as store:
        ModelRegistry(store).promote("intent", criteria={})
    run = build_workflow(system, "route").run(question="i lost my card")
    assert isinstance(run.output, Prediction)
    assert (run.output.label, run.output.model, run.output.version) == ("card_lost", "intent", 1)


def test_a_step_that_follows_production_answers_with_a_newly_promoted_version(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from compound.workflow import kinds
    from compound.workflow.context import RunContext
    from compound.workflow.loader import build_workflow

    write_jsonl(tmp_path / "train.jsonl", text_rows(300))
    (tmp_path / "compound.yaml").write_text(WORKFLOW)
    system = System.load(tmp_path)
    train(system, "intent")
    with open_store(system) as store:
        registry = ModelRegistry(store)
        registry.promote("intent", criteria={})
        flow = build_workflow(system, "route")  # built once, as a server builds it
        assert flow.run(question="i lost my card", ctx=RunContext(store=store)).output.version == 1
        train(system, "intent", store=store)
        registry.promote("intent", criteria={})
        # within the refresh interval the loaded version keeps answering
        assert flow.run(question="i lost my card", ctx=RunContext(store=store)).output.version == 1
        monkeypatch.setattr(kinds.predictor, "REFRESH_S", 0.0)
        assert flow.run(question="i lost my card", ctx=RunContext(store=store)).output.version == 2
        registry.rollback("intent")
        assert flow.run(question="i lost my card", ctx=RunContext(store=store)).output.version == 1


def test_calls_without_a_store_follow_production_in_the_store_a_run_context_brought(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As a server calls the step: its batched calls carry no run context, and the first may
    come before its warm-up brought the served store."""
    from compound.workflow import kinds
    from compound.workflow.context import RunContext

    write_jsonl(tmp_path / "train.jsonl", text_rows(300))
    (tmp_path / "compound.yaml").write_text(WORKFLOW)
    system = System.load(tmp_path)
    train(system, "intent")
    with open_store(system) as store:
        registry = ModelRegistry(store)
        registry.promote("intent", criteria={})
        step = PredictorStep(name="intent", features=["text"], system=system)
        row = {"text": "i lost my card"}
        assert step.run_batch(None, [row])[0].version == 1  # loaded from the spec's store
        step.predictor(RunContext(store=store))  # the warm-up
        train(system, "intent", store=store)
        registry.promote("intent", criteria={})
        monkeypatch.setattr(kinds.predictor, "REFRESH_S", 0.0)
        assert step.run_batch(None, [row])[0].version == 2
        registry.rollback("intent")
        assert step.run(None, text="i lost my card").version == 1


def test_when_the_registry_cannot_be_read_the_loaded_version_keeps_answering(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A store that is briefly down (or a version that fails to load) costs the refresh, not
    the prediction; the next refresh tries again."""
    from compound.workflow import kinds
    from compound.workflow.context import RunContext

    write_jsonl(tmp_path / "train.jsonl", text_rows(300))
    (tmp_path / "compound.yaml").write_text(WORKFLOW)
    system = System.load(tmp_path)
    train(system, "intent")
    with open_store(system) as store:
        registry = ModelRegistry(store)
        registry.promote("intent", criteria={})
        step = PredictorStep(name="intent", features=["text"], system=system)
        ctx = RunContext(store=store)
        assert step.run(ctx, text="i lost my card").version == 1
        train(system, "intent", store=store)
        registry.promote("intent", criteria={})
        monkeypatch.setattr(kinds.predictor, "REFRESH_S", 0.0)

        def down(*args: object, **kwargs: object) -> None:
            raise ConnectionError("the database is restarting")

        with monkeypatch.context() as broken:
            broken.setattr(ModelRegistry, "production", down)
            assert step.run(ctx, text="i lost my card").version == 1
        assert "could not check or load the production version (ConnectionError)" in (
            caplog.text)
        assert step.run(ctx, text="i lost my card").version == 2  # back: the refresh succeeds


def test_step_needs_declared_features(tmp_path: Path) -> None:
    from compound.workflow.loader import build_workflow

    write_jsonl(tmp_path / "train.jsonl", text_rows(30))
    (tmp_path / "compound.yaml").write_text(WORKFLOW.replace("    features: [text]\n", ""))
    with pytest.raises(UserError, match="lists no 'features'"):
        build_workflow(System.load(tmp_path), "route")


def test_step_without_a_production_version_says_what_to_do(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "train.jsonl", text_rows(30))
    system = make_system(tmp_path, TEXT_MODEL)
    step = PredictorStep(name="intent", features=["text"], system=system)
    with pytest.raises(UserError, match="no production version yet"):
        step.run(None, text="hello")
