"""Training a predictor the spec declares: read, check, split, fit, calibrate, evaluate,
register.

:func:`train` never changes the production version. It registers the new model as a
*candidate* only after every step succeeded, in one store transaction; a run that fails at any
step leaves the registry exactly as it was, and a worse model is stopped later by the
promotion gate.

Example:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> rows = [{"text": t, "label": l} for t, l in [("lost card", "card"), ("card gone", "card"),
    ...         ("top up", "topup"), ("add money", "topup")] * 10]
    >>> import json
    >>> _ = (folder / "train.jsonl").write_text("\\n".join(json.dumps(r) for r in rows))
    >>> _ = (folder / "compound.yaml").write_text('''
    ... name: demo
    ... loop: prediction
    ... task: Classify requests.
    ... models:
    ...   intent: {kind: predictor, task: text_classification, dataset: train.jsonl,
    ...            target: label, features: [text]}
    ... ''')
    >>> from compound.system import System
    >>> result = train(System.load(folder), "intent")
    >>> result.record.version, result.record.stage, result.metrics["accuracy"]
    (1, 'candidate', 1.0)

Extra labelled rows (corrections from feedback, review resolutions) join the training rows
only, never the calibration or test rows, so that metrics stay comparable between versions:

    >>> more = train(System.load(folder), "intent", register=False,
    ...              extra_rows=[{"text": "card missing", "label": "card"}],
    ...              extra_source="corrections@1")
    >>> more.rows["train"] - result.rows["train"], more.data["extra"]["rows"]
    (1, 1)
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from compound.errors import UserError
from compound.intelligence.ml import evaluate
from compound.intelligence.ml.calibration import make_calibrator, resolve_method
from compound.intelligence.ml.crossfit import FanOut, OutOfFold, out_of_fold_scores
from compound.intelligence.ml.data import check_columns, file_sha256, pandas_module, read_table
from compound.intelligence.ml.learners import learner_class, softmax
from compound.intelligence.ml.model import TrainedModel, library_versions
from compound.intelligence.ml.params import CLASSIFICATION_TASKS, params_for
from compound.intelligence.ml.progress import Stages
from compound.intelligence.ml.schema import encode_target, feature_columns, infer_schema
from compound.intelligence.ml.selection import FOLDS, Selection, select
from compound.intelligence.ml.splits import holdout

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console

    from compound.intelligence.embedders import Embedder
    from compound.intelligence.registry import ModelVersion
    from compound.intelligence.spec import PredictorSpec
    from compound.store import Store
    from compound.system import System


@dataclass(frozen=True)
class TrainResult:
    """What one training run produced.

    Attributes:
        name: the model's name in the spec.
        model: the trained model, ready to predict.
        metrics: test metrics (what criteria gate on).
        report: per-class scores, confusion matrix, notes.
        calibration: method, held-out rows, and ECE before and after on the test rows.
        rows: rows used for training, calibration and test.
        seconds: wall time from reading the data to the evaluated model.
        primary: the task's main metric.
        record: the registered candidate version (None when not registered).
        data: path, SHA-256 and row count of each split's file.
        test_rows: the raw test rows (a DataFrame), for looking into errors.
        out_of_fold: the calibrated out-of-fold predictions over the training rows, when
            the spec asks for ``split.cross_fit`` (None otherwise).
        selection: the comparison of the spec's learner with its ``candidates`` (None when
            it lists none); the model is the chosen one's.
    """

    name: str
    model: TrainedModel
    metrics: dict[str, float]
    report: dict[str, Any]
    calibration: dict[str, Any] | None
    rows: dict[str, int]
    seconds: float
    primary: str
    record: ModelVersion | None = None
    data: dict[str, dict[str, Any]] = field(default_factory=dict)
    test_rows: Any = field(default=None, repr=False)
    out_of_fold: OutOfFold | None = field(default=None, repr=False)
    parts: dict[str, dict[str, float]] = field(default_factory=dict)
    selection: Selection | None = None


@dataclass(frozen=True)
class HeldOut:
    """The test rows cut in two: the *gate* rows, whose metrics (and predictions) the promotion
    gate reads, and the *final* rows, which only report (``split.final``), so that a gain
    reported on them was not selected for by the decision.

    Attributes:
        gate: positions of the gate rows among the test rows; final: of the final rows.
        metrics: ``{"gate": {...}, "final": {...}}`` test metrics of each part.
        digests: SHA-256 of each part's rows (features and target, in order).
        labels: the predicted label of every test row (classification; else empty).
        confidence: the calibrated probability of each of those labels.
        truth: the true label of every test row (classification; else empty).
    """

    gate: list[int]
    final: list[int]
    metrics: dict[str, dict[str, float]]
    digests: dict[str, str]
    labels: list[str] = field(default_factory=list)
    confidence: list[float] = field(default_factory=list)
    truth: list[str] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        """What the registry keeps beside the version (a blob), for churn and the final
        rows."""
        return {"gate": self.gate, "final": self.final, "sha256": self.digests,
                "labels": self.labels, "confidence": self.confidence, "truth": self.truth}


@dataclass
class _Part:
    frame: pd.DataFrame
    source: str
    sha256: str
    positions: np.ndarray | None = None  # rows of the frame in this part; None: all

    def rows(self) -> pd.DataFrame:
        return self.frame if self.positions is None else self.frame.iloc[self.positions]


def train(
    system: System,
    name: str,
    *,
    store: Store | None = None,
    register: bool = True,
    console: Console | None = None,
    embedder: Embedder | None = None,
    extra_rows: Sequence[Mapping[str, Any]] | None = None,
    extra_source: str = "extra rows",
    fan_out: FanOut | None = None,
) -> TrainResult:
    """Train, calibrate and evaluate predictor ``name``, and register it as a candidate.

    Args:
        system: the loaded spec.
        name: the predictor under ``models``.
        store: where to register; the spec's store when None.
        register: False trains and evaluates without registering.
        console: shows a progress bar there (stderr in the CLI); None trains quietly.
        embedder: the embedder for a spec naming one; built (with an on-disk cache next to
            the store) when omitted.
        extra_rows: labelled rows trained on in addition to the spec's dataset (each with
            the features and the target); they never join the calibration or test rows.
            The version records their count and SHA-256 under ``data["extra"]``.
        extra_source: names where the extra rows came from, in messages and in the record.
        fan_out: fit the cross-fitting folds, and each fold of each candidate learner,
            there, in parallel (Ray tasks: ``--on ray``); same folds and seeds, same model.
            A model with an embedder fits its folds here, where its vectors are cached once
            for all folds.

    Raises:
        UserError: a problem with the spec or the data (each names the file and column).
    """
    from compound.intelligence.registry import ModelRegistry, predictor_spec

    spec = _cross_fit_for_routers(system, name, predictor_spec(system, name))
    started = time.perf_counter()
    with Stages(console, f"training {name}") as stages:
        stages.at(0.0, "reading data")
        parts = _parts(system, spec)
        stages.at(0.04, "checking columns and types")
        train_part = parts["train"]
        check_columns(train_part.frame, [*feature_columns(spec, train_part.frame), spec.target,
                                         *([spec.group] if spec.group else [])],
                      source=train_part.source)
        y, classes = encode_target(spec, train_part.frame[spec.target], source=train_part.source)
        _split(spec, parts, y, classes)
        extra = _add_extra(spec, train_part, extra_rows, classes, source=extra_source)
        # kinds and categories come from the training rows only: held-out rows stay unseen
        schema = infer_schema(spec, train_part.rows(), source=train_part.source)
        targets: dict[str, np.ndarray] = {}
        needed = [*schema.columns, spec.target, *([spec.group] if spec.group else [])]
        for split, part in parts.items():
            check_columns(part.frame, needed, source=part.source)
            targets[split], _ = encode_target(spec, part.rows()[spec.target], source=part.source,
                                              classes=classes)
        encoded = {split: schema.encode(part.rows(), source=part.source)
                   for split, part in parts.items()}
        groups = {split: part.rows()[spec.group].astype(str).to_numpy()
                  for split, part in parts.items()} if spec.group else {}
        if embedder is None and spec.embedder:
            embedder = _cached_embedder(system, spec.embedder)
        folds = _cross_fit_folds(spec, classes)
        # the fold models and the final one embed the same texts: embed each once
        fitting = _memoised(embedder) if folds or spec.candidates else embedder
        selection = None
        if spec.candidates:
            stages.at(0.05, f"comparing {len(spec.candidates) + 1} learners over "
                      f"{FOLDS} folds of the training rows")
            selection = select(spec, encoded["train"], targets["train"], groups.get("train"),
                               schema=schema, n_classes=len(classes or []),
                               metric=_primary(spec, classes), ndcg_at=_ndcg_k(spec),
                               fan_out=fan_out, embedder=fitting)
            spec = spec.model_copy(update={"learner": selection.best.learner,
                                           "params": selection.best.params})

        def make_learner() -> Any:
            return learner_class(spec.learner_name)(
                task=spec.task, params=params_for(spec.learner_name, spec.params),
                schema=schema, seed=spec.split.seed, embedder=fitting,
            )

        held_out = None
        final_from = 0.05
        if folds:
            share = 0.8 / (folds + 1)
            stages.at(0.05, f"cross-fitting {folds} folds")
            held_out = out_of_fold_scores(
                make_learner, encoded["train"], targets["train"], n_classes=len(classes or []),
                k=folds, seed=spec.split.seed + 1,
                keep=None if extra is None else len(targets["train"]) - extra["rows"],
                progress=lambda i: stages.span(0.05 + i * share, 0.05 + (i + 1) * share),
                fan_out=fan_out if fitting is None else None)
            final_from = 0.05 + folds * share
        learner = make_learner()
        learner.fit(encoded["train"], targets["train"], n_classes=len(classes or []) or None,
                    groups=groups.get("train"), progress=stages.span(final_from, 0.85))
        learner.embedder = embedder
        model = TrainedModel(
            task=spec.task, learner=learner, schema=schema, classes=classes,
            embedder={"name": spec.embedder, "model_id": embedder.model_id}
            if spec.embedder and embedder is not None else None,
        )
        calibration = None
        out_of_fold = None
        if classes is not None:
            stages.at(0.86, "calibrating")
            if held_out is not None:
                rows, scores = held_out
                calibration, out_of_fold = _calibrate_out_of_fold(
                    spec, model, scores, targets["train"][rows], folds)
            else:
                calibration = _calibrate(spec, model, encoded.get("calibration"),
                                         targets.get("calibration"))
        stages.at(0.9, "evaluating on the test rows")
        scores = model.learner.scores(encoded["test"])
        found = _evaluate(spec, model, scores, targets["test"], groups.get("test"))
        held = _held_out(spec, model, parts["test"], scores, targets["test"],
                         groups.get("test"))
        if calibration is not None:
            calibration["ece_before"] = found.metrics["ece_uncalibrated"]
            calibration["ece_after"] = found.metrics["ece"]
        seconds = time.perf_counter() - started
        rows = {split: len(part.rows()) for split, part in parts.items()}
        data = {split: {"path": part.source, "sha256": part.sha256, "rows": rows[split]}
                for split, part in parts.items()}
        if extra is not None:
            data["train"]["rows"] -= extra["rows"]
            data["extra"] = extra
        for part_name, positions in (("gate", held.gate), ("final", held.final)):
            data[part_name] = {"path": f"{parts['test'].source} ({part_name} rows)",
                               "sha256": held.digests[part_name], "rows": len(positions)}
        primary = _primary(spec, classes)
        report = found.report if selection is None else {**found.report,
                                                         "selection": selection.to_dict()}
        record = None
        if register:
            stages.at(0.97, "registering")
            from compound.store import open_store

            owned = store is None
            target = store if store is not None else open_store(system)
            try:
                record = ModelRegistry(target).register(
                    name, model, params=learner.params.model_dump(mode="json"),
                    target=spec.target, features=list(schema.columns), data=data,
                    metrics=found.metrics, primary=primary, report=report,
                    calibration=calibration, parts=held.metrics,
                    libraries=library_versions(), training_seconds=seconds,
                    held_out=held.record(),
                )
            finally:
                if owned:
                    target.close()
        stages.at(1.0, "done")
    return TrainResult(name=name, model=model, metrics=found.metrics, report=report,
                       calibration=calibration, rows=rows, seconds=seconds, primary=primary,
                       record=record, data=data, test_rows=parts["test"].rows(),
                       out_of_fold=out_of_fold, parts=held.metrics, selection=selection)


def _read(system: System, path: str) -> _Part:
    resolved: Path = system.resolve_path(path)
    frame = read_table(resolved)
    return _Part(frame=frame, source=str(resolved), sha256=file_sha256(resolved))


def _parts(system: System, spec: PredictorSpec) -> dict[str, _Part]:
    parts = {"train": _read(system, spec.dataset)}
    if spec.calibration_dataset and spec.task in CLASSIFICATION_TASKS:
        parts["calibration"] = _read(system, spec.calibration_dataset)
    if spec.test_dataset:
        parts["test"] = _read(system, spec.test_dataset)
    return parts


def _split(spec: PredictorSpec, parts: dict[str, _Part], y: np.ndarray,
           classes: list[Any] | None) -> None:
    """Cut test and calibration rows out of the training file where no file gives them."""
    train = parts["train"]
    rows = np.arange(len(train.frame))
    strata = y if classes is not None else None
    groups = train.frame[spec.group].astype(str).to_numpy() if spec.group else None
    if "test" not in parts:
        if spec.split.test <= 0:
            raise UserError(
                f"{train.source}: no test rows; set 'split.test' above 0 or give a "
                "'test_dataset', so that the model's metrics are measured on unseen rows"
            )
        held, rows = holdout(rows, fraction=spec.split.test, seed=spec.split.seed,
                             strata=strata, groups=groups)
        parts["test"] = _Part(train.frame, train.source, train.sha256, held)
    wants_calibration = (classes is not None and spec.calibration != "none"
                         and not spec.split.cross_fit)
    if wants_calibration and "calibration" not in parts and spec.split.calibration > 0:
        held, rows = holdout(rows, fraction=spec.split.calibration, seed=spec.split.seed + 1,
                             strata=None if strata is None else strata[rows],
                             groups=None if groups is None else groups[rows])
        parts["calibration"] = _Part(train.frame, train.source, train.sha256, held)
    train.positions = rows
    if len(rows) == 0:
        raise UserError(f"{train.source}: no rows left for training after the held-out splits")


def _add_extra(spec: PredictorSpec, train: _Part, rows: Sequence[Mapping[str, Any]] | None,
               classes: list[Any] | None, *, source: str) -> dict[str, Any] | None:
    """Append ``rows`` to the training rows (after the held-out splits were cut); returns
    their facts for the version's record."""
    if not rows:
        return None
    pd = pandas_module()
    records = [dict(row) for row in rows]
    frame = pd.DataFrame.from_records(records)
    needed = [*feature_columns(spec, train.frame), spec.target,
              *([spec.group] if spec.group else [])]
    check_columns(frame, needed, source=source)
    encode_target(spec, frame[spec.target], source=source, classes=classes)
    frame = frame[[c for c in train.frame.columns if c in frame.columns]]
    start = len(train.frame)
    assert train.positions is not None
    train.frame = pd.concat([train.frame, frame], ignore_index=True)
    train.positions = np.concatenate([train.positions, np.arange(start, start + len(frame))])
    return {"path": source, "sha256": rows_sha256(records), "rows": len(frame)}


def rows_sha256(rows: Sequence[Mapping[str, Any]]) -> str:
    """The SHA-256 a version records for the extra rows it was trained on (``data.extra``)."""
    return hashlib.sha256("\n".join(
        json.dumps(dict(r), sort_keys=True, default=str) for r in rows).encode()).hexdigest()


def _calibrate(spec: PredictorSpec, model: TrainedModel, encoded: pd.DataFrame | None,
               y: np.ndarray | None) -> dict[str, Any]:
    n_classes = len(model.classes or [])
    if encoded is None or y is None:
        if spec.calibration not in ("auto", "none"):
            raise UserError(
                f"calibration '{spec.calibration}' needs held-out rows: set 'split.calibration' "
                "above 0 or give a 'calibration_dataset'"
            )
        model.calibrator = make_calibrator("none", n_classes=n_classes)
        return {"method": "none", "rows": 0}
    method = resolve_method(spec.calibration, n_classes=n_classes, n_rows=len(y))
    calibrator = make_calibrator(method, n_classes=n_classes, n_rows=len(y))
    scores = model.learner.scores(encoded)
    calibrator.fit(scores, y)
    model.calibrator = calibrator
    return {"method": method, "rows": len(y), **calibrator.to_dict()}


#: Folds a predictor is cross-fitted with when a confidence router calibrates on it.
ROUTER_FOLDS = 5


def _cross_fit_for_routers(system: System, name: str, spec: PredictorSpec) -> PredictorSpec:
    """``spec`` cross-fitted (``split.cross_fit: 5``) when a confidence router calibrates its
    threshold on this predictor and nothing else gives it rows to do so: no threshold, no
    ``calibration_dataset`` on the router or the predictor, and no ``cross_fit`` set. The
    router then chooses its threshold on out-of-fold predictions over every training row,
    never on rows that fitted the model or its calibration."""
    if (spec.task not in CLASSIFICATION_TASKS or spec.calibration == "none"
            or spec.calibration_dataset or "cross_fit" in spec.split.model_fields_set):
        return spec
    routers = getattr(getattr(system, "strategy", None), "routers", {}) or {}
    wanted = any(getattr(r, "kind", None) == "confidence" and getattr(r, "model", None) == name
                 and getattr(r, "threshold", None) is None
                 and getattr(r, "calibration_dataset", None) is None
                 for r in routers.values())
    if not wanted:
        return spec
    split = spec.split.model_copy(update={"cross_fit": ROUTER_FOLDS})
    return spec.model_copy(update={"split": split})


def _cross_fit_folds(spec: PredictorSpec, classes: list[Any] | None) -> int:
    """The folds to cross-fit the calibration on: 0 unless a calibrated classifier asks."""
    if classes is None or spec.calibration == "none":
        return 0
    return spec.split.cross_fit


def _calibrate_out_of_fold(spec: PredictorSpec, model: TrainedModel, scores: np.ndarray,
                           y: np.ndarray, folds: int) -> tuple[dict[str, Any], OutOfFold]:
    """Fit the calibrator on out-of-fold scores; returns its record and the calibrated
    out-of-fold predictions."""
    n_classes = len(model.classes or [])
    method = resolve_method(spec.calibration, n_classes=n_classes, n_rows=len(y))
    calibrator = make_calibrator(method, n_classes=n_classes, n_rows=len(y))
    calibrator.fit(scores, y)
    model.calibrator = calibrator
    proba = calibrator.proba(scores)
    found = OutOfFold(confidence=proba.max(axis=1), correct=proba.argmax(axis=1) == y,
                      folds=folds)
    return {"method": method, "rows": len(y), "cross_fit": folds, **calibrator.to_dict(),
            "out_of_fold": found.to_dict()}, found


def _memoised(embedder: Embedder | None) -> Embedder | None:
    """``embedder`` behind an in-memory cache (for one training run), unless it has one."""
    from compound.intelligence.embedders import CachedEmbedder, EmbeddingCache

    if embedder is None or isinstance(embedder, CachedEmbedder):
        return embedder
    return CachedEmbedder(embedder, EmbeddingCache(":memory:"))


def _held_out(spec: PredictorSpec, model: TrainedModel, test: _Part, scores: np.ndarray,
              y: np.ndarray, groups: np.ndarray | None) -> HeldOut:
    """Cut the test rows into gate and final rows (stratified, or by query for ranking) and
    measure each part; keep every test row's prediction for the churn of the next version."""
    rows = np.arange(len(y))
    final, gate = holdout(rows, fraction=spec.split.final, seed=spec.split.seed + 2,
                          strata=y if model.classes is not None else None, groups=groups)
    frame = test.rows()
    metrics, digests = {}, {}
    for name, positions in (("gate", gate), ("final", final)):
        digests[name] = rows_sha256(frame.iloc[positions].to_dict("records"))
        if len(positions):
            metrics[name] = _evaluate(spec, model, scores[positions], y[positions],
                                      None if groups is None else groups[positions]).metrics
    labels: list[str] = []
    confidence: list[float] = []
    truth: list[str] = []
    if model.classes is not None:
        truth = [str(model.classes[k]) for k in y]
        assert model.calibrator is not None
        proba = model.calibrator.proba(scores)
        labels = [str(model.classes[k]) for k in proba.argmax(axis=1)]
        confidence = [round(float(p), 6) for p in proba.max(axis=1)]
    return HeldOut(gate=gate.tolist(), final=final.tolist(), metrics=metrics, digests=digests,
                   labels=labels, confidence=confidence, truth=truth)


def _evaluate(spec: PredictorSpec, model: TrainedModel, scores: np.ndarray, y: np.ndarray,
              groups: np.ndarray | None) -> evaluate.Evaluation:
    if model.classes is not None:
        assert model.calibrator is not None
        return evaluate.classification(y, model.calibrator.proba(scores), softmax(scores),
                                       model.classes)
    if spec.task == "ranking":
        assert groups is not None
        return evaluate.ranking(y, scores, groups, k=_ndcg_k(spec))
    return evaluate.regression(y, scores)


def _ndcg_k(spec: PredictorSpec) -> int:
    return int(spec.params.get("ndcg_at", [10])[0])


def _primary(spec: PredictorSpec, classes: list[Any] | None) -> str:
    if spec.task == "ranking":
        return f"ndcg@{_ndcg_k(spec)}"
    return evaluate.primary_metric(spec.task, len(classes) if classes else None)


def _cached_embedder(system: System, name: str) -> Embedder:
    """The named embedder, caching vectors next to the store so retraining skips them."""
    from compound.intelligence.embedders import CachedEmbedder, EmbeddingCache, make_embedder

    cache = EmbeddingCache(system.store_path().parent / "embeddings.sqlite")
    return CachedEmbedder(make_embedder(name), cache)
