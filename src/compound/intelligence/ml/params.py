"""The learners a predictor can name, and the parameters each takes.

This module imports nothing heavy: the spec validates ``learner`` and ``params`` with it when a
`compound.yaml` loads, so a misspelt parameter is reported with its file and line before any
training starts.

========================  =================================  =========================
learner                   what it is                         tasks
========================  =================================  =========================
``tfidf_linear``          TF-IDF word and character n-grams  text_classification
                          (plus sentence embeddings when the
                          predictor names an ``embedder``)
                          with a linear SVM or logistic
                          regression
``lightgbm``              gradient-boosted trees, native     tabular_classification,
                          categorical columns                regression
``lightgbm_lambdarank``   LightGBM with the lambdarank       ranking
                          objective (optimises nDCG)
========================  =================================  =========================

Example:
    >>> default_learner("ranking")
    'lightgbm_lambdarank'
    >>> params_for("tfidf_linear", {"C": 2.0}).C
    2.0
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from compound.errors import UserError
from compound.specfile import SpecModel, did_you_mean

Task = Literal["text_classification", "tabular_classification", "regression", "ranking"]
CLASSIFICATION_TASKS = ("text_classification", "tabular_classification")


class TextLinearParams(SpecModel):
    """Parameters of ``tfidf_linear``.

    ``word_ngrams`` and ``char_ngrams`` are inclusive ``[min, max]`` n-gram lengths; character
    n-grams are taken inside word boundaries (``char_wb``), which is robust to typos. Set
    ``char_ngrams`` to null to use words only. Character n-grams up to 4 rather than 5 scored
    the same on Banking77 (0.907 against 0.906 test accuracy) and predict about half again as
    fast, since building the n-grams is most of the prediction time.
    """

    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] | None = (2, 4)
    word_min_df: int = Field(default=1, ge=1)
    char_min_df: int = Field(default=2, ge=1)
    sublinear_tf: bool = True
    max_features: int | None = Field(default=None, gt=0)
    model: Literal["svm", "logistic"] = "svm"
    C: float = Field(default=0.5, gt=0)
    class_weight: Literal["balanced"] | None = None
    max_iter: int = Field(default=2000, gt=0)
    embedding_weight: float = Field(
        default=1.5, gt=0, description="scale of the embedding block against the n-gram block"
    )

    @model_validator(mode="after")
    def _ranges_ordered(self) -> TextLinearParams:
        for name in ("word_ngrams", "char_ngrams"):
            pair = getattr(self, name)
            if pair is not None and not 1 <= pair[0] <= pair[1]:
                raise ValueError(f"{name} must be [min, max] with 1 <= min <= max; got {pair}")
        return self


class LightGBMParams(SpecModel):
    """Parameters of ``lightgbm`` and ``lightgbm_lambdarank``.

    Training stops early when the held-out ``validation_fraction`` of the training rows has
    not improved for ``early_stopping_rounds`` rounds (0 turns early stopping off and trains
    ``n_estimators`` trees). Leaves hold at least ``min_child_samples`` rows; by default that
    grows with the data (0.5% of it), which keeps trees few and shallow on large tables:
    fewer trees score faster, and on the Adult and credit-default tables scored as well as
    three times as many smaller ones (see ``bench/ml.py``).
    """

    n_estimators: int = Field(default=1000, gt=0)
    learning_rate: float = Field(default=0.1, gt=0, le=1)
    num_leaves: int = Field(default=31, ge=2)
    max_depth: int = -1
    min_child_samples: int | None = Field(
        default=None, ge=1, description="None: 0.5% of the training rows, at least 20"
    )
    subsample: float = Field(default=0.8, gt=0, le=1)
    colsample_bytree: float = Field(default=0.7, gt=0, le=1)
    reg_lambda: float = Field(default=1.0, ge=0)
    early_stopping_rounds: int = Field(default=50, ge=0)
    validation_fraction: float = Field(default=0.1, gt=0, lt=1)
    threads: int | None = Field(default=None, gt=0, description="None: every core")
    ndcg_at: list[int] = Field(default_factory=lambda: [10], description="lambdarank only")


LEARNERS: dict[str, tuple[type[SpecModel], tuple[str, ...]]] = {
    "tfidf_linear": (TextLinearParams, ("text_classification",)),
    "lightgbm": (LightGBMParams, ("tabular_classification", "regression")),
    "lightgbm_lambdarank": (LightGBMParams, ("ranking",)),
}

DEFAULT_LEARNER: dict[str, str] = {
    "text_classification": "tfidf_linear",
    "tabular_classification": "lightgbm",
    "regression": "lightgbm",
    "ranking": "lightgbm_lambdarank",
}


def default_learner(task: str) -> str:
    """The learner a task gets when the spec names none."""
    return DEFAULT_LEARNER[task]


def check_learner(learner: str, task: str) -> None:
    """Raise ValueError when ``learner`` is unknown or does not fit ``task``."""
    if learner not in LEARNERS:
        raise ValueError(
            f"unknown learner '{learner}'{did_you_mean(learner, LEARNERS)}; "
            f"available: {', '.join(LEARNERS)}"
        )
    tasks = LEARNERS[learner][1]
    if task not in tasks:
        raise ValueError(
            f"learner '{learner}' does not do {task} (it does {', '.join(tasks)}); use "
            f"'{DEFAULT_LEARNER[task]}' or leave 'learner' out"
        )


def params_for(learner: str, params: dict[str, Any]) -> Any:
    """The validated parameter object of ``learner``.

    Raises:
        UserError: an unknown parameter (with a did-you-mean) or a value of the wrong type.
    """
    model = LEARNERS[learner][0]
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'params'}: "
            f"{e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise UserError(f"params of learner '{learner}': {problems}") from None
