"""Choosing a learner: a predictor's own learner and its ``candidates`` compared by k-fold
cross-validation on the training rows only, the best trained; the same choice with the fits
as Ray tasks; bad candidates refused when the spec loads."""

from __future__ import annotations

from pathlib import Path

import pytest
from ml_cases import (
    TEXT_MODEL,
    make_system,
    ranking_rows,
    regression_rows,
    text_rows,
    write_csv,
    write_jsonl,
)

from compound.cli import main
from compound.errors import UserError
from compound.intelligence.ml import train
from compound.intelligence.registry import ModelRegistry
from compound.store import open_store
from compound.system import System

pytest.importorskip("sklearn")

# the spec's own params keep one n-gram feature: clearly worse than the defaults
CHOOSING = TEXT_MODEL + """\
  params: {max_features: 1, char_ngrams: null}
  candidates:
    - {params: {}}
    - {params: {model: logistic, C: 2.0}}
"""


def test_the_better_candidate_is_chosen_on_the_training_rows_and_recorded(
        tmp_path: Path) -> None:
    write_jsonl(tmp_path / "train.jsonl", text_rows(300))
    system = make_system(tmp_path, CHOOSING)
    result = train(system, "intent")
    found = result.selection
    assert found is not None and found.metric == "accuracy" and found.folds == 5
    assert [c.params for c in found.candidates] == [
        {"max_features": 1, "char_ngrams": None}, {}, {"model": "logistic", "C": 2.0}]
    own, default, logistic = found.candidates
    assert own.mean < 0.8 < default.mean and default.mean >= logistic.mean
    assert found.chosen == 1  # the best; a tie with a later candidate keeps the earlier
    assert all(len(c.scores) == len(c.fit_seconds) == 5 for c in found.candidates)
    # only the training rows were cut into folds: not one calibration or test (gate, final)
    assert result.rows == {"train": 204, "calibration": 36, "test": 60}
    assert found.rows == 204
    # the chosen learner is the one trained and registered
    assert result.model.learner.params.max_features is None
    assert result.record is not None and result.record.params["max_features"] is None
    assert result.metrics["accuracy"] > 0.9
    with open_store(system) as store:
        record = ModelRegistry(store).get("intent", result.record.version)
    kept = record.report["selection"]
    assert kept["chosen"] == 1 and kept["rows"] == 204
    assert [round(c["mean"], 6) for c in kept["candidates"]] == [
        round(c.mean, 6) for c in found.candidates]


def test_a_tie_keeps_the_spec_s_own_learner(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "train.jsonl", text_rows(120))
    system = make_system(tmp_path, TEXT_MODEL + "  candidates:\n    - {params: {C: 0.5}}\n")
    found = train(system, "intent", register=False).selection
    assert found is not None and found.chosen == 0
    assert found.candidates[0].scores == found.candidates[1].scores


def test_regression_and_ranking_compare_on_their_primary_metric(tmp_path: Path) -> None:
    write_csv(tmp_path / "r.csv", regression_rows(300))
    write_csv(tmp_path / "q.csv", ranking_rows(40))
    weak = "{n_estimators: 2, num_leaves: 2, early_stopping_rounds: 0, threads: 1}"
    system = make_system(tmp_path, f"""\
price:
  kind: predictor
  task: regression
  dataset: r.csv
  target: y
  params: {weak}
  candidates:
    - params: {{n_estimators: 200, threads: 1}}
ranker:
  kind: predictor
  task: ranking
  dataset: q.csv
  target: relevance
  group: query
  params: {weak}
  candidates:
    - params: {{n_estimators: 100, threads: 1}}
""")
    price = train(system, "price", register=False).selection
    assert price is not None and price.metric == "r2" and price.chosen == 1
    assert price.candidates[1].mean > 0.9 > price.candidates[0].mean
    ranker = train(system, "ranker", register=False).selection
    assert ranker is not None and ranker.metric == "ndcg@10" and ranker.folds == 5
    assert ranker.chosen == 1


@pytest.mark.parametrize(("candidates", "message"), [
    ("[{learner: lightgbm}]", "candidate 1 (lightgbm): learner 'lightgbm' does not do "
     "text_classification"),
    ("[{params: {}}, {learner: xgboost}]", "candidate 2 (xgboost): unknown learner 'xgboost'"),
    ("[{params: {Cc: 2}}]", "candidate 1 (tfidf_linear): params of learner 'tfidf_linear': "
     "Cc: unknown key"),
    ("[{learner: tfidf_linear, param: {}}]", "param"),
])
def test_bad_candidates_are_refused_with_file_and_line(tmp_path: Path, candidates: str,
                                                       message: str) -> None:
    write_jsonl(tmp_path / "train.jsonl", text_rows(30))
    with pytest.raises(UserError) as refused:
        make_system(tmp_path, TEXT_MODEL + f"  candidates: {candidates}\n")
    text = str(refused.value)
    assert message in text, text
    assert "compound.yaml:12: models.intent.candidates" in text, text


def test_compound_check_reports_a_bad_candidate(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    write_jsonl(tmp_path / "train.jsonl", text_rows(30))
    (tmp_path / "compound.yaml").write_text(
        "name: t\nloop: prediction\ntask: Test.\nmodels:\n  intent:\n    kind: predictor\n"
        "    task: text_classification\n    dataset: train.jsonl\n    target: label\n"
        "    candidates:\n      - {learner: lightgbm_lambdarank}\n")
    with pytest.raises(SystemExit) as exit_:
        main(["check", str(tmp_path)])
    assert exit_.value.code == 2
    output = " ".join(capsys.readouterr().err.split())
    assert "compound.yaml:10: models.intent.candidates: candidate 1 (lightgbm_lambdarank)" in (
        output), output


def test_train_prints_the_comparison_and_models_show_keeps_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    write_jsonl(tmp_path / "train.jsonl", text_rows(200))
    make_system(tmp_path, CHOOSING)
    main(["train", str(tmp_path), "intent"])
    trained = capsys.readouterr().out
    assert "learners compared (accuracy, 5-fold cross-validation" in trained, trained
    chosen = next(line for line in trained.splitlines() if "chosen" in line)
    assert "tfidf_linear" in chosen and "±" in chosen and "max_features" not in chosen
    main(["models", "show", str(tmp_path), "intent"])
    shown = capsys.readouterr().out
    with open_store(System.load(tmp_path)) as store:
        trained_rows = ModelRegistry(store).get("intent", 1).data["train"]["rows"]
    assert "learner chosen" in shown, shown
    assert f"5 folds of {trained_rows} training rows; 2 other(s) compared" in shown, shown


@pytest.mark.ray
def test_candidate_folds_as_ray_tasks_make_the_local_choice(ray_cluster: object,
                                                             tmp_path: Path) -> None:
    from compound.scale.fan_out import RayFanOut

    class Counted(RayFanOut):
        items = 0

        def map(self, fn, shared, items):  # type: ignore[no-untyped-def]
            Counted.items += len(items)
            return super().map(fn, shared, items)

    write_jsonl(tmp_path / "train.jsonl", text_rows(200))
    system = make_system(tmp_path, CHOOSING)
    local = train(system, "intent", register=False)
    on_ray = train(system, "intent", register=False, fan_out=Counted())
    assert Counted.items == 15  # three entries, five folds each, each a Ray task
    assert local.selection is not None and on_ray.selection is not None
    assert [c.scores for c in on_ray.selection.candidates] == [
        c.scores for c in local.selection.candidates]
    assert on_ray.selection.chosen == local.selection.chosen == 1
    assert on_ray.metrics == local.metrics
