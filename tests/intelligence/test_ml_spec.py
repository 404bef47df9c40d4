"""A predictor's spec: learner, params, group and embedder are checked when the spec loads,
with the file, line and a did-you-mean."""

from __future__ import annotations

import pytest

from compound.errors import SpecError
from compound.system import System

HEAD = "name: s\nloop: prediction\ntask: t\nmodels:\n  m:\n    kind: predictor\n"


def load(body: str) -> System:
    return System.from_yaml(HEAD + body, source="compound.yaml")


def test_defaults() -> None:
    spec = load("    task: tabular_classification\n    dataset: d.csv\n    target: y\n"
                ).predictors()["m"]
    assert spec.learner_name == "lightgbm"
    assert (spec.split.test, spec.split.calibration, spec.split.seed) == (0.2, 0.15, 0)
    assert spec.calibration == "auto" and spec.criteria is None


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("    task: text_classification\n    dataset: d.jsonl\n    target: y\n"
         "    params: {Cc: 1}\n",
         "compound.yaml:10: models.m.params: params of learner 'tfidf_linear': Cc: unknown key "
         "'Cc' (did you mean 'C'?)"),
        ("    task: text_classification\n    dataset: d.jsonl\n    target: y\n"
         "    learner: lightgbm\n",
         "compound.yaml:10: models.m.learner: learner 'lightgbm' does not do "
         "text_classification"),
        ("    task: regression\n    dataset: d.csv\n    target: y\n    learner: xgboost\n",
         "unknown learner 'xgboost'"),
        ("    task: ranking\n    dataset: d.csv\n    target: y\n", "needs 'group'"),
        ("    task: regression\n    dataset: d.csv\n    target: y\n    group: q\n",
         "'group' applies to ranking only"),
        ("    task: regression\n    dataset: d.csv\n    target: y\n    embedder: minilm\n",
         "'embedder' applies to text_classification only"),
        ("    task: regression\n    dataset: d.csv\n    target: y\n    features: [a, y]\n",
         "compound.yaml:10: models.m.features: 'features' lists the target 'y'"),
        ("    task: regression\n    dataset: d.csv\n    target: y\n    features: [a]\n"
         "    categorical: [b]\n", "names b, which 'features' does not list"),
        ("    task: regression\n    dataset: d.csv\n    target: y\n    calibration: platt\n",
         "models.m.calibration"),
        ("    task: regression\n    dataset: d.csv\n    target: y\n    split: {tset: 0.1}\n",
         "unknown key 'tset' (did you mean 'test'?)"),
        ("    task: regression\n    dataset: d.csv\n    target: y\n"
         "    params: {learning_rate: 2}\n", "learning_rate: Input should be less than or"),
    ],
)
def test_mistakes_are_reported_where_they_are(body: str, expected: str) -> None:
    with pytest.raises(SpecError) as caught:
        load(body)
    assert expected in str(caught.value)
