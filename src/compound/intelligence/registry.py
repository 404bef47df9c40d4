"""The model registry: every trained model is a version with its data hash, parameters,
metrics, library versions and artifact; one version per model is in production.

Stages: a new version is a ``candidate``; :meth:`ModelRegistry.promote` makes it
``production`` only when it passes the promotion gate (:mod:`compound.intelligence.promotion`),
and the version it replaces becomes ``archived``; :meth:`ModelRegistry.rollback` restores the
previous production version. Training never touches the production version: a failed or worse
run leaves it as it was.

In the store: collection ``models`` holds one document per version (key ``intent@3``),
collection ``model_stages`` one pointer per model (production version and its history), blobs
``models/intent/3`` the artifacts, and stream ``model_events`` an audit log. All writes of a
registration, promotion or rollback happen in one transaction.

Example:
    >>> from compound.store import MemoryStore
    >>> registry = ModelRegistry(MemoryStore())
    >>> registry.versions("intent")
    []
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import Field

from compound.errors import UserError
from compound.gating import GateCheck, failures
from compound.intelligence.promotion import applicable_criteria, churn_checks, gate_checks
from compound.intelligence.versioning import PromotionDecision, Versioned, VersionRecord
from compound.specfile import did_you_mean

if TYPE_CHECKING:
    from compound.intelligence.embedders import Embedder
    from compound.intelligence.ml.model import TrainedModel
    from compound.intelligence.spec import ChurnSpec, PredictorSpec
    from compound.store import Store
    from compound.system import Criterion, System

VERSIONS, STAGES, EVENTS = "models", "model_stages", "model_events"


class ModelVersion(VersionRecord):
    """One registered version of a trained model (the document the store keeps)."""

    task: str
    learner: str
    params: dict[str, Any] = Field(default_factory=dict)
    target: str = ""
    features: list[str] = Field(default_factory=list)
    data: dict[str, dict[str, Any]] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict)
    primary: str = ""
    report: dict[str, Any] = Field(default_factory=dict)
    parts: dict[str, dict[str, float]] = Field(default_factory=dict)
    calibration: dict[str, Any] | None = None
    libraries: dict[str, str] = Field(default_factory=dict)
    artifact_key: str
    artifact_sha256: str
    artifact_bytes: int
    held_out_key: str | None = None
    churn: dict[str, Any] | None = None
    training_seconds: float = 0.0

    @property
    def gate_metrics(self) -> dict[str, float]:
        """The test metrics of the gate rows, which the promotion gate reads (all test rows'
        for a version trained without a final split)."""
        return self.parts.get("gate") or self.metrics

    @property
    def final_metrics(self) -> dict[str, float]:
        """The test metrics of the final rows, which no promotion reads (empty without)."""
        return self.parts.get("final", {})


class ModelRegistry(Versioned[ModelVersion]):
    """Versions, stages, promotion and rollback of trained models, kept in a store.

    Args:
        store: the system's store (``open_store(system)``), or a ``MemoryStore`` in tests.
    """

    def __init__(self, store: Store) -> None:
        super().__init__(store, ModelVersion, kind="model",
                         collections=(VERSIONS, STAGES, EVENTS),
                         none_yet="none; train it first")

    # -- reading ----------------------------------------------------------------------------

    def resolve(self, name: str, version: int | None) -> ModelVersion:
        """``version`` of ``name``, or its production version when None."""
        if version is not None:
            return self.get(name, version)
        current = self.production(name)
        if current is None:
            raise UserError(
                f"model '{name}' has no production version yet; train it with 'compound "
                f"train SPEC {name}' and promote it with 'compound models promote SPEC {name}'"
            )
        return current

    def held_out(self, record: ModelVersion) -> dict[str, Any] | None:
        """The gate and final rows of ``record`` and its prediction of every test row (see
        :meth:`register`), or None for a version that has none."""
        data = self.store.get_blob(record.held_out_key) if record.held_out_key else None
        return None if data is None else dict(json.loads(data))

    def load_model(self, record: ModelVersion, *, embedder: Embedder | None = None
                   ) -> TrainedModel:
        """The artifact of ``record``, checked against its recorded hash, then loaded.

        Raises:
            ArtifactError: the artifact is missing, altered or damaged.
        """
        from compound.intelligence.ml.artifact import ArtifactError
        from compound.intelligence.ml.model import TrainedModel

        data = self.store.get_blob(record.artifact_key)
        advice = ("retrain it with 'compound train', or roll back with 'compound models "
                  "rollback'")
        if data is None:
            raise ArtifactError(f"the artifact of {record.ref} is missing from the store; {advice}")
        digest = hashlib.sha256(data).hexdigest()
        if digest != record.artifact_sha256:
            raise ArtifactError(
                f"the artifact of {record.ref} is corrupt: its SHA-256 is {digest[:12]}..., "
                f"recorded {record.artifact_sha256[:12]}... at registration; {advice}"
            )
        return TrainedModel.from_bytes(data, what=record.ref, embedder=embedder)

    # -- writing ----------------------------------------------------------------------------

    def register(self, name: str, model: TrainedModel, *,
                 held_out: Mapping[str, Any] | None = None, **facts: Any) -> ModelVersion:
        """Store ``model`` as a new candidate version.

        Args:
            name: the model's name in the spec.
            model: the trained model.
            held_out: the gate and final rows and every test row's prediction
                (:meth:`compound.intelligence.ml.training.HeldOut.record`), kept beside the
                version for the churn of the next one.
            **facts: the other :class:`ModelVersion` fields (metrics, data, params...).
        """
        artifact = model.to_bytes()
        with self.store.transaction():
            latest = max((v.version for v in self.versions(name)), default=0)
            version = latest + 1
            key = f"models/{name}/{version}"
            record = ModelVersion(
                name=name, version=version, stage="candidate", created=time.time(),
                task=model.task, learner=model.learner.name, artifact_key=key,
                artifact_sha256=hashlib.sha256(artifact).hexdigest(),
                artifact_bytes=len(artifact),
                held_out_key=f"{key}/held_out" if held_out is not None else None, **facts,
            )
            self.store.put_blob(key, artifact)
            if held_out is not None:
                self.store.put_blob(f"{key}/held_out", json.dumps(dict(held_out)).encode())
            self.store.put(VERSIONS, record.ref, record.model_dump(mode="json"))
            self.store.append(EVENTS, {"event": "register", "model": name, "version": version})
        return record

    def promote(
        self,
        name: str,
        version: int | None = None,
        *,
        criteria: Mapping[str, Criterion],
        only: Sequence[str] | None = None,
        primary: str | None = None,
        extra_checks: Sequence[GateCheck] = (),
        by: str | None = None,
        churn: ChurnSpec | None = None,
        defaults: bool = False,
    ) -> PromotionDecision:
        """Make a candidate production if it passes the gate; otherwise change nothing.

        The gate is the criteria's checks, the primary metric's, the churn limits, the loop's
        default checks, and ``extra_checks``, which a caller adds for its own reasons
        (``compound improve``: the same test rows, a real gain); the decision and the audit
        event (``promote`` or ``refused``, with the churn) are written here only. It reads the
        *gate* rows' metrics and predictions (:attr:`ModelVersion.gate_metrics`), never the
        final rows'. :func:`compound.intelligence.promotion.spec_gate` gives the keywords a
        spec asks for.

        Args:
            name: the model.
            version: the candidate; the newest candidate when None.
            criteria: the system's success criteria.
            only: the criteria the predictor lists (each must then be measured).
            primary: the task's main metric, guarded against any regression; the one
                recorded at training when None.
            extra_checks: more checks the candidate must pass.
            by: who asks (``improve``), recorded in the audit event.
            churn: the churn limits against production on the gate rows (None: not gated).
            defaults: add the loop type's default checks (ECE) where no criterion applies.

        Raises:
            UserError: no such version, or no candidate to promote.
            ArtifactError: the candidate's artifact does not load (nothing is changed).
        """
        record = self._candidate(name, version)
        current = self.production(name)
        if current is not None and current.version == record.version:
            return PromotionDecision(name, record.version, promoted=False, replaced=None,
                                     message=f"{record.ref} is already in production")
        same_rows = current is None or (
            bool(record.parts.get("gate")) and bool(current.parts.get("gate"))
            and record.data.get("gate", {}).get("sha256")
            == current.data.get("gate", {}).get("sha256"))
        # gate rows where both versions have them, all test rows where one lacks them
        mine = record.gate_metrics if same_rows else record.metrics
        theirs = None if current is None else (
            current.gate_metrics if same_rows else current.metrics)
        checks = gate_checks(
            mine, theirs, criteria=applicable_criteria(criteria, only, model=name),
            required=only is not None, primary=primary or record.primary or None,
            defaults=defaults,
        )
        measured = None
        if churn is not None and current is not None:
            found, measured = churn_checks(self.held_out(current), self.held_out(record),
                                           churn, against=current.ref)
            checks += found
        checks += list(extra_checks)
        rows = _rows_read(record, same_rows)
        by_whom = {} if by is None else {"by": by}
        churned = {} if measured is None or current is None else {"churn": {
            "against": current.version, "churn": measured.churn,
            "confident_churn": measured.confident_churn,
            "negative_flips": measured.negative_flips, "rows": measured.rows,
            "confidence": measured.confidence}}
        failed = failures(checks)
        if failed:
            if churned:
                self.set_stage(record, record.stage, **churned)
            self.store.append(EVENTS, {"event": "refused", "model": name,
                                       "version": record.version,
                                       "checks": [c.name for c in failed], **churned,
                                       **by_whom})
            reasons = "; ".join(f"{c.name}: {c.message}" for c in failed)
            return PromotionDecision(name, record.version, promoted=False, checks=checks,
                                     message=f"{record.ref} was not promoted: the gate failed "
                                             f"({reasons})", churn=measured, rows=rows)
        self.load_model(record)  # a candidate that does not load never reaches production
        self.install(record, current, changes=churned, event={**churned, **by_whom})
        return PromotionDecision(
            name, record.version, promoted=True, checks=checks, churn=measured, rows=rows,
            replaced=current.version if current else None,
            message=f"{record.ref} is now in production"
            + (f" (replacing version {current.version})" if current else ""),
        )

    def rollback(self, name: str) -> ModelVersion:
        """Restore the production version before the current one.

        Returns:
            The version now in production.

        Raises:
            UserError: there is no earlier production version.
        """
        current, previous = self.previous(name)
        self.load_model(previous)
        return self.restore(current, previous)

    def _candidate(self, name: str, version: int | None) -> ModelVersion:
        if version is not None:
            return self.get(name, version)
        candidates = [v for v in self.versions(name) if v.stage == "candidate"]
        if not candidates:
            raise UserError(
                f"model '{name}' has no candidate version to promote; train one with "
                f"'compound train SPEC {name}'"
            )
        return candidates[-1]


def _rows_read(record: ModelVersion, same_rows: bool) -> str:
    """Which rows the decision read, in words."""
    gate, final = record.data.get("gate", {}), record.data.get("final", {})
    if same_rows and gate:
        return (f"decided on {gate.get('rows', 0):,} gate rows of the test split; "
                f"{final.get('rows', 0):,} final rows not read")
    return f"decided on all {record.data.get('test', {}).get('rows', 0):,} test rows"


def predictor_spec(system: System, name: str) -> PredictorSpec:
    """The predictor ``name`` of ``system``, or a UserError listing the predictors."""
    predictors = system.predictors()
    if name not in predictors:
        what = "an LLM, not a trained model" if name in system.models else "not declared"
        raise UserError(
            f"model '{name}' is {what}{did_you_mean(name, predictors)}; trained models of "
            f"'{system.name}': {', '.join(predictors) or 'none'}"
        )
    return predictors[name]


def production_status(system: System, name: str) -> tuple[str, bool, str]:
    """``(version, ok, message)`` of a predictor, for ``compound models list``."""
    from compound.store import open_store

    with open_store(system) as store:
        registry = ModelRegistry(store)
        versions = registry.versions(name)
        current = registry.production(name)
    if current is None:
        if not versions:
            return "-", False, "not trained"
        return (f"{versions[-1].version} (candidate)", False,
                "no production version; promote one with 'compound models promote'")
    shown = ", ".join(f"{k} {v:.3f}" for k, v in list(current.metrics.items())[:2])
    return str(current.version), True, f"production ({shown})"
