"""LLM versions: fine-tuned adapters registered, kept intact, gated on the spec's eval against
production, followed at run time, and rolled back. The model is a scripted fake at the
provider boundary that answers better when an adapter is applied (the real training and
llama.cpp loading are tested in tests/lifecycle/test_finetune.py)."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml

from compound.errors import UserError
from compound.intelligence.llm.scripted import ScriptedLLM
from compound.intelligence.llm.versions import AdapterError, LLMRegistry, llm_spec
from compound.lifecycle.finetune.promotion import llm_eval, promote_llm
from compound.store import MemoryStore
from compound.system import System

ROWS = [("Which planet is red?", "Mars"), ("Which planet is largest?", "Jupiter"),
        ("Which planet has rings?", "Saturn"), ("Which planet is closest to the sun?",
                                                  "Mercury")]
TRAINED = [[{"role": "user", "content": "Which planet is red?"},
            {"role": "assistant", "content": "Mars"}]]


def _system(tmp_path: Path, *, threshold: float = 0.5, provider: str = "embedded") -> System:
    (tmp_path / "qa.jsonl").write_text("".join(
        json.dumps({"question": q, "answer": a}) + "\n" for q, a in ROWS))
    options = {"model_path": "base.gguf"} if provider == "embedded" else {}
    spec = {
        "name": "planets", "loop": "interaction", "task": "Answer.",
        "criteria": {"exact_match": {"threshold": threshold, "tolerance": 0.0}},
        "models": {"llm": {"kind": "llm", "provider": provider, "options": options}},
        "workflows": {"qa": {"input": {"question": "str"}, "steps": [
            {"name": "answer", "uses": "llm", "inputs": {"question": "input.question"},
             "options": {"template": "{question}"}}]}},
        "evals": {"qa": {"dataset": {"path": "qa.jsonl", "inputs": ["question"],
                                     "expected": "answer"},
                         "target": {"workflow": "qa"}, "metrics": ["exact_match"]}},
    }
    (tmp_path / "compound.yaml").write_text(yaml.safe_dump(spec))
    return System.load(tmp_path)


@pytest.fixture
def fake_models(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    """build_llm gives a scripted model: right with an adapter whose bytes say ``good``,
    wrong without one or with a ``poisoned`` adapter."""
    monkeypatch.setenv("COMPOUND_MODELS", str(tmp_path / "models"))
    built: dict[str, Any] = {"specs": []}
    answers = dict(ROWS)

    def build(spec: Any) -> ScriptedLLM:
        built["specs"].append(spec)
        lora = spec.options.get("lora_path")
        good = lora is not None and Path(lora).read_bytes().startswith(b"good")

        def reply(messages: Any, params: Any) -> str:
            return answers.get(messages[-1].content, "?") if good else "Pluto"

        llm = ScriptedLLM(reply)
        llm.lora_path = lora  # type: ignore[attr-defined]  # keys the eval cache, as embedded's
        return llm

    monkeypatch.setattr("compound.intelligence.llm.build_llm", build)
    return built


def test_registering_keeps_the_spec_model_as_version_one_and_the_adapter_intact(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPOUND_MODELS", str(tmp_path / "models"))
    store = MemoryStore()
    registry = LLMRegistry(store)
    tuned = registry.register("llm", b"adapter bytes", base="base.gguf",
                              training={"steps": 3}, data=TRAINED)
    first, second = registry.versions("llm")
    assert (first.stage, first.source, first.adapted) == ("production", "spec", False)
    assert (second.stage, second.adapted, second.training) == ("candidate", True, {"steps": 3})
    assert registry.training_prompts(tuned) == ["Which planet is red?"]
    path = registry.adapter_file(tuned)
    assert path is not None and path.read_bytes() == b"adapter bytes"
    assert path.name == hashlib.sha256(b"adapter bytes").hexdigest() + ".gguf"
    path.write_bytes(b"tampered")  # a changed file in the cache is written again
    assert registry.adapter_file(tuned).read_bytes() == b"adapter bytes"  # type: ignore[union-attr]
    store.put_blob(tuned.adapter_key, b"altered in the store")
    path.unlink()
    with pytest.raises(AdapterError, match=r"llm@2 is corrupt.*compound finetune"):
        registry.adapter_file(tuned)


def test_a_better_adapter_is_promoted_and_followed_then_rolled_back(
        tmp_path: Path, fake_models: dict[str, Any]) -> None:
    system, store = _system(tmp_path), MemoryStore()
    registry = LLMRegistry(store)
    record = registry.register("llm", b"good adapter", base="base.gguf", data=TRAINED)
    assert llm_spec(system, "llm", store).options.get("lora_path") is None  # a candidate

    result = promote_llm(system, store, "llm", record.version)
    assert result.decision.promoted, result.decision.message
    assert result.excluded == 1  # "Which planet is red?" was a training row: left out
    assert result.candidate.counts["total"] == 3
    assert {m.name: m.value for m in result.candidate.metrics}["exact_match"] == 1.0
    assert {m.name: m.value for m in result.baseline.metrics}["exact_match"] == 0.0
    production = registry.production("llm")
    assert production is not None and production.version == 2
    assert production.evaluated["excluded_training_rows"] == 1
    applied = llm_spec(system, "llm", store)
    assert Path(applied.options["lora_path"]).read_bytes() == b"good adapter"

    restored = registry.rollback("llm")
    assert restored.version == 1
    assert "lora_path" not in llm_spec(system, "llm", store).options


def test_a_worse_adapter_is_never_promoted(tmp_path: Path,
                                           fake_models: dict[str, Any]) -> None:
    system, store = _system(tmp_path, threshold=0.0), MemoryStore()
    registry = LLMRegistry(store)
    good = registry.register("llm", b"good adapter", base="base.gguf")
    assert promote_llm(system, store, "llm", good.version).decision.promoted
    poisoned = registry.register("llm", b"poisoned adapter", base="base.gguf")
    decision = promote_llm(system, store, "llm", poisoned.version).decision
    assert not decision.promoted and "regress" in decision.message
    assert registry.production("llm").version == good.version  # type: ignore[union-attr]
    assert registry.get("llm", poisoned.version).metrics == {"exact_match": 0.0}


def test_an_adapter_for_another_base_model_is_not_applied(
        tmp_path: Path, fake_models: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    system, store = _system(tmp_path, threshold=0.0), MemoryStore()
    registry = LLMRegistry(store)
    other = registry.register("llm", b"good adapter", base="another-model.gguf")
    registry.install(other, registry.production("llm"))
    with caplog.at_level(logging.WARNING):
        assert "lora_path" not in llm_spec(system, "llm", store).options
    assert "trained on another-model.gguf" in caplog.text


def test_versions_are_for_embedded_llms_judged_by_an_eval_that_runs_them(
        tmp_path: Path) -> None:
    scripted = _system(tmp_path, provider="scripted")
    with pytest.raises(UserError, match=r"'llm' is not an embedded LLM"):
        promote_llm(scripted, MemoryStore(), "llm", 2)
    system = _system(tmp_path)
    assert llm_eval(system, "llm") == "qa"
    with pytest.raises(UserError, match=r"eval 'nope' does not run LLM 'llm'.*evals that do: qa"):
        llm_eval(system, "llm", "nope")
    bare = system.model_copy(update={"evals": {}})
    with pytest.raises(UserError, match=r"no eval of system 'planets' runs LLM 'llm'"):
        llm_eval(bare, "llm")
    with pytest.raises(UserError, match=r"has no version 2"):
        promote_llm(system, MemoryStore(), "llm", 2)


def test_a_row_trained_on_is_left_out_even_when_export_redacted_it(
        tmp_path: Path, fake_models: dict[str, Any]) -> None:
    from compound.lifecycle.finetune.promotion import evaluate_llm

    system, store = _system(tmp_path), MemoryStore()
    with (tmp_path / "qa.jsonl").open("a") as rows:
        rows.write(json.dumps({"question": "Mail ana@example.com the moons of Mars",
                               "answer": "Phobos and Deimos"}) + "\n")
    trained = [[{"role": "user", "content": "Mail <EMAIL_ADDRESS> the moons of Mars"},
                {"role": "assistant", "content": "Phobos and Deimos"}]]
    record = LLMRegistry(store).register("llm", b"good", base="base.gguf", data=trained)
    run, left_out = evaluate_llm(system, store, "qa", "llm", record,
                                 trained_on=LLMRegistry(store).training_prompts(record))
    assert left_out == 1 and run.counts["total"] == len(ROWS)


def test_models_list_names_the_production_adapter(tmp_path: Path,
                                                  fake_models: dict[str, Any]) -> None:
    from compound.intelligence.status import model_statuses
    from compound.store import open_store

    system = _system(tmp_path)
    with open_store(system) as store:
        registry = LLMRegistry(store)
        tuned = registry.register("llm", b"good adapter", base="base.gguf")
        registry.install(tuned, registry.production("llm"))
    (status,) = model_statuses(system, load=False)
    assert status.ok and f"(llm@2, adapter {tuned.adapter_sha256[:12]})" in status.version
    assert fake_models["specs"][-1].options["lora_path"].endswith(".gguf")
