"""The feedback flywheel: a trained model gets better from what it gets wrong in service.

`compound improve` retrains a predictor on corrections: user signals and review resolutions
about runs, traced back to the workflow step that ``uses:`` the predictor, whose inputs give
the features (:mod:`compound.lifecycle.corrections`). A predictor that no served step uses
has no run to correct, so nothing captures feedback about it and `improve` never retrains it.

* ``no-flywheel``: such a predictor.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from compound.design_review.finding import Hit, Rule
from compound.design_review.paths import served, steps_using

if TYPE_CHECKING:
    from compound.system import System


def _uses_elsewhere(system: System, name: str) -> list[str]:
    """Where else the spec uses predictor ``name``: routers, rails, the semantic cache."""
    found = [f"router '{r}'" for r, spec in system.strategy.routers.items()
             if getattr(spec, "model", None) == name]
    found += [f"rail '{r}'" for r, rail in system.guardrails.items() if rail.model == name]
    if system.strategy.cache.semantic.intent_model == name:
        found.append("the semantic cache's intent guard")
    found += [f"eval '{e}'" for e, ev in system.evals.items() if ev.target.model == name]
    return found


def _no_flywheel(system: System) -> Iterator[Hit]:
    workflows = served(system)
    for name in system.predictors():
        if steps_using(system, name, workflows):
            continue
        elsewhere = _uses_elsewhere(system, name)
        used = f"used only by {', '.join(elsewhere)}" if elsewhere else "used by nothing"
        yield Hit(("models", name),
                  f"predictor '{name}' is {used}, never by a step of a served workflow: no "
                  "run records its predictions, so no correction or review resolution can "
                  f"reach it and `compound improve` has nothing to retrain '{name}' on",
                  f"predict with a workflow step that `uses: {name}` (its `inputs:` are the "
                  "features), so users' corrections (POST /v1/feedback, kind correction) and "
                  "review resolutions become its training rows")


RULES = (
    Rule("no-flywheel", "warning",
         "a trained model improves from its mistakes in service: feedback on its predictions "
         "becomes training data, and `compound improve` promotes a better version only when "
         "it passes the gate", _no_flywheel),
)
