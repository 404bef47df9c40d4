"""A spec's confidence routers and their thresholds: calibrated on labelled data, kept in the
store with the model version they were calibrated for.

:func:`calibrate_router` reads labelled rows, asks the router's ML model for its confidence
on each (one batch), prices the fallback from the cost table, and chooses the threshold that
meets the router's target (:mod:`compound.strategy.calibration`). The fallback's cost per
request is the worst case of its prompt (the router's ``template`` filled with the request)
plus the model's ``max_tokens``; a review fallback costs nothing in the table and is counted
as always right (a person decides).

Without labelled rows (no ``data`` and no ``calibration_dataset``), a model trained with
``split.cross_fit`` is calibrated on the out-of-fold predictions its version recorded: every
training row, each scored by a fold model that never saw it (see
:mod:`compound.intelligence.ml.crossfit`).

Two defaults keep the threshold honest on data it has not seen:

* the threshold must hold its covered accuracy at the router's ``confidence_level`` (0.95):
  the one-sided Wilson lower bound of covered accuracy clears the target, not just the
  point estimate, which is the best of many noisy candidates and so optimistic;
* labelled rows that the model's calibrator was fitted on (the predictor's
  ``calibration_dataset``, the file a new spec most often names for the router too) are
  scored with a cross-fitted calibrator: each fold's confidences come from a calibrator
  fitted on the other folds, so the same rows never both fit the temperature and choose the
  threshold.

The calibration reports the chosen threshold's expected covered accuracy with its interval
(:meth:`~compound.strategy.calibration.Calibration.expected`).

A threshold kept for one model version is not used for another: when the production version
changes, the router asks for a new calibration.
"""

from __future__ import annotations

import os
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compound.errors import UserError
from compound.strategy.calibration import Calibration, calibrate_threshold
from compound.strategy.spec import REVIEW, ConfidenceRouterSpec

if TYPE_CHECKING:
    import numpy as np

    from compound.intelligence.ml.predictor import Predictor
    from compound.store import Store
    from compound.system import System

THRESHOLDS = "strategy:thresholds"
#: Folds of the calibrator cross-fitted on the rows it was fitted on.
CALIBRATION_FOLDS = 5


def save_threshold(store: Store, router: str, calibration: Calibration, *,
                   model_version: str | int | None) -> None:
    """Keep a router's calibrated threshold in the store.

    Raises:
        UserError: the calibration met no threshold.
    """
    if calibration.chosen is None:
        raise UserError(f"router '{router}': no threshold meets {calibration.target}; lower "
                        "the target or improve the model, then calibrate again")
    store.put(THRESHOLDS, router, {
        "threshold": calibration.chosen.threshold, "model_version": model_version,
        "target": calibration.target, "chosen": asdict(calibration.chosen),
        "rows": calibration.rows, "confidence_level": calibration.confidence_level,
        "source": calibration.source,
    })


def load_threshold(store: Store, router: str, *, model_version: str | int | None = None
                   ) -> dict[str, Any] | None:
    """The calibrated threshold record of ``router``, or None; with ``model_version``, None
    also when it was calibrated for another version."""
    record: dict[str, Any] | None = store.get(THRESHOLDS, router)
    if record is not None and model_version is not None \
            and record.get("model_version") != model_version:
        return None
    return record


def router_spec(system: System, router: str) -> ConfidenceRouterSpec:
    """The confidence router ``router`` of ``system``."""
    from compound.specfile import did_you_mean

    routers = system.strategy.routers
    if router not in routers:
        raise UserError(f"no router named '{router}'{did_you_mean(router, routers)}; routers: "
                        f"{', '.join(routers) or 'none'}")
    spec = routers[router]
    if not isinstance(spec, ConfidenceRouterSpec):
        raise UserError(f"router '{router}' is kind '{spec.kind}'; only 'kind: confidence' "
                        "routers have a threshold to calibrate")
    return spec


def fallback_cost_usd(system: System, spec: ConfidenceRouterSpec, requests: list[Any]) -> float:
    """The mean worst-case cost of sending one of ``requests`` to the router's fallback."""
    from compound.intelligence.llm import build_llm
    from compound.intelligence.llm.pricing import FREE_PROVIDERS
    from compound.strategy.budgets import estimate

    llms = system.llms()
    target = spec.fallback
    if target in system.strategy.fallbacks:
        target = system.strategy.fallbacks[target].options[0].model
    if target == REVIEW or target not in llms or llms[target].provider in FREE_PROVIDERS:
        return 0.0
    llm = build_llm(llms[target])
    from compound.strategy.answers import render_request

    costs = [estimate(llm, render_request(spec.template, r)).cost_usd for r in requests]
    return sum(costs) / len(costs) if costs else 0.0


def calibrate_router(spec_path: str | os.PathLike[str], router: str, *,
                     data: str | os.PathLike[str] | None = None,
                     confidence_level: float | None = None, save: bool = True,
                     ) -> tuple[Calibration, str | int | None]:
    """Calibrate ``router`` of the spec at ``spec_path`` on labelled rows.

    Returns:
        The calibration and the model version it holds for.

    Raises:
        UserError: no data, a router that is not a confidence router, no target.
    """
    from compound.intelligence.ml.data import read_table
    from compound.intelligence.ml.predictor import Predictor
    from compound.store import open_store
    from compound.system import System

    system = System.load(spec_path)
    spec = router_spec(system, router)
    if spec.target is None:
        raise UserError(f"router '{router}' declares no 'target' to calibrate to; add e.g. "
                        "'target: {covered_accuracy: 0.98}'")
    if spec.target.quality_ratio is not None and spec.fallback != REVIEW:
        raise UserError(f"router '{router}': a 'quality_ratio' target needs the fallback's "
                        "accuracy on the data, which calibration does not measure for an LLM "
                        "fallback; use 'covered_accuracy', or calibrate in Python with "
                        "calibrate_threshold(..., fallback_correct=...)")
    source = data if data is not None else spec.calibration_dataset
    if source is None and not _recorded_out_of_fold(system, spec):
        # the rows the model's calibrator was fitted on: scored cross-fitted below
        source = system.predictors()[spec.model].calibration_dataset
    if source is None:
        return _calibrate_out_of_fold(
            system, spec, router, save=save,
            confidence_level=(confidence_level if confidence_level is not None
                              else spec.confidence_level))
    model = system.predictors()[spec.model]
    frame = read_table(system.resolve_path(source) if data is None else source)
    features = model.features or [c for c in frame.columns if c != model.target]
    missing = [c for c in [*features, model.target] if c not in frame.columns]
    if missing:
        raise UserError(f"{source}: columns {missing} are missing; the model '{spec.model}' "
                        f"reads {features} and its label is '{model.target}'")
    level = confidence_level if confidence_level is not None else spec.confidence_level
    path = system.resolve_path(source) if data is None else source
    store = open_store(system)
    try:
        predictor = Predictor(name=spec.model, store=store)
        inputs: list[Any] = (list(frame[features[0]]) if len(features) == 1
                             else frame[features].to_dict("records"))
        labels = [str(v) for v in frame[model.target]]
        confidence, correct, how = _confidences(predictor, inputs, labels, path,
                                                store=store)
        texts = [str(i) for i in inputs]
        fallback_cost = fallback_cost_usd(system, spec, texts)
        target = spec.target
        calibration = calibrate_threshold(
            confidence, correct, covered_accuracy=target.covered_accuracy,
            quality_ratio=target.quality_ratio,
            fallback_correct=1.0 if spec.fallback == REVIEW else None,
            fallback_cost_usd=fallback_cost, confidence_level=level,
        )
        calibration = replace(calibration, source=how)
        if save and calibration.chosen is not None:
            save_threshold(store, router, calibration, model_version=predictor.version)
        return calibration, predictor.version
    finally:
        store.close()


def _recorded_out_of_fold(system: System, spec: ConfidenceRouterSpec) -> bool:
    """Whether the production version of the router's model recorded out-of-fold
    predictions (False too when it has none)."""
    from compound.intelligence.registry import ModelRegistry
    from compound.store import open_store

    store = open_store(system)
    try:
        current = ModelRegistry(store).production(spec.model)
        return current is not None and "out_of_fold" in (current.calibration or {})
    finally:
        store.close()


def _confidences(predictor: Predictor, inputs: list[Any], labels: list[str],
                 path: str | os.PathLike[str], *, store: Store
                 ) -> tuple[np.ndarray, np.ndarray, str]:
    """The model's confidence and correctness on labelled rows, and how they were had.

    Rows the model's calibrator was fitted on (its ``calibration_dataset``, recorded by its
    version) would make it look better calibrated than it is: there the calibrator is
    cross-fitted (:func:`~compound.intelligence.ml.crossfit.out_of_fold_calibration`), so
    that the same rows never both fit the calibration and choose the threshold.
    """
    import numpy as np

    from compound.intelligence.ml.crossfit import out_of_fold_calibration
    from compound.intelligence.ml.data import file_sha256
    from compound.intelligence.registry import ModelRegistry

    name = Path(path).name
    predictor.load()
    model = predictor.model
    record = ModelRegistry(store).resolve(predictor.name, predictor.version)
    data = record.data or {}
    digest = file_sha256(path)
    fitted = data.get("calibration", {}).get("sha256")
    classes = [str(c) for c in (model.classes or [])]
    reused = (fitted is not None and model.calibrator is not None
              and model.calibrator.method != "none" and fitted == digest)
    if not reused:
        predictions = predictor.predict_batch(inputs)
        confidence = np.array([p.probability or 0.0 for p in predictions], dtype=float)
        correct = np.array([str(p.label) == y for p, y in zip(predictions, labels,
                                                              strict=True)])
        trained = data.get("train", {}).get("sha256") == digest
        return confidence, correct, f"the model's confidences on the {len(labels):,} rows " \
            f"of {name}" + (" (the file it was trained on: optimistic; calibrate on rows it "
                            "never saw)" if trained else "")
    frame = model.schema.frame_of(inputs, source=f"input to model '{predictor.name}'")
    encoded = model.schema.encode(frame, source=f"input to model '{predictor.name}'")
    scores = model.learner.scores(encoded)
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index.get(label, -1) for label in labels])
    proba = out_of_fold_calibration(model.calibrator.method, scores, y, k=CALIBRATION_FOLDS)
    confidence = proba.max(axis=1)
    correct = proba.argmax(axis=1) == y
    return confidence, correct, (
        f"{CALIBRATION_FOLDS}-fold cross-fitted calibration on the {len(labels):,} rows of "
        f"{name}: the model's calibrator was fitted on them, so each row's confidence comes "
        "from a calibrator fitted on the other folds")


def _calibrate_out_of_fold(system: System, spec: ConfidenceRouterSpec, router: str, *,
                           confidence_level: float | None, save: bool
                           ) -> tuple[Calibration, str | int | None]:
    """Calibrate on the out-of-fold predictions the router's model version recorded."""
    from compound.intelligence.ml.crossfit import OutOfFold
    from compound.intelligence.registry import ModelRegistry
    from compound.store import open_store

    store = open_store(system)
    try:
        record = ModelRegistry(store).resolve(spec.model, None)
        recorded = (record.calibration or {}).get("out_of_fold")
        if recorded is None:
            raise UserError(
                f"router '{router}': give labelled rows with --data, set "
                f"'calibration_dataset' in the router's spec, or train '{spec.model}' with "
                "'split: {cross_fit: 5}' so that its out-of-fold predictions can be used; "
                f"version {record.version} recorded none"
            )
        found = OutOfFold.from_dict(recorded)
        assert spec.target is not None
        calibration = calibrate_threshold(
            found.confidence, found.correct, covered_accuracy=spec.target.covered_accuracy,
            quality_ratio=spec.target.quality_ratio,
            fallback_correct=1.0 if spec.fallback == REVIEW else None,
            confidence_level=confidence_level,
        )
        calibration = replace(calibration, source=(
            f"the {found.folds}-fold out-of-fold predictions of version {record.version} "
            f"over its {calibration.rows:,} training rows"))
        if save and calibration.chosen is not None:
            save_threshold(store, router, calibration, model_version=record.version)
        return calibration, record.version
    finally:
        store.close()
