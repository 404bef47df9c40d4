"""Predictors in workflows: the ``predictor`` adapter of the ``compound.steps`` entry points.

A step that ``uses:`` a predictor takes the model's features as its inputs and outputs a
:class:`~compound.intelligence.ml.types.Prediction`, so that later steps can read
``classify.label`` or route on ``classify.probability``. The model is the production version
(or the step's ``version`` option), loaded on the first run from the run context's store, or
the system's store when the run keeps none.

Example:
    >>> from compound.intelligence.ml.types import Prediction
    >>> step = PredictorStep(name="intent", features=["text"], system=None)
    >>> dict(step.input_types), step.output_type is Prediction
    ({'text': typing.Any}, True)
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, ClassVar

from compound.errors import UserError
from compound.intelligence.ml.types import Prediction

if TYPE_CHECKING:
    from compound.intelligence.ml.predictor import Predictor
    from compound.system import System
    from compound.workflow.adapters import AdapterRequest
    from compound.workflow.context import RunContext


class PredictorStep:
    """A trained model as one workflow step: ``run(ctx, **features) -> Prediction``.

    Args:
        name: the predictor under ``models``.
        features: its input columns, which become the step's inputs.
        system: the spec, whose store serves when the run context has none.
        version: a pinned version; the production version when None.
    """

    output_type: ClassVar[type] = Prediction

    def __init__(self, *, name: str, features: list[str], system: System | None,
                 version: int | None = None) -> None:
        self.name = name
        self.features = list(features)
        self.system = system
        self.version = version
        self.input_types: dict[str, Any] = dict.fromkeys(self.features, Any)
        self._predictor: Predictor | None = None
        self._lock = threading.Lock()

    def predictor(self, ctx: RunContext | None) -> Predictor:
        """The loaded model (loaded once, on first use)."""
        with self._lock:
            if self._predictor is None:
                from compound.intelligence.ml.predictor import Predictor

                store = getattr(ctx, "store", None)
                if store is not None:
                    found = Predictor(name=self.name, store=store, version=self.version)
                    found.load()
                elif self.system is not None:
                    found = Predictor.from_system(self.system, self.name, version=self.version)
                else:
                    raise UserError(f"step using model '{self.name}' has no store to load it "
                                    "from: run it with a run context that has one")
                self._predictor = found
            return self._predictor

    def run(self, ctx: RunContext | None, **inputs: Any) -> Prediction:
        """Predict from the step's inputs (one value per feature)."""
        return self.predictor(ctx).run(inputs)


def predictor_step(request: AdapterRequest) -> PredictorStep:
    """The ``predictor`` step adapter (registered under ``compound.steps``).

    Raises:
        UserError: the predictor lists no ``features`` (they name the step's inputs), or the
            step has options other than ``version``.
    """
    spec = request.spec
    options = dict(request.step.options)
    version = options.pop("version", None)
    if options:
        raise UserError(f"step '{request.step.name}': options {sorted(options)} are not "
                        "predictor step options; allowed: version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        raise UserError(f"step '{request.step.name}': version must be a whole number; "
                        f"received {version!r}")
    if not spec.features:
        raise UserError(
            f"step '{request.step.name}' uses model '{request.component}', which lists no "
            "'features'; list them in the spec: they become the step's inputs"
        )
    return PredictorStep(name=request.component, features=list(spec.features),
                         system=request.system, version=version)
