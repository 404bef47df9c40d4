"""The system spec: valid specs load with defaults from the loop type; malformed ones fail
with the file, line and field, what was expected and what was received."""

from __future__ import annotations

from pathlib import Path

import pytest

from compound.errors import SpecError, UserError
from compound.system import System

VALID = """\
name: support
loop: hybrid
task: Route banking questions and answer them.
criteria:
  accuracy: {threshold: 0.9, tolerance: 0.01}
  p95_latency_ms: {threshold: 500, direction: lower}
models:
  intent:
    kind: predictor
    task: text_classification
    dataset: data/train.jsonl
    target: label
    features: [text]
  llm:
    provider: embedded
    generation: {max_tokens: 64}
workflows:
  answer:
    steps:
      - {name: classify, uses: intent}
      - {name: respond, uses: llm, needs: [classify]}
"""


def load(text: str) -> System:
    return System.from_yaml(text, source="compound.yaml")


def test_valid_spec_loads_with_typed_sections() -> None:
    system = load(VALID)
    assert system.loop == "hybrid"
    assert system.criteria["accuracy"].passes(0.91)
    assert not system.criteria["p95_latency_ms"].passes(600)
    assert system.criteria["accuracy"].regressed(0.88, baseline=0.90)
    assert not system.criteria["accuracy"].regressed(0.895, baseline=0.90)
    assert list(system.predictors()) == ["intent"]
    assert system.default_llm() == "llm"


def test_interaction_system_gets_the_embedded_llm_by_default() -> None:
    system = load("name: faq\nloop: interaction\ntask: Answer questions.\n")
    assert system.llms()["llm"].provider == "embedded"


def test_prediction_system_gets_no_llm_by_default() -> None:
    system = load(
        "name: p\nloop: prediction\ntask: t\nmodels:\n"
        "  m: {kind: predictor, task: regression, dataset: d.csv, target: y}\n"
    )
    assert system.llms() == {}
    with pytest.raises(UserError, match="declares no LLM"):
        system.default_llm()


def test_load_from_folder_and_store_location(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "compound.yaml").write_text(VALID)
    system = System.load(tmp_path)
    assert system.source == (tmp_path / "compound.yaml").resolve()
    monkeypatch.setenv("COMPOUND_HOME", str(tmp_path / "home"))
    assert system.store_path() == (tmp_path / "home" / "compound.db").resolve()
    monkeypatch.delenv("COMPOUND_HOME")
    assert system.store_path() == tmp_path.resolve() / ".compound" / "compound.db"
    pinned = System.from_yaml(VALID + "store: {path: state/db.sqlite}\n",
                              source=tmp_path / "compound.yaml")
    assert pinned.store_path() == (tmp_path / "state" / "db.sqlite").resolve()


# Each malformed spec: the text, then fragments the message must contain (line first).
MALFORMED = [
    pytest.param("name: [unclosed\n", ["compound.yaml:2", "not valid YAML"], id="bad-yaml"),
    pytest.param("", ["empty", "name", "loop", "task"], id="empty-file"),
    pytest.param("- a\n- b\n", ["must be a mapping", "received a list"], id="not-a-mapping"),
    pytest.param("name: x\ntask: t\n", ["compound.yaml:1", "loop", "required key 'loop'"],
                 id="missing-field"),
    pytest.param("name: x\nloop: interactive\ntask: t\n",
                 ["compound.yaml:2", "loop", "'interaction', 'prediction' or 'hybrid'",
                  "received 'interactive'"], id="bad-enum"),
    pytest.param("name: x\nloop: interaction\ntask: t\nmodel: {}\n",
                 ["compound.yaml:4", "unknown key 'model'", "did you mean 'models'"],
                 id="unknown-top-key"),
    pytest.param("name: x\nloop: interaction\ntask: t\ncriteria:\n  f1: {threshold: high}\n",
                 ["compound.yaml:5", "criteria.f1.threshold", "valid number", "received 'high'"],
                 id="wrong-type"),
    pytest.param("name: x\nloop: interaction\ntask: t\nmodels:\n  llm:\n    provider: embeded\n",
                 ["compound.yaml:6", "models.llm.provider", "did you mean 'embedded'"],
                 id="unknown-provider"),
    pytest.param("name: x\nloop: interaction\ntask: t\nmodels:\n  llm:\n"
                 "    generation: {temprature: 0.2, max_tokens: 0}\n",
                 ["did you mean 'temperature'", "max_tokens", "greater than 0"],
                 id="nested-typo-and-range"),
    pytest.param("name: x\nloop: interaction\ntask: t\nworkflows:\n  w:\n    steps:\n"
                 "      - {name: a, uses: lm}\n",
                 ["compound.yaml:7", "workflows.w.steps[0].uses", "unknown component 'lm'",
                  "did you mean 'llm'"], id="unknown-component"),
    pytest.param("name: x\nloop: interaction\ntask: t\nworkflows:\n  w:\n    steps:\n"
                 "      - {name: a, uses: llm, needs: [b]}\n"
                 "      - {name: b, uses: llm, needs: [a]}\n",
                 ["compound.yaml:6", "cycle a -> b -> a"], id="cycle"),
    pytest.param("name: x\nloop: interaction\ntask: t\nworkflows:\n  w:\n    steps:\n"
                 "      - {name: a, uses: llm, needs: [c]}\n",
                 ["needs unknown step 'c'"], id="unknown-step"),
    pytest.param("name: x\nloop: prediction\ntask: t\n",
                 ["compound.yaml:2", "needs at least one model with 'kind: predictor'"],
                 id="prediction-without-model"),
    pytest.param("name: x\nloop: hybrid\ntask: t\nmodels:\n  m: {kind: classifier}\n",
                 ["compound.yaml:5", "'kind' must be 'llm' or 'predictor'"], id="bad-kind"),
    pytest.param("name: x\nname: y\nloop: interaction\ntask: t\n",
                 ["compound.yaml:2", "duplicate key 'name'", "first at line 1"],
                 id="duplicate-key"),
    pytest.param("name: x\nloop: interaction\ntask: t\ncriteria:\n  f1: {threshold: 1, "
                 "direction: up}\n", ["'higher' or 'lower'", "received 'up'"],
                 id="bad-direction"),
]


@pytest.mark.parametrize(("text", "fragments"), MALFORMED)
def test_malformed_spec_names_file_line_field(text: str, fragments: list[str]) -> None:
    with pytest.raises(SpecError) as info:
        load(text)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in:\n{message}"


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(SpecError) as info:
        load("name: x\nloop: nope\ntask: t\nextra: 1\n")
    assert len(info.value.problems) == 2


def test_missing_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="compound init"):
        System.load(tmp_path / "nope.yaml")


def test_non_utf8_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "compound.yaml"
    path.write_bytes(b"name: caf\xe9\nloop: interaction\ntask: t\n")
    with pytest.raises(SpecError, match="not UTF-8"):
        System.load(path)


def test_python_construction_checks_references_too() -> None:
    with pytest.raises(ValueError, match="unknown component 'nope'"):
        System.model_validate({
            "name": "x", "loop": "interaction", "task": "t",
            "workflows": {"w": {"steps": [{"name": "a", "uses": "nope"}]}},
        })


def test_public_dataset_paths_resolve_through_one_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "banking77").mkdir()
    (tmp_path / "banking77" / "train.jsonl").write_text('{"text": "hi", "label": "x"}\n')
    monkeypatch.setenv("COMPOUND_DATA", str(tmp_path))
    system = load(VALID)
    assert system.resolve_path("shared:banking77/train.jsonl") == (
        tmp_path / "banking77" / "train.jsonl"
    )
    from compound.public_data import DatasetMissing

    with pytest.raises(DatasetMissing, match="COMPOUND_DATA"):
        system.resolve_path("shared:no-such-set/train.jsonl")
