"""The model registry: versions with their facts, the promotion gate, rollback, safe artifact
loading, and the guarantee that a failed or worse training run never replaces production."""

from __future__ import annotations

import hashlib
import random
import zipfile
from pathlib import Path

import pytest
from ml_cases import TEXT_MODEL, make_system, text_rows, write_jsonl

from compound.errors import UserError
from compound.intelligence.ml import Predictor, train
from compound.intelligence.ml.artifact import ArtifactError, skops_dumps, skops_loads
from compound.intelligence.registry import ModelRegistry, production_status
from compound.store import MemoryStore, open_store
from compound.system import System

pytest.importorskip("sklearn")

CRITERIA = "accuracy: {threshold: 0.8, tolerance: 0.02}\n"


@pytest.fixture
def system(tmp_path: Path) -> System:
    write_jsonl(tmp_path / "train.jsonl", text_rows(300))
    return make_system(tmp_path, TEXT_MODEL, CRITERIA)


def _promote(system: System, version: int | None = None) -> object:
    with open_store(system) as store:
        return ModelRegistry(store).promote("intent", version, criteria=system.criteria)


def _production(system: System) -> int | None:
    with open_store(system) as store:
        current = ModelRegistry(store).production("intent")
    return current.version if current else None


def test_versions_record_their_facts_and_stages(system: System) -> None:
    first = train(system, "intent").record
    second = train(system, "intent").record
    assert first is not None and second is not None
    assert (first.version, second.version) == (1, 2)
    assert first.data == second.data  # same file, same hash
    assert first.params["C"] == 0.5 and first.primary == "accuracy"
    assert production_status(system, "intent") == ("2 (candidate)", False,
                                                   "no production version; promote one with "
                                                   "'compound models promote'")
    decision = _promote(system)
    assert decision.promoted and decision.version == 2  # type: ignore[attr-defined]
    assert _production(system) == 2
    with open_store(system) as store:
        stages = [v.stage for v in ModelRegistry(store).versions("intent")]
    assert stages == ["candidate", "production"]
    version, ok, message = production_status(system, "intent")
    assert (version, ok) == ("2", True) and message.startswith("production (accuracy")


def test_promotion_gate_blocks_threshold_and_regression(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "train.jsonl", text_rows(300))
    good = make_system(tmp_path, TEXT_MODEL, CRITERIA)
    train(good, "intent")
    assert _promote(good).promoted  # type: ignore[attr-defined]
    # A worse run: the data came back with its labels scrambled.
    rows = text_rows(300)
    labels = [r["label"] for r in rows]
    random.Random(0).shuffle(labels)
    scrambled = [{**r, "label": lab} for r, lab in zip(rows, labels, strict=True)]
    write_jsonl(tmp_path / "train.jsonl", scrambled)
    worse = make_system(tmp_path, TEXT_MODEL, CRITERIA)
    record = train(worse, "intent").record
    assert record is not None and record.metrics["accuracy"] < 0.6
    decision = _promote(worse)
    assert not decision.promoted  # type: ignore[attr-defined]
    statuses = {c.name: c.status for c in decision.checks}  # type: ignore[attr-defined]
    assert statuses["accuracy"] == "fail"
    assert _production(worse) == 1

    strict = make_system(tmp_path, TEXT_MODEL, "accuracy: {threshold: 0.5, tolerance: 0.0}\n")
    with open_store(strict) as store:
        registry = ModelRegistry(store)
        production = registry.production("intent")
        assert production is not None
        # a candidate slightly below production beyond the zero tolerance
        lower = production.metrics["accuracy"] - 0.01
        store.put("models", "intent@2", {**store.get("models", "intent@2"),
                                          "metrics": {"accuracy": lower}})
        decision = registry.promote("intent", 2, criteria=strict.criteria)
        assert not decision.promoted
        assert [c.status for c in decision.checks] == ["regressed"]
        assert registry.production("intent").version == 1  # type: ignore[union-attr]


def test_predictor_lists_criteria_that_must_be_measured(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "train.jsonl", text_rows(300))
    system = make_system(tmp_path, TEXT_MODEL + "  criteria: [accuracy, answer_f1]\n",
                         CRITERIA + "answer_f1: {threshold: 0.5}\n")
    train(system, "intent")
    with open_store(system) as store:
        decision = ModelRegistry(store).promote(
            "intent", criteria=system.criteria, only=system.predictors()["intent"].criteria)
    assert not decision.promoted
    assert {c.name: c.status for c in decision.checks}["answer_f1"] == "fail"
    with open_store(system) as store, pytest.raises(UserError, match="did you mean 'accuracy'"):
        ModelRegistry(store).promote("intent", criteria=system.criteria, only=["acuracy"])


def test_failed_training_never_replaces_production(system: System, tmp_path: Path) -> None:
    train(system, "intent")
    _promote(system)
    write_jsonl(tmp_path / "train.jsonl", [{"txet": "a", "label": "x"}] * 20)
    with pytest.raises(UserError, match=r"no column 'text' \(did you mean 'txet'\?\)"):
        train(system, "intent")
    (tmp_path / "train.jsonl").write_text("")  # the data file was emptied
    with pytest.raises(UserError, match="the file is empty"):
        train(system, "intent")
    write_jsonl(tmp_path / "train.jsonl", [{"text": "only one", "label": "x"}] * 20)
    with pytest.raises(UserError, match="one class"):
        train(system, "intent")
    write_jsonl(tmp_path / "train.jsonl", [{"text": 3, "label": "x"}, {"text": "b", "label": "y"}])
    with pytest.raises(UserError, match="must hold strings"):
        train(system, "intent")
    assert _production(system) == 1
    with open_store(system) as store:
        assert [v.version for v in ModelRegistry(store).versions("intent")] == [1]
        assert Predictor(name="intent", store=store).run("lost my card").version == 1


def test_rollback_restores_the_previous_production(system: System) -> None:
    for _ in range(2):
        train(system, "intent")
        assert _promote(system).promoted  # type: ignore[attr-defined]
    with open_store(system) as store:
        registry = ModelRegistry(store)
        assert registry.production("intent").version == 2  # type: ignore[union-attr]
        restored = registry.rollback("intent")
        assert restored.version == 1 and restored.stage == "production"
        assert registry.get("intent", 2).stage == "archived"
        assert registry.get("intent", 2).note == "rolled back"
        with pytest.raises(UserError, match="no earlier production version"):
            registry.rollback("intent")


def test_corrupt_artifact_is_a_clear_error_and_never_promoted(system: System) -> None:
    train(system, "intent")
    with open_store(system) as store:
        registry = ModelRegistry(store)
        record = registry.get("intent", 1)
        store.put_blob(record.artifact_key, b"garbage")
        with pytest.raises(ArtifactError, match=r"artifact of intent@1 is corrupt: its SHA-256"):
            Predictor(name="intent", store=store, version=1).load()
        with pytest.raises(ArtifactError, match="corrupt"):
            registry.promote("intent", criteria=system.criteria)
        assert registry.production("intent") is None
        # bytes that match the recorded hash but are not an artifact
        digest = hashlib.sha256(b"garbage").hexdigest()
        store.put("models", "intent@1", {**store.get("models", "intent@1"),
                                          "artifact_sha256": digest})
        with pytest.raises(ArtifactError, match=r"artifact of intent@1 is corrupt .*roll back"):
            Predictor(name="intent", store=store, version=1).load()


def test_truncated_and_tampered_artifacts(system: System) -> None:
    import io

    from compound.intelligence.ml.model import TrainedModel

    result = train(system, "intent", register=False)
    data = result.model.to_bytes()
    with pytest.raises(ArtifactError, match="corrupt"):
        TrainedModel.from_bytes(data[: len(data) // 2], what="intent@9")
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(buffer, "w") as target:
        for item in source.infolist():
            if item.filename != "text_linear.skops":
                target.writestr(item, source.read(item))
    with pytest.raises(ArtifactError, match=r"lacks its 'text_linear\.skops' part"):
        TrainedModel.from_bytes(buffer.getvalue(), what="intent@9")


def test_skops_refuses_types_outside_the_trust_boundary() -> None:
    import collections

    data = skops_dumps({"ok": [1, 2], "odd": collections.Counter("aab")})
    with pytest.raises(ArtifactError, match="outside compound's trust boundary"):
        skops_loads(data, what="a test object")
    with pytest.raises(ArtifactError, match="not a readable skops file"):
        skops_loads(b"not a zip", what="a test object")


def test_unknown_versions_and_empty_registry() -> None:
    registry = ModelRegistry(MemoryStore())
    with pytest.raises(UserError, match="has no version 4"):
        registry.get("intent", 4)
    with pytest.raises(UserError, match="no candidate version to promote"):
        registry.promote("intent", criteria={})
    with pytest.raises(UserError, match="no production version yet"):
        registry.resolve("intent", None)


def test_extra_checks_join_the_one_gate_and_the_registry_writes_the_event(system: System
                                                                          ) -> None:
    from compound.gating import GateCheck
    from compound.intelligence.registry import EVENTS

    train(system, "intent")
    veto = GateCheck(name="same test rows", metric="data", value=None, status="fail",
                     message="the test data changed")
    with open_store(system) as store:
        registry = ModelRegistry(store)
        decision = registry.promote("intent", criteria=system.criteria, extra_checks=[veto],
                                    by="improve")
        assert not decision.promoted and registry.production("intent") is None
        assert [c.name for c in decision.checks] == ["accuracy", "same test rows"]
        assert "same test rows: the test data changed" in decision.message
        [refused] = [r.data for r in store.read(EVENTS) if r.data["event"] == "refused"]
        assert refused["checks"] == ["same test rows"] and refused["by"] == "improve"
        passing = veto.model_copy(update={"status": "pass"})
        assert registry.promote("intent", criteria=system.criteria,
                                extra_checks=[passing]).promoted
