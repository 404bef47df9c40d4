"""Why a model scored an input as it did: per-feature contributions from tree learners
(``Predictor.explain``, and a predictor step's ``explain`` option)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ml_cases import (
    TABULAR_MODEL,
    TEXT_MODEL,
    make_system,
    regression_rows,
    tabular_rows,
    text_rows,
    write_csv,
    write_jsonl,
)

from compound.errors import UserError
from compound.intelligence.ml import Contribution, NotExplainable, Predictor, train
from compound.intelligence.registry import ModelRegistry
from compound.store import open_store
from compound.system import System

pytest.importorskip("sklearn")
pytest.importorskip("lightgbm")

CUSTOMER = {"income": 80.0, "city": "pune", "noise": 0.3}


@pytest.fixture(scope="module")
def churn(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A binary tabular model (income and city drive the target; noise does not)."""
    folder = tmp_path_factory.mktemp("churn")
    write_csv(folder / "customers.csv", tabular_rows(1500))
    return train(make_system(folder, TABULAR_MODEL), "churn", register=False)


def raw_log_odds(result: Any, example: dict[str, Any]) -> float:
    """The learner's uncalibrated log-odds of class 1 for one input."""
    import pandas as pd

    encoded = result.model.schema.encode(pd.DataFrame([example]))
    scores = result.model.learner.scores(encoded)[0]
    return float(scores[1] - scores[0])


def test_contributions_name_the_features_that_drive_the_score(churn: Any) -> None:
    predictor = Predictor(name="churn", model=churn.model)
    found = predictor.explain(CUSTOMER, top=2, label=1)
    assert all(isinstance(c, Contribution) for c in found)
    assert [c.feature for c in found] == ["income", "city"]  # never the noise column
    assert {c.feature: c.value for c in found} == {"income": 80.0, "city": "pune"}
    assert all(c.contribution > 0 for c in found)  # high income and pune both raise churn
    everything = predictor.explain(CUSTOMER, top=10, label=1)
    magnitudes = [abs(c.contribution) for c in everything]
    assert len(everything) == 3 and magnitudes == sorted(magnitudes, reverse=True)


def test_contributions_add_up_to_the_raw_score(churn: Any) -> None:
    import pandas as pd

    encoded = churn.model.schema.encode(pd.DataFrame([CUSTOMER]))
    blocks = churn.model.learner.contributions(encoded)
    assert blocks.shape == (1, 2, 4)  # one row, two classes, three features and the bias
    assert blocks[0, 1].sum() == pytest.approx(raw_log_odds(churn, CUSTOMER), abs=1e-6)
    np.testing.assert_allclose(blocks[0, 0], -blocks[0, 1])


def test_the_class_explained_defaults_to_the_predicted_one(churn: Any) -> None:
    predictor = Predictor(name="churn", model=churn.model)
    low = {"income": 20.0, "city": "oslo", "noise": 0.0}
    assert predictor.run(low).label == 0
    toward_zero = predictor.explain(low)
    toward_one = predictor.explain(low, label=1)
    assert [c.feature for c in toward_zero] == [c.feature for c in toward_one]
    assert [c.contribution for c in toward_zero] == pytest.approx(
        [-c.contribution for c in toward_one])
    assert predictor.explain(low, label="1") == toward_one  # a label as text finds the class


def test_a_batch_explains_each_input_as_one_at_a_time_would(churn: Any) -> None:
    rows = [{"income": float(i), "city": city, "noise": 0.0}
            for i, city in zip(range(20, 100, 8), ["oslo", "pune", "rome", "lima"] * 3,
                               strict=False)]
    predictor = Predictor(name="churn", model=churn.model, batch_size=3)
    labels = {p.label for p in predictor.predict_batch(rows)}
    assert labels == {0, 1}  # so "the predicted class" differs between rows
    assert predictor.explain_batch(rows, top=2) == [predictor.explain(r, top=2) for r in rows]
    assert predictor.explain_batch(rows, label=1) == [predictor.explain(r, label=1)
                                                      for r in rows]


def test_explaining_checks_its_arguments(churn: Any) -> None:
    predictor = Predictor(name="churn", model=churn.model)
    with pytest.raises(UserError, match=r"model 'churn' has no class 7; its classes: 0, 1"):
        predictor.explain(CUSTOMER, label=7)
    with pytest.raises(UserError, match="top must be at least 1; received 0"):
        predictor.explain(CUSTOMER, top=0)
    with pytest.raises(UserError, match=r"input 0 has no 'noise'"):
        predictor.explain({"income": 1.0, "city": "pune"})
    with pytest.raises(UserError, match="numeric feature 'income' holds non-numbers"):
        predictor.explain({**CUSTOMER, "income": "lots"})


def test_a_registered_version_explains_as_the_trained_model_did(tmp_path: Path) -> None:
    write_csv(tmp_path / "customers.csv", tabular_rows(800))
    system = make_system(tmp_path, TABULAR_MODEL)
    result = train(system, "churn")
    in_memory = Predictor(name="churn", model=result.model).explain(CUSTOMER, label=1)
    with open_store(system) as store:
        loaded = Predictor(name="churn", store=store, version=1).explain(CUSTOMER, label=1)
    assert loaded == in_memory


def test_multiclass_contributions_explain_the_class_asked_for(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(900, 2))
    rows = [{"a": float(a), "b": float(b), "kind": ["left", "middle", "right"][int(
        np.digitize(a, [-0.5, 0.5]))]} for a, b in x]
    write_csv(tmp_path / "points.csv", rows)
    system = make_system(tmp_path, "points:\n  kind: predictor\n  task: tabular_classification\n"
                         "  dataset: points.csv\n  target: kind\n")
    result = train(system, "points", register=False)
    predictor = Predictor(name="points", model=result.model)
    example = {"a": 1.5, "b": 0.0}
    assert predictor.run(example).label == "right"
    right, left = predictor.explain(example, top=1), predictor.explain(example, top=1,
                                                                       label="left")
    assert right[0].feature == left[0].feature == "a"
    assert right[0].contribution > 0 > left[0].contribution


def test_regression_explains_the_value_and_takes_no_label(tmp_path: Path) -> None:
    write_csv(tmp_path / "values.csv", regression_rows(600))
    system = make_system(tmp_path, "y:\n  kind: predictor\n  task: regression\n"
                         "  dataset: values.csv\n  target: y\n")
    predictor = Predictor(name="y", model=train(system, "y", register=False).model)
    found = predictor.explain({"a": 2.0, "b": 0.0})
    assert found[0].feature == "a" and found[0].contribution > 1.0  # y = 3a - 2b
    with pytest.raises(UserError, match="regression model; it has no classes"):
        predictor.explain({"a": 2.0, "b": 0.0}, label=1)


def test_a_text_model_says_it_cannot_explain(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "train.jsonl", text_rows(120))
    result = train(make_system(tmp_path, TEXT_MODEL), "intent", register=False)
    with pytest.raises(NotExplainable, match=r"'tfidf_linear' learner cannot attribute .*"
                                             r"learner: lightgbm"):
        Predictor(name="intent", model=result.model).explain("i lost my card")


# -- the predictor step's explain option -----------------------------------------------------

WORKFLOW = """\
name: test
loop: prediction
task: Score customers.
store: {{path: store.db}}
models:
  {model}
workflows:
  score:
    steps:
      - {{name: churn, uses: {name}, needs: [], options: {options}}}
"""


def tabular_spec(folder: Path, options: str) -> System:
    model = ("churn: {kind: predictor, task: tabular_classification, dataset: customers.csv, "
             "target: churn, features: [income, city, noise]}")
    (folder / "compound.yaml").write_text(WORKFLOW.format(model=model, name="churn",
                                                          options=options))
    return System.load(folder)


def test_a_step_attaches_the_contributions_of_the_version_that_scored(tmp_path: Path) -> None:
    from compound.workflow.loader import build_workflow

    write_csv(tmp_path / "customers.csv", tabular_rows(800))
    system = tabular_spec(tmp_path, "{explain: {top: 2, label: 1}}")
    train(system, "churn")
    with open_store(system) as store:
        ModelRegistry(store).promote("churn", criteria={})
        expected = Predictor(name="churn", store=store).explain(CUSTOMER, top=2, label=1)
    output = build_workflow(system, "score").run(**CUSTOMER).output
    assert output.version == 1 and output.label == 1
    assert list(output.contributions) == expected
    plain = tabular_spec(tmp_path, "{}")
    assert build_workflow(plain, "score").run(**CUSTOMER).output.contributions == ()


def test_a_served_step_keeps_its_contributions_when_requests_are_batched(tmp_path: Path) -> None:
    from compound.production.serving.batcher import batch_function
    from compound.workflow.loader import build_workflow

    write_csv(tmp_path / "customers.csv", tabular_rows(800))
    system = tabular_spec(tmp_path, "{explain: {top: 2, label: 1}}")
    train(system, "churn")
    with open_store(system) as store:
        ModelRegistry(store).promote("churn", criteria={})
    step = next(s for s in build_workflow(system, "score").steps if s.name == "churn")
    score_batch = batch_function(step.target)
    assert score_batch is not None
    other = {"income": 30.0, "city": "oslo", "noise": 0.0}
    batched = score_batch([CUSTOMER, other])
    assert [p.contributions for p in batched] == [
        step.target.run(None, **CUSTOMER).contributions,
        step.target.run(None, **other).contributions]
    assert all(len(p.contributions) == 2 for p in batched)


@pytest.mark.parametrize(("options", "message"), [
    ("{explain: 0}", "explain must be a number of features"),
    ("{explain: {top: 2, why: yes}}", "explain must be a number of features"),
    ("{explain: 2, depth: 1}", r"options \['depth'\] are not predictor step options"),
])
def test_step_explain_option_is_checked_at_build(
    tmp_path: Path, options: str, message: str
) -> None:
    from compound.workflow.loader import build_workflow

    with pytest.raises(UserError, match=message):
        build_workflow(tabular_spec(tmp_path, options), "score")


def test_step_refuses_to_explain_a_text_model_at_build(tmp_path: Path) -> None:
    from compound.workflow.loader import build_workflow

    model = ("intent: {kind: predictor, task: text_classification, dataset: train.jsonl, "
             "target: label, features: [text]}")
    (tmp_path / "compound.yaml").write_text(WORKFLOW.format(model=model, name="intent",
                                                            options="{explain: 3}"))
    with pytest.raises(UserError, match="'tfidf_linear' learner, which cannot attribute"):
        build_workflow(System.load(tmp_path), "score")
