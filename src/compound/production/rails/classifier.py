"""The injection rail's ML stage: a text classifier trained through the ML layer.

The rail needs one number per text, the probability that it is an injection. Anything with
``predict_proba(texts)`` gives it (:class:`Classifier`); :class:`ModelClassifier` is the one
compound ships, a :class:`~compound.intelligence.ml.Predictor` over the ML layer's
``tfidf_linear`` learner (word and character n-grams, a linear SVM, sigmoid-calibrated).

A text is scored as itself and as its sentences (or, when long, a bounded number of windows,
see :func:`~compound.production.rails.normalization.segments`), and its probability is the
highest: an instruction appended to a harmless request is scored on its own.

:func:`train_classifier` fits it on a JSONL file of ``text``/``label`` rows and picks the
operating threshold **by cross-validation on that file alone** (never on test data): with
``folds``-fold out-of-fold scores, combined with the phrase heuristics as the rail combines
them, it takes the lowest threshold whose out-of-fold false-positive rate is at most
``target_fpr``. The sigmoid calibration is fitted on the same out-of-fold scores.

Example:
    >>> import numpy as np
    >>> FixedClassifier({"ignore that": 0.99}).predict_proba(["ignore that", "hi"]).tolist()
    [0.99, 0.0]
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from compound.errors import UserError
from compound.production.rails import heuristics
from compound.production.rails.normalization import normalize, segments

if TYPE_CHECKING:
    from compound.intelligence.ml.model import TrainedModel

#: Names the recipe below; change it when the recipe changes, so cached models retrain.
RECIPE = "rails.injection/1"
#: The ML layer learner and its parameters (see compound.intelligence.ml.params).
LEARNER = "tfidf_linear"
PARAMS: dict[str, Any] = {"word_ngrams": [1, 2], "char_ngrams": [2, 5], "model": "svm", "C": 0.5}


class Classifier(Protocol):
    """Scores texts: the probability that each is a prompt injection."""

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """One probability per text, in order."""
        ...


class FixedClassifier:
    """A fake: the probability of each known text, 0 for the others (for tests).

    Args:
        scores: text to probability.
        default: the probability of a text not in ``scores``.
    """

    def __init__(self, scores: Mapping[str, float], *, default: float = 0.0) -> None:
        self.scores = dict(scores)
        self.default = default

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return np.array([self.scores.get(t, self.default) for t in texts], dtype=float)


@dataclass(frozen=True)
class TrainingReport:
    """How the classifier was trained and how its threshold was chosen.

    Attributes:
        threshold: block at or above this combined score.
        selection: how the threshold was chosen, in words.
        metrics: out-of-fold precision, recall, F1 and false-positive rate, for the ML stage
            alone (``ml_*``) and combined with the heuristics.
        rows: training rows (and injections among them).
        seconds: training time.
    """

    threshold: float
    selection: str
    metrics: dict[str, float]
    rows: dict[str, int]
    seconds: float
    recipe: str = RECIPE
    data: dict[str, Any] = field(default_factory=dict)


class ModelClassifier:
    """A text classifier of the ML layer, scoring each text as its most suspicious segment.

    Args:
        model: a trained binary text classifier (one text feature).
        positive: the label meaning "injection".
        max_segments: most segments scored per text (bounds the work on long texts).
        window: segment size for long texts, in characters.
        training: what is known of how it was trained (its registry version, how the
            threshold was chosen, out-of-fold metrics), shown by ``compound guard --explain``.
    """

    def __init__(self, model: TrainedModel, *, positive: Any = 1, max_segments: int = 24,
                 window: int = 600, training: Mapping[str, Any] | None = None) -> None:
        from compound.intelligence.ml import Predictor

        classes = list(model.classes or [])
        if positive not in classes:
            raise UserError(
                f"the injection classifier's classes are {classes}; none is the positive "
                f"label {positive!r}. Set 'positive_label' on the rail to the label that means "
                "'injection'"
            )
        self.model = model
        self.positive = positive
        self.max_segments = max_segments
        self.window = window
        self.training: dict[str, Any] = dict(training or {})
        self.predictor = Predictor(name="injection", model=model, alternatives=len(classes))

    @property
    def threshold(self) -> float | None:
        """The threshold chosen when it was trained, if it was trained by this module."""
        value = self.model.extra.get("threshold")
        return None if value is None else float(value)

    def segment_proba(self, pieces: Sequence[str]) -> np.ndarray:
        """The positive probability of each piece, scored as given."""
        found = self.predictor.predict_batch(list(pieces))
        return np.array([p.probability if p.label == self.positive else
                         dict(p.alternatives).get(self.positive, 0.0) for p in found],
                        dtype=float)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """The highest segment probability of each (already normalised) text."""
        pieces: list[str] = []
        owner: list[int] = []
        for index, text in enumerate(texts):
            parts, _ = segments(text, window=self.window, max_segments=self.max_segments)
            pieces.extend(parts or [""])
            owner.extend([index] * max(len(parts), 1))
        proba = self.segment_proba(pieces)
        best = np.zeros(len(texts))
        np.maximum.at(best, np.array(owner, dtype=int), proba)
        return best


def read_examples(path: str | Path, *, positive: Any = 1) -> tuple[list[str], np.ndarray]:
    """Texts (normalised) and 0/1 labels of a ``text``/``label`` JSONL, CSV or Parquet file.

    Raises:
        UserError: the file lacks the columns, or has no example of one class.
    """
    from compound.intelligence.ml.data import read_table

    frame = read_table(path)
    missing = [c for c in ("text", "label") if c not in frame.columns]
    if missing:
        raise UserError(f"{path}: no column {', '.join(missing)}; the injection classifier "
                        f"trains on rows with 'text' and 'label' (columns: "
                        f"{', '.join(map(str, frame.columns))})")
    texts = [normalize(str(t)).text for t in frame["text"]]
    labels = np.array([1 if v == positive else 0 for v in frame["label"]], dtype=int)
    if labels.min(initial=1) == labels.max(initial=0):
        raise UserError(f"{path}: every row has the same label; the classifier needs both "
                        f"injections (label {positive!r}) and benign rows")
    return texts, labels


def train_classifier(
    path: str | Path,
    *,
    folds: int = 5,
    target_fpr: float = 0.05,
    seed: int = 0,
    params: Mapping[str, Any] | None = None,
    positive: Any = 1,
    progress: Callable[[float, str], None] | None = None,
) -> tuple[TrainedModel, TrainingReport]:
    """Train the ML stage through the ML layer and choose its threshold by cross-validation.

    Args:
        path: training rows with ``text`` and ``label``.
        folds: cross-validation folds for the out-of-fold scores.
        target_fpr: the highest out-of-fold false-positive rate the threshold may give.
        seed: for the fold assignment and the learner.
        params: ``tfidf_linear`` parameters (default :data:`PARAMS`).
        positive: the label meaning "injection".
        progress: called with (fraction done, stage).

    Returns:
        the fitted model (its ``extra`` holds the threshold) and the report.
    """
    from compound.intelligence.ml.calibration import make_calibrator
    from compound.intelligence.ml.learners import learner_class
    from compound.intelligence.ml.model import TrainedModel
    from compound.intelligence.ml.params import params_for
    from compound.intelligence.ml.schema import FeatureSchema

    started = time.perf_counter()
    report = progress or (lambda fraction, stage: None)
    texts, y = read_examples(path, positive=positive)
    schema = FeatureSchema(("text",), {"text": "text"})
    learner_params = params_for(LEARNER, dict(params if params is not None else PARAMS))

    def fit(rows: np.ndarray) -> Any:
        learner = learner_class(LEARNER)(task="text_classification", params=learner_params,
                                         schema=schema, seed=seed)
        learner.fit(_frame([texts[i] for i in rows]), y[rows], n_classes=2)
        return learner

    whole = np.zeros((len(texts), 2))
    best = np.zeros((len(texts), 2))
    for fold, held in enumerate(_folds(y, folds, seed)):
        report(fold / (folds + 1), f"cross-validation fold {fold + 1}/{folds}")
        learner = fit(np.setdiff1d(np.arange(len(y)), held))
        for index in held:
            parts, _ = segments(texts[index])
            scores = learner.scores(_frame(parts))
            whole[index] = scores[0]
            best[index] = scores[int(np.argmax(scores[:, 1] - scores[:, 0]))]
    calibrator = make_calibrator("sigmoid", n_classes=2, n_rows=len(y))
    calibrator.fit(whole, y)
    ml_oof = calibrator.proba(best)[:, 1]
    rules = np.array([heuristics.score(heuristics.scan(t)) for t in texts])
    combined = np.maximum(ml_oof, rules)
    threshold = choose_threshold(combined, y, target_fpr=target_fpr)
    report(folds / (folds + 1), "fitting on every row")
    model = TrainedModel(task="text_classification", learner=fit(np.arange(len(y))),
                         schema=schema, classes=[0, 1], calibrator=calibrator)
    metrics = {f"ml_{k}": v for k, v in rates(ml_oof, y, threshold).items()}
    metrics.update(rates(combined, y, threshold))
    selection = (f"lowest threshold with out-of-fold false-positive rate <= {target_fpr} "
                 f"({folds}-fold cross-validation on the training file, ML stage combined "
                 "with the heuristics)")
    model.extra = {"recipe": RECIPE, "threshold": threshold, "target_fpr": target_fpr,
                   "folds": folds}
    report(1.0, "done")
    return model, TrainingReport(
        threshold=threshold, selection=selection, metrics=metrics,
        rows={"train": len(y), "injections": int(y.sum())},
        seconds=time.perf_counter() - started)


def choose_threshold(scores: np.ndarray, y: np.ndarray, *, target_fpr: float) -> float:
    """The lowest threshold (``score >= threshold`` flags) with false-positive rate at most
    ``target_fpr`` on these scores: just above the benign score that would exceed it.

    Example:
        >>> choose_threshold(np.array([0.1, 0.2, 0.3, 0.9, 0.8]), np.array([0, 0, 0, 1, 1]),
        ...                  target_fpr=0.0) > 0.3
        True
    """
    benign = np.sort(scores[y == 0])[::-1]
    allowed = int(np.floor(target_fpr * len(benign) + 1e-9))
    if allowed >= len(benign):
        return float(np.min(scores))
    return float(np.nextafter(benign[allowed], np.inf))


def rates(scores: np.ndarray, y: np.ndarray, threshold: float) -> dict[str, float]:
    """Precision, recall, F1 and false-positive rate of ``scores >= threshold``."""
    flagged = scores >= threshold
    tp = int(np.sum(flagged & (y == 1)))
    fp = int(np.sum(flagged & (y == 0)))
    fn = int(np.sum(~flagged & (y == 1)))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    negatives = int(np.sum(y == 0))
    return {"precision": precision, "recall": recall, "f1": f1,
            "fpr": fp / negatives if negatives else 0.0}


def _folds(y: np.ndarray, folds: int, seed: int) -> list[np.ndarray]:
    """Stratified fold assignment: each class dealt round-robin after a seeded shuffle."""
    if folds < 2:
        raise UserError(f"cross-validation needs at least 2 folds; received {folds}")
    rng = np.random.default_rng(seed)
    assignment = np.zeros(len(y), dtype=int)
    for value in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == value))
        assignment[members] = np.arange(len(members)) % folds
    return [np.flatnonzero(assignment == k) for k in range(folds)]


def _frame(texts: Sequence[str]) -> Any:
    from compound.intelligence.ml.data import pandas_module

    return pandas_module().DataFrame({"text": list(texts)})
