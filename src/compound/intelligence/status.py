"""Whether each model a system declares is usable: the data behind `compound models list`."""

from __future__ import annotations

from dataclasses import dataclass

from compound.errors import CompoundError
from compound.intelligence.spec import LLMSpec
from compound.system import System


@dataclass(frozen=True)
class ModelStatus:
    """One row of `compound models list`."""

    name: str
    kind: str
    detail: str
    version: str
    ok: bool
    message: str


def model_statuses(system: System, *, load: bool = True) -> list[ModelStatus]:
    """A status for every model of ``system``; with ``load``, each LLM is loaded (with its
    production adapter, :mod:`compound.intelligence.llm.versions`) to check it."""
    rows = []
    for name, spec in system.models.items():
        if isinstance(spec, LLMSpec):
            rows.append(_llm_status(system, name, spec, load=load))
        else:
            rows.append(_predictor_status(system, name))
    return rows


def _llm_status(system: System, name: str, spec: LLMSpec, *, load: bool) -> ModelStatus:
    from compound.intelligence.llm import build_llm
    from compound.intelligence.llm.versions import LLMRegistry, llm_spec

    version = ""
    try:
        if spec.provider == "embedded":
            from compound.store import open_store

            with open_store(system) as store:  # production read once, its adapter applied
                current = LLMRegistry(store).production(name)
                spec = llm_spec(system, name, store, current)
            if current is not None and current.adapted:
                version = f" ({current.ref}, adapter {current.adapter_sha256[:12]})"
        llm = build_llm(spec)
        if load:
            llm.load()
            llm.count_tokens("ok")
        message = "loads" if load else "configured"
        ok = True
        model = llm.model + version
    except CompoundError as exc:
        model, ok, message = spec.model or "-", False, str(exc)
    return ModelStatus(name, "llm", spec.provider, model, ok, message)


def _predictor_status(system: System, name: str) -> ModelStatus:
    spec = system.predictors()[name]
    try:
        from compound.intelligence.registry import production_status  # type: ignore[attr-defined]
    except ImportError:
        return ModelStatus(name, "predictor", spec.task, "-", False, "not trained")
    version, ok, message = production_status(system, name)
    return ModelStatus(name, "predictor", spec.task, version, ok, message)
