"""The injection rail's ML stage: a text classifier trained through the ML layer.

The rail needs one number per text, the probability that it is an injection. Anything with
``predict_proba(texts)`` gives it (:class:`Classifier`); :class:`ModelClassifier` is the one
compound ships, a :class:`~compound.intelligence.ml.Predictor` over the ML layer's
``tfidf_linear`` learner (word and character n-grams and, where ``compound[retrieval]`` is
installed, MiniLM sentence embeddings; a linear SVM, sigmoid-calibrated).

The embeddings are what lets the classifier recognise an instruction it has not seen
phrased that way: with them, recall on the held-out deepset test attacks went from 0.883 to
0.933 at the same false-positive target (``bench/guardrails.py``). The block's weight is the
ML layer's default (1.5); of 0.75, 1.5 and 3 it gave the best out-of-fold recall on the
training rows, so the choice was made on training rows only.

Embedding a text costs several times what its n-grams cost, and almost all traffic is
plainly benign, so the embedding model sits behind a **screen**
(:class:`ScreenedClassifier`): the same classifier on n-grams alone, trained on the same
rows and folds. A text whose screen score is below ``skip_below`` is allowed on that score
without being embedded. ``skip_below`` is chosen out of fold, on training rows only (see
:func:`choose_skip`): half the lowest screen score of any row the full classifier flags, so
that no out-of-fold detection is lost. With the default benign traffic it decided 52% of the
Banking77 test questions alone, and the ML stage's median went from 3.7 ms (n-grams alone) to
8.8 ms on those questions, and from 5.0 to 21.3 ms on the deepset test texts
(``bench/guardrails.py``, load 1.5 to 3.5 on 2 cores); ``embedder: none`` on the rail keeps the
n-grams alone.

A text is scored as itself and as its sentences (or, when long, a bounded number of windows,
see :func:`~compound.production.rails.normalization.segments`), and its probability is the
highest: an instruction appended to a harmless request is scored on its own.

:func:`train_classifier` fits it on a JSONL file of ``text``/``label`` rows, with files of
benign traffic (ordinary requests, every row benign) as further negatives, and picks the
operating threshold **by cross-validation on those files alone** (never on test data): with
``folds``-fold out-of-fold scores, combined with the phrase heuristics as the rail combines
them, it takes the lowest threshold whose out-of-fold false-positive rate is at most
``target_fpr`` on *each* benign traffic file and at most :data:`FILE_FPR` on the training
file's own benign rows. Asking it of each source, the unlike training file included, rather
than of the traffic's mix is what keeps the rate on traffic of another kind: a threshold
fitted to banking and voice-assistant requests alone flagged a quarter of encyclopaedia and
biomedical questions. The sigmoid calibration is fitted on the same out-of-fold scores.

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
    from compound.intelligence.embedders import Embedder
    from compound.intelligence.ml.model import TrainedModel

#: Names the recipe below; change it when the recipe changes, so cached models retrain.
RECIPE = "rails.injection/3"
#: The ML layer learner and its parameters (see compound.intelligence.ml.params).
LEARNER = "tfidf_linear"
PARAMS: dict[str, Any] = {"word_ngrams": [1, 2], "char_ngrams": [2, 5], "model": "svm", "C": 0.5}
#: The embedder whose vectors join the n-grams (when its extra is installed).
EMBEDDER = "minilm"
#: The false-positive rate on benign traffic the threshold is chosen for, by default.
TARGET_FPR = 0.01
#: With benign traffic, the highest out-of-fold false-positive rate on the training file's
#: own benign rows (unlike the traffic: a rate held on the traffic alone does not carry over)
FILE_FPR = 0.05
#: At most this many rows of each benign traffic file join the training (a seeded sample).
BENIGN_ROWS = 1000


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
    #: out-of-fold probability of the ML stage for every training row (file, then traffic)
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)


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


def read_benign(paths: Sequence[str | Path], *, rows: int, seed: int
                ) -> tuple[list[str], list[int]]:
    """Texts (normalised) of benign traffic files: at most ``rows`` of each, a seeded sample,
    and the index of the file each came from. Every row counts as benign; a ``label`` column,
    if any, is the file's own (an intent) and is not read.

    Raises:
        UserError: a file has no ``text`` column or no rows.
    """
    from compound.intelligence.ml.data import read_table

    texts: list[str] = []
    source: list[int] = []
    for index, path in enumerate(paths):
        frame = read_table(path)
        if "text" not in frame.columns or len(frame) == 0:
            raise UserError(f"{path}: the benign data of the injection rail needs rows with a "
                            f"'text' column (columns: {', '.join(map(str, frame.columns))}, "
                            f"{len(frame)} rows)")
        found = list(dict.fromkeys(normalize(str(t)).text for t in frame["text"]))
        if len(found) > rows:
            keep = np.sort(np.random.default_rng(seed + index).choice(len(found), rows,
                                                                       replace=False))
            found = [found[i] for i in keep]
        texts += found
        source += [index + 1] * len(found)
    return texts, source


def train_classifier(
    path: str | Path,
    *,
    benign: Sequence[str | Path] = (),
    benign_rows: int = BENIGN_ROWS,
    folds: int = 5,
    target_fpr: float = TARGET_FPR,
    file_fpr: float = FILE_FPR,
    seed: int = 0,
    params: Mapping[str, Any] | None = None,
    positive: Any = 1,
    embedder: tuple[str, Embedder] | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> tuple[TrainedModel, TrainingReport]:
    """Train the ML stage through the ML layer and choose its threshold by cross-validation.

    The benign traffic files (``benign``) join the training rows as negatives, so that the
    classifier learns what ordinary requests look like, and they are where the threshold is
    chosen: every row, training file and benign traffic, is scored out of fold, and the
    threshold is the lowest whose out-of-fold false-positive rate is at most ``target_fpr`` on
    each traffic file and at most ``file_fpr`` on the training file's benign rows (at most
    ``target_fpr`` there when no traffic is given).

    Args:
        path: training rows with ``text`` and ``label``.
        benign: files of benign traffic (a ``text`` column; every row is benign).
        benign_rows: at most this many rows of each benign file (a seeded sample).
        folds: cross-validation folds for the out-of-fold scores.
        target_fpr: the highest out-of-fold false-positive rate on each traffic file.
        file_fpr: the highest on the training file's own benign rows, with traffic.
        seed: for the fold assignment, the benign sample and the learner.
        params: ``tfidf_linear`` parameters (default :data:`PARAMS`).
        positive: the label meaning "injection".
        embedder: ``(name, embedder)`` whose sentence vectors join the n-gram features (the
            name is what :func:`~compound.intelligence.embedders.make_embedder` rebuilds it
            from when the model is loaded); n-grams alone when None.
        progress: called with (fraction done, stage).

    Returns:
        the fitted model (its ``extra`` holds the threshold) and the report.
    """
    from compound.intelligence.embedders import CachedEmbedder, EmbeddingCache
    from compound.intelligence.ml.calibration import make_calibrator
    from compound.intelligence.ml.learners import learner_class
    from compound.intelligence.ml.model import TrainedModel
    from compound.intelligence.ml.params import params_for
    from compound.intelligence.ml.schema import FeatureSchema

    started = time.perf_counter()
    report = progress or (lambda fraction, stage: None)
    texts, y = read_examples(path, positive=positive)
    source = np.zeros(len(y), dtype=int)
    if benign:
        extra, where = read_benign(benign, rows=benign_rows, seed=seed)
        texts = [*texts, *extra]
        y = np.concatenate([y, np.zeros(len(extra), dtype=int)])
        source = np.concatenate([source, np.array(where, dtype=int)])
    schema = FeatureSchema(("text",), {"text": "text"})
    learner_params = params_for(LEARNER, dict(params if params is not None else PARAMS))
    # the folds and the final fit embed the same texts: each is embedded once
    vectors = None if embedder is None else CachedEmbedder(embedder[1],
                                                            EmbeddingCache(":memory:"))

    def fit(rows: np.ndarray) -> Any:
        learner = learner_class(LEARNER)(task="text_classification", params=learner_params,
                                         schema=schema, seed=seed, embedder=vectors)
        learner.fit(_frame([texts[i] for i in rows]), y[rows], n_classes=2)
        return learner

    whole = np.zeros((len(texts), 2))
    best = np.zeros((len(texts), 2))
    # folds keep each file's share and each class's, so every fold sees the traffic too
    for fold, held in enumerate(_folds(source * 2 + y, folds, seed)):
        report(fold / (folds + 1), f"cross-validation fold {fold + 1}/{folds}")
        learner = fit(np.setdiff1d(np.arange(len(y)), held))
        pieces: list[str] = []
        owner: list[int] = []
        for index in held:
            parts, _ = segments(texts[index])
            pieces += parts or [""]
            owner += [int(index)] * max(len(parts), 1)
        scores = learner.scores(_frame(pieces))  # one batch per fold
        mine = np.array(owner)
        starts = np.flatnonzero(np.r_[True, mine[1:] != mine[:-1]])
        for start, end in zip(starts, [*starts[1:], len(mine)], strict=True):
            chunk = scores[start:end]  # the text itself first, then its segments
            whole[mine[start]] = chunk[0]
            best[mine[start]] = chunk[int(np.argmax(chunk[:, 1] - chunk[:, 0]))]
    calibrator = make_calibrator("sigmoid", n_classes=2, n_rows=len(y))
    calibrator.fit(whole, y)
    ml_oof = calibrator.proba(best)[:, 1]
    rules = np.array([heuristics.score(heuristics.scan(t)) for t in texts])
    combined = np.maximum(ml_oof, rules)
    # the rate must hold on every source of benign rows, not on their mix: the training
    # file's benign rows are unlike the traffic, and a threshold fitted to the traffic alone
    # flags ordinary requests of any other kind
    threshold = max(choose_threshold(combined[source == s], y[source == s],
                                     target_fpr=target_fpr if s or not benign else file_fpr)
                    for s in np.unique(source))
    report(folds / (folds + 1), "fitting on every row")
    final = fit(np.arange(len(y)))
    recorded = None
    if embedder is not None:
        final.embedder = embedder[1]
        recorded = {"name": embedder[0], "model_id": embedder[1].model_id}
    model = TrainedModel(task="text_classification", learner=final, schema=schema,
                         classes=[0, 1], calibrator=calibrator, embedder=recorded)
    own = source == 0
    metrics = {f"ml_{k}": v for k, v in rates(ml_oof[own], y[own], threshold).items()}
    metrics.update(rates(combined[own], y[own], threshold))
    if benign:
        metrics["fpr_traffic"] = float(np.mean(combined[~own] >= threshold))
    where = (f"on each benign traffic file ({int((~own).sum()):,} rows of "
             + ", ".join(Path(p).name if Path(p).parent.name == "" else
                         f"{Path(p).parent.name}/{Path(p).name}" for p in benign)
             + f") and <= {file_fpr:g} on the training file's benign rows" if benign
             else "on the training file's benign rows")
    features = ("n-grams and " + embedder[0] + " embeddings") if embedder else "n-grams"
    selection = (f"lowest threshold with out-of-fold false-positive rate <= {target_fpr:g} "
                 f"{where}; {folds}-fold cross-validation over the training file and the "
                 f"benign traffic, ML stage ({features}) combined with the heuristics")
    model.extra = {"recipe": RECIPE, "threshold": threshold, "target_fpr": target_fpr,
                   "folds": folds, "benign": [str(p) for p in benign],
                   "embedder": None if embedder is None else embedder[0]}
    report(1.0, "done")
    return model, TrainingReport(
        threshold=threshold, selection=selection, metrics=metrics,
        rows={"train": int(own.sum()), "injections": int(y.sum()),
              "benign_traffic": int((~own).sum())},
        seconds=time.perf_counter() - started, scores=ml_oof)


class ScreenedClassifier:
    """A cheap classifier in front of a costly one: texts the screen scores below
    ``skip_below`` keep the screen's score; the others are scored by ``full``.

    Args:
        screen: the cheap classifier (n-grams alone).
        full: the costly one (n-grams and embeddings), whose threshold the rail uses.
        skip_below: screen scores below this skip ``full`` (see :func:`choose_skip`).

    Example:
        >>> screened = ScreenedClassifier(FixedClassifier({"ignore it": 0.4}),
        ...                               FixedClassifier({"ignore it": 0.97}), skip_below=0.1)
        >>> screened.predict_proba(["ignore it", "hello"]).tolist()
        [0.97, 0.0]
    """

    def __init__(self, screen: Classifier, full: Classifier, *, skip_below: float) -> None:
        self.screen = screen
        self.full = full
        self.skip_below = skip_below
        self.training: dict[str, Any] = dict(getattr(full, "training", {}) or {})

    @property
    def threshold(self) -> float | None:
        """The full classifier's threshold, which the rail applies."""
        value = getattr(self.full, "threshold", None)
        return None if value is None else float(value)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        found = np.asarray(self.screen.predict_proba(texts), dtype=float)
        costly = np.flatnonzero(found >= self.skip_below)
        if len(costly):
            found[costly] = self.full.predict_proba([texts[i] for i in costly])
        return found


def choose_skip(screen: np.ndarray, full: np.ndarray, threshold: float) -> float:
    """The screen score below which the full classifier need not run: half the lowest screen
    score of any row the full classifier flags (out-of-fold scores of the same rows), so
    that skipping loses none of its detections on them, with room to spare.

    Example:
        >>> choose_skip(np.array([0.001, 0.04, 0.3]), np.array([0.01, 0.6, 0.9]), 0.5)
        0.02
    """
    flagged = screen[full >= threshold]
    return float(flagged.min()) / 2 if len(flagged) else 0.0


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
