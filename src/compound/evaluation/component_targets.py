"""Components of the system as eval targets: a trained model, a guardrail.

* :class:`PredictorTarget` (``target: {model: intent}`` naming a predictor): each example's
  inputs are the model's features; the answer is the predicted label (the value, for
  regression), and the row keeps the probability and the model version.
* :class:`RailTarget` (``target: {rail: injection}``): the rail decides about each example's
  text, and its decision is scored as a label: ``"1"`` when the rail fires (blocks, escalates
  or redacts) and ``"0"`` when it allows, so ``recall`` against labels where 1 marks an attack
  is the share of attacks the rail catches. The row keeps the action, reason and score.

Example:
    >>> from compound.production.rails.secrets import SecretsRail
    >>> target = RailTarget(SecretsRail(name="secrets"))
    >>> target.run({"text": "my key is ghp_" + "a" * 36}).text, target.run({"text": "hi"}).text
    ('1', '0')
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from compound.errors import UserError
from compound.evaluation.datasets import content_hash
from compound.evaluation.targets import TargetOutput, as_passages

if TYPE_CHECKING:
    from compound.intelligence.ml.predictor import Predictor
    from compound.production.rails.base import Rail
    from compound.store import Store
    from compound.system import System

PredictorOutput = Literal["label", "probability", "value"]
PREDICTOR_OUTPUTS: tuple[PredictorOutput, ...] = ("label", "probability", "value")


class PredictorTarget:
    """A trained model scoring each example: its features are the example's inputs.

    Args:
        predictor: the model (loaded on first use).
        output: what the answer is: ``label`` (classification, the default), ``value``
            (regression or ranking; the default for those) or ``probability`` (of the
            predicted label).
        name: how reports name it (default: the model's name).
    """

    def __init__(self, predictor: Predictor, *, output: PredictorOutput | None = None,
                 name: str | None = None) -> None:
        if output is not None and output not in PREDICTOR_OUTPUTS:
            raise UserError(f"a predictor target's output is one of "
                            f"{', '.join(PREDICTOR_OUTPUTS)}; received {output!r}")
        self.predictor = predictor
        self.output = output
        self.name = name or f"model:{predictor.name}"
        self._lock = threading.Lock()

    @classmethod
    def from_system(cls, system: System, name: str, *, store: Store | None,
                    output: PredictorOutput | None = None) -> PredictorTarget:
        """The predictor ``name`` of ``system``, its production version, from ``store`` (the
        system's own store when None)."""
        from compound.intelligence.ml.predictor import Predictor

        if store is not None:
            return cls(Predictor(name=name, store=store), output=output)
        return cls(Predictor.from_system(system, name), output=output)

    def load(self) -> None:
        """Load the model before the clock starts."""
        with self._lock:
            self.predictor.load()

    def fingerprint(self) -> str:
        """The model's name, version and artifact hash: a new version is a new target."""
        self.load()
        store, predictor = self.predictor.store, self.predictor
        artifact = None
        if store is not None:
            from compound.intelligence.registry import ModelRegistry

            artifact = ModelRegistry(store).resolve(predictor.name, predictor.version)
        return content_hash(["predictor", predictor.name, predictor.version, self.output,
                             artifact.artifact_sha256 if artifact else repr(predictor.model)])

    def run(self, inputs: Mapping[str, Any]) -> TargetOutput:
        self.load()
        start = time.perf_counter()
        prediction = self.predictor.run(dict(inputs))
        latency = time.perf_counter() - start
        chosen = self.output or ("label" if prediction.label is not None else "value")
        answer = getattr(prediction, chosen)
        data = {"label": prediction.label, "probability": prediction.probability,
                "value": prediction.value, "model": prediction.model,
                "version": prediction.version}
        return TargetOutput(text="" if answer is None else str(answer), data=data,
                            latency_s=latency)


class RailTarget:
    """A guardrail deciding about each example's text; its decision scored as a label.

    The text is the example's only input, or its ``text`` input. The answer is ``"1"`` when
    the rail fires (any action but ``allow``) and ``"0"`` when it allows.

    Args:
        rail: the rail (loaded on first use; the injection rail may train then).
        contexts: the input field holding the passages an output rail checks the answer
            against (groundedness).
        name: how reports name it (default: ``rail:<name>``).
        definition: what identifies the rail's configuration (its spec entry), for resuming.
    """

    def __init__(self, rail: Rail, *, contexts: str | None = None, name: str | None = None,
                 definition: Any = None) -> None:
        self.rail = rail
        self.contexts = contexts
        self.name = name or f"rail:{rail.name}"
        self.definition = definition
        self._lock = threading.Lock()
        self._loaded = False

    @classmethod
    def from_system(cls, system: System, name: str, *, store: Store | None,
                    contexts: str | None = None) -> RailTarget:
        """The rail ``name`` under the system's ``guardrails:``."""
        from compound.production.rails.base import RailRequest, build_rail

        spec = system.guardrails[name]
        rail = build_rail(RailRequest(name, spec, system, store, {}))
        return cls(rail, contexts=contexts, definition=spec.model_dump(mode="json"))

    def load(self) -> None:
        """Load the rail's models (once) before the clock starts."""
        with self._lock:
            if not self._loaded:
                self.rail.load()
                self._loaded = True

    def fingerprint(self) -> str:
        return content_hash(["rail", self.rail.name, type(self.rail).__name__,
                             self.definition, self.contexts])

    def run(self, inputs: Mapping[str, Any]) -> TargetOutput:
        from compound.production.rails.verdict import RailInput

        self.load()
        stage = self.rail.stages[0]
        documents = as_passages(inputs.get(self.contexts)) if self.contexts else ()
        subject = RailInput(_text_of(inputs, self.rail.name, skip=self.contexts), stage=stage,
                            documents=documents)
        start = time.perf_counter()
        verdict = self.rail.run(subject)
        latency = time.perf_counter() - start
        return TargetOutput(
            text="0" if verdict.action == "allow" else "1",
            data={"action": verdict.action, "reason": verdict.reason, "score": verdict.score},
            contexts=documents, latency_s=latency,
        )


def _text_of(inputs: Mapping[str, Any], rail: str, *, skip: str | None) -> str:
    fields = [k for k in inputs if k != skip]
    if "text" in inputs:
        value = inputs["text"]
    elif len(fields) == 1:
        value = inputs[fields[0]]
    else:
        raise UserError(
            f"rail target '{rail}' checks one text, but the example has the fields "
            f"{', '.join(fields) or 'none'}; name one 'text' in the dataset's inputs "
            "(e.g. inputs: {text: question})"
        )
    return value if isinstance(value, str) else str(value)
