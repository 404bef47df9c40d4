"""A trained model in memory: learner, calibrator, feature schema and classes, and its
artifact form.

:class:`TrainedModel` turns inputs into arrays (class probabilities, or values); the
:class:`~compound.intelligence.ml.predictor.Predictor` component turns those into typed
predictions. :meth:`TrainedModel.to_bytes` and :meth:`TrainedModel.from_bytes` go through the
artifact format of :mod:`compound.intelligence.ml.artifact`.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from compound.intelligence.ml.artifact import FORMAT, ArtifactError, pack, unpack
from compound.intelligence.ml.calibration import Calibrator, calibrator_from_dict
from compound.intelligence.ml.learners import Learner, learner_class
from compound.intelligence.ml.params import CLASSIFICATION_TASKS, params_for
from compound.intelligence.ml.schema import FeatureSchema, Label

if TYPE_CHECKING:
    import pandas as pd

    from compound.intelligence.embedders import Embedder


@dataclass(frozen=True)
class Outputs:
    """A batch's results as arrays: ``proba`` ``(n, classes)`` for classification, ``values``
    ``(n,)`` for regression and ranking."""

    proba: np.ndarray | None = None
    values: np.ndarray | None = None


@dataclass
class TrainedModel:
    """A fitted learner with everything needed to read inputs and calibrate its scores.

    Attributes:
        task: the predictor's task.
        learner: the fitted learner.
        schema: the feature columns and kinds.
        classes: class labels in score-column order (classification only).
        calibrator: maps scores to calibrated probabilities (classification only).
        embedder: the ``{"name", "model_id"}`` of the embedder the features used, if any.
    """

    task: str
    learner: Learner
    schema: FeatureSchema
    classes: list[Label] | None = None
    calibrator: Calibrator | None = None
    embedder: dict[str, str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_classifier(self) -> bool:
        return self.task in CLASSIFICATION_TASKS

    def outputs(self, encoded: pd.DataFrame, *, calibrated: bool = True) -> Outputs:
        """Probabilities or values of rows already encoded by ``schema.encode``."""
        scores = self.learner.scores(encoded)
        if not self.is_classifier:
            return Outputs(values=np.asarray(scores, dtype=float))
        if calibrated and self.calibrator is not None:
            return Outputs(proba=self.calibrator.proba(scores))
        from compound.intelligence.ml.learners import softmax

        return Outputs(proba=softmax(scores))

    # -- artifact ---------------------------------------------------------------------------

    def manifest(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "task": self.task,
            "learner": self.learner.name,
            "params": self.learner.params.model_dump(mode="json"),
            "seed": self.learner.seed,
            "schema": self.schema.to_dict(),
            "classes": self.classes,
            "calibration": self.calibrator.to_dict() if self.calibrator else None,
            "learner_state": self.learner.state(),
            "embedder": self.embedder,
            "libraries": library_versions(),
            **({"extra": self.extra} if self.extra else {}),
        }

    def to_bytes(self) -> bytes:
        """The artifact bytes (see :mod:`compound.intelligence.ml.artifact`)."""
        return pack(self.manifest(), self.learner.dump())

    @classmethod
    def from_bytes(
        cls, data: bytes, *, what: str, embedder: Embedder | None = None
    ) -> TrainedModel:
        """Load an artifact.

        Args:
            data: the artifact bytes.
            what: names the model in messages (``intent@3``).
            embedder: the embedder to use when the model's features include embeddings; one
                is built from the recorded name when omitted.

        Raises:
            ArtifactError: the artifact is damaged or refers to something unknown.
        """
        manifest, parts = unpack(data, what=what)
        try:
            task, learner_name = str(manifest["task"]), str(manifest["learner"])
            params = params_for(learner_name, dict(manifest["params"]))
            schema = FeatureSchema.from_dict(manifest["schema"])
            calibration = manifest.get("calibration")
            calibrator = calibrator_from_dict(calibration) if calibration else None
            recorded = manifest.get("embedder")
            state = manifest.get("learner_state") or {}
            seed = int(manifest.get("seed", 0))
        except (KeyError, TypeError, ValueError, LookupError) as exc:
            raise ArtifactError(f"artifact of {what} has a damaged manifest ({exc!r})") from None
        if recorded:
            embedder = _matching_embedder(recorded, embedder, what=what)
        learner = learner_class(learner_name)(
            task=task, params=params, schema=schema, seed=seed, embedder=embedder
        )
        try:
            learner.load_parts(parts)
        except ArtifactError as exc:
            raise ArtifactError(f"artifact of {what}: {exc}") from None
        learner.set_state(state)
        return cls(task=task, learner=learner, schema=schema, classes=manifest.get("classes"),
                   calibrator=calibrator, embedder=recorded, extra=manifest.get("extra", {}))


def _matching_embedder(
    recorded: Mapping[str, str], given: Embedder | None, *, what: str
) -> Embedder:
    from compound.intelligence.embedders import make_embedder

    embedder = given or make_embedder(recorded["name"])
    if embedder.model_id != recorded["model_id"]:
        raise ArtifactError(
            f"{what} was trained on embeddings of '{recorded['model_id']}' but the embedder "
            f"available is '{embedder.model_id}'; its vectors differ, so predictions would be "
            "wrong. Install the recorded embedder or retrain"
        )
    return embedder


def library_versions() -> dict[str, str]:
    """Versions of the libraries a model depends on, recorded with every version."""
    from importlib import metadata

    found = {"python": platform.python_version()}
    for dist in ("compound", "numpy", "scikit-learn", "lightgbm", "skops", "scipy", "pandas"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return found
