"""Predictors in workflows: the ``predictor`` adapter of the ``compound.steps`` entry points.

A step that ``uses:`` a predictor takes the model's features as its inputs and outputs a
:class:`~compound.intelligence.ml.types.Prediction`, so that later steps can read
``classify.label`` or route on ``classify.probability``. The model is the production version
(or the step's ``version`` option), loaded on the first run from the run context's store, or
the system's store when the run keeps none.

With ``options: {explain: {top: 3, label: 1}}`` (or ``explain: 3``) the prediction also
carries its ``contributions``: the ``top`` features that moved the score most, toward
``label`` (by default the predicted class), from the same model version. Only tree learners
can explain; asking another learner fails when the workflow is built.

Example:
    >>> from compound.intelligence.ml.types import Prediction
    >>> step = PredictorStep(name="intent", features=["text"], system=None)
    >>> dict(step.input_types), step.output_type is Prediction
    ({'text': typing.Any}, True)
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from compound.errors import UserError
from compound.intelligence.ml.schema import Label
from compound.intelligence.ml.types import Prediction

if TYPE_CHECKING:
    from compound.intelligence.ml.predictor import Predictor
    from compound.store.base import Store
    from compound.system import System
    from compound.workflow.adapters import AdapterRequest
    from compound.workflow.context import RunContext


#: How often a step that follows production reads the registry for a new production version.
REFRESH_S = 5.0

_log = logging.getLogger(__name__)


class PredictorStep:
    """A trained model as one workflow step: ``run(ctx, **features) -> Prediction``.

    Args:
        name: the predictor under ``models``.
        features: its input columns, which become the step's inputs.
        system: the spec, whose store serves when the run context has none.
        version: a pinned version; the production version when None.
        explain: attach this many top feature contributions to each prediction; 0: none.
        explain_label: the class the contributions explain; the predicted one when None.
    """

    output_type: ClassVar[type] = Prediction

    def __init__(self, *, name: str, features: list[str], system: System | None,
                 version: int | None = None, explain: int = 0,
                 explain_label: Label | None = None) -> None:
        self.name = name
        self.features = list(features)
        self.system = system
        self.version = version
        self.explain = explain
        self.explain_label = explain_label
        self.input_types: dict[str, Any] = dict.fromkeys(self.features, Any)
        self._predictor: Predictor | None = None
        self._store: Store | None = None  # the last store a run context brought
        self._checked = 0.0
        self._lock = threading.Lock()

    def predictor(self, ctx: RunContext | None) -> Predictor:
        """The loaded model: loaded on first use; when the step follows production (no pinned
        version), the registry is read again at most every :data:`REFRESH_S` seconds, and a
        newly promoted (or rolled back) version replaces the loaded one, so a server answers
        with what ``compound improve`` or ``models promote`` put in production without a
        restart. The registry read is the run context's store's, else the last store a run
        context brought: a server's batched calls carry no run context (and its runs that are
        not checkpointed no store), and follow the store the server warmed the step up with."""
        with self._lock:
            given = getattr(ctx, "store", None)
            if given is not None:
                self._store = given
            store = self._store
            if self._predictor is not None:
                try:
                    if not self._stale(store):
                        return self._predictor
                    return self._reload(store)
                except Exception as exc:  # the loaded version keeps answering meanwhile
                    _log.warning("model '%s': could not check or load the production version "
                                 "(%s); v%s keeps answering, retried in %g s", self.name,
                                 type(exc).__name__, self._predictor.version, REFRESH_S)
                    return self._predictor
            return self._reload(store)

    def _reload(self, store: Store | None) -> Predictor:
        """Load the version to serve (production unless pinned) from ``store`` or the spec."""
        from compound.intelligence.ml.predictor import Predictor

        if store is not None:
            found = Predictor(name=self.name, store=store, version=self.version)
            found.load()
        elif self.system is not None:
            found = Predictor.from_system(self.system, self.name, version=self.version)
        else:
            raise UserError(f"step using model '{self.name}' has no store to load it "
                            "from: run it with a run context that has one")
        self._predictor = found
        self._checked = time.monotonic()
        return found

    def _stale(self, store: Store | None) -> bool:
        """Whether production moved to another version since the model was loaded (read at
        most every REFRESH_S seconds; a pinned version never is)."""
        if self.version is not None or store is None or self._predictor is None:
            return False
        now = time.monotonic()
        if now - self._checked < REFRESH_S:
            return False
        self._checked = now
        from compound.intelligence.registry import ModelRegistry

        current = ModelRegistry(store).production(self.name)
        return current is not None and current.version != self._predictor.version

    def run(self, ctx: RunContext | None, **inputs: Any) -> Prediction:
        """Predict from the step's inputs (one value per feature), with the top feature
        contributions when the step explains."""
        return self.run_batch(ctx, [inputs])[0]

    def run_batch(self, ctx: RunContext | None, rows: list[dict[str, Any]]) -> list[Prediction]:
        """:meth:`run` for many requests at once (the server batches concurrent ones)."""
        predictor = self.predictor(ctx)
        predictions = predictor.predict_batch(rows)
        if not self.explain:
            return predictions
        found = predictor.explain_batch(rows, top=self.explain, label=self.explain_label)
        return [dataclasses.replace(p, contributions=tuple(c))
                for p, c in zip(predictions, found, strict=True)]


def predictor_step(request: AdapterRequest) -> PredictorStep:
    """The ``predictor`` step adapter (registered under ``compound.steps``).

    Raises:
        UserError: the predictor lists no ``features`` (they name the step's inputs), the
            step has options other than ``version`` and ``explain``, or it asks a learner
            that cannot explain for contributions.
    """
    spec = request.spec
    step = request.step.name
    options = dict(request.step.options)
    version = options.pop("version", None)
    explain, label = _explain_option(step, options.pop("explain", None))
    if options:
        raise UserError(f"step '{step}': options {sorted(options)} are not "
                        "predictor step options; allowed: version, explain")
    if not _whole(version) and version is not None:
        raise UserError(f"step '{step}': version must be a whole number; "
                        f"received {version!r}")
    if not spec.features:
        raise UserError(
            f"step '{step}' uses model '{request.component}', which lists no "
            "'features'; list them in the spec: they become the step's inputs"
        )
    if explain:
        from compound.intelligence.ml.learners import Learner, learner_class

        if learner_class(spec.learner_name).contributions is Learner.contributions:
            raise UserError(
                f"step '{step}': model '{request.component}' uses the '{spec.learner_name}' "
                "learner, which cannot attribute a prediction to its features; remove the "
                "'explain' option, or use 'learner: lightgbm'"
            )
    return PredictorStep(name=request.component, features=list(spec.features),
                         system=request.system, version=version, explain=explain,
                         explain_label=label)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _explain_option(step: str, value: Any) -> tuple[int, Label | None]:
    """``explain: 3`` or ``explain: {top: 3, label: 1}`` as (top, label); (0, None) when
    absent."""
    if value is None:
        return 0, None
    given = dict(value) if isinstance(value, Mapping) else {"top": value}
    unknown = sorted(set(given) - {"top", "label"})
    top = given.get("top", 3)
    label = given.get("label")
    if unknown or not _whole(top) or top < 1 or not (label is None or isinstance(label, str | int)):
        raise UserError(
            f"step '{step}': explain must be a number of features (explain: 3) or "
            "{top: N, label: CLASS} with N at least 1 and CLASS a class of the model; "
            f"received {value!r}"
        )
    return top, label
