"""The ``serve:`` section of `compound.yaml`: how `compound serve` exposes a system.

Every field has a default, so a spec without ``serve:`` serves on 127.0.0.1:8000 with API keys
required, a 1 MiB body limit, a 30-second run timeout and a per-key rate limit.

Example (the part of a `compound.yaml` these models read)::

    serve:
      host: 127.0.0.1
      port: 8000
      auth: true              # false: no API keys (local development only)
      max_body_bytes: 1048576
      timeout_s: 30
      rate_limit: {requests_per_s: 50, burst: 100}
      cors_origins: ["http://localhost:3000"]
      batch: {max_size: 64, max_wait_ms: 2}
      llm_queue: {max_waiting: 32, wait_timeout_s: 60}
      drift: {window_s: 3600, reference_size: 500, check_every_s: 300}
      online_evals:
        valid_json: {metric: json_valid, sample_rate: 0.2}

    >>> ServeSpec().port, ServeSpec(auth=False).auth
    (8000, False)
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from compound.specfile import SpecModel


class RateLimitSpec(SpecModel):
    """A token bucket per API key (per client address when auth is off)."""

    requests_per_s: float = Field(default=50.0, gt=0, description="sustained rate")
    burst: int = Field(default=100, ge=1, description="requests allowed at once")


class BatchSpec(SpecModel):
    """How concurrent ML predictions are grouped into one ``predict_batch`` call."""

    max_size: int = Field(default=64, ge=1, description="most inputs in one batch")
    max_wait_ms: float = Field(
        default=0.0, ge=0, le=1000,
        description="how long the first input waits for company when the model is idle; "
        "0 batches what arrives together without waiting",
    )


class LLMQueueSpec(SpecModel):
    """The queue in front of each LLM: how many calls run at once and how many may wait."""

    concurrency: int | None = Field(
        default=None, ge=1,
        description="calls at once; default 1 for the embedded model, 8 for remote ones",
    )
    max_waiting: int = Field(default=32, ge=0, description="calls queued before 503s")
    wait_timeout_s: float = Field(default=60.0, gt=0, description="longest wait in the queue")


class BehaviourSpec(SpecModel):
    """Drift of what the models do: how far a behaviour signal's mean must move, besides
    being significant at ``drift.p_value``, before it alerts (small changes that large
    samples make significant are not worth a page)."""

    enabled: bool = True
    confidence_change: float = Field(
        default=0.05, gt=0, le=1, description="mean predictor confidence moved by this much")
    rate_change: float = Field(
        default=0.05, gt=0, le=1, description="review or refusal rate moved by this much")
    length_change: float = Field(
        default=0.25, gt=0, description="mean answer length (tokens) moved by this share")
    score_change: float = Field(
        default=0.05, gt=0, description="mean online evaluation score moved by this much")


class DriftSpec(SpecModel):
    """Drift detection on the inputs of each served workflow, and on its models' behaviour."""

    enabled: bool = True
    sample_rate: float = Field(default=1.0, ge=0, le=1, description="share of inputs kept")
    max_per_s: float = Field(
        default=4.0, gt=0, description="most inputs logged per second per workflow (a random "
        "sample of those offered): bounds the log under any load",
    )
    reference_size: int = Field(
        default=500, ge=10, description="the first N inputs form the reference, unless pinned"
    )
    window_s: float = Field(default=3600.0, gt=0, description="the current window")
    max_samples: int = Field(default=2000, ge=10, description="most inputs per window")
    min_samples: int = Field(default=50, ge=5, description="fewer: no verdict")
    check_every_s: float = Field(default=300.0, gt=0)
    psi_threshold: float = Field(default=0.2, gt=0, description="PSI above this: drift")
    p_value: float = Field(default=0.01, gt=0, lt=1, description="KS/embedding test level")
    embedder: str = Field(default="minilm", description="embedder for text fields")
    behaviour: BehaviourSpec = Field(default_factory=BehaviourSpec,
                                     description="drift of the models' behaviour")


class OnlineEvalSpec(SpecModel):
    """A reference-free metric scored on a sample of live runs (quality over time)."""

    metric: str = Field(description="a registered metric that needs no reference, or a "
                        "'module:function' one")
    sample_rate: float = Field(default=1.0, gt=0, le=1)
    workflows: list[str] = Field(default_factory=list, description="empty: all")
    options: dict[str, Any] = Field(default_factory=dict)


class ServeSpec(SpecModel):
    """How `compound serve` exposes the system over HTTP."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    auth: bool = Field(default=True, description="require API keys (false: local dev only)")
    workflows: list[str] = Field(default_factory=list, description="served ones; empty: all")
    max_body_bytes: int = Field(default=1 << 20, ge=256)
    timeout_s: float = Field(default=30.0, gt=0, description="longest a run may take")
    rate_limit: RateLimitSpec | None = Field(default_factory=RateLimitSpec)
    cors_origins: list[str] = Field(default_factory=list)
    metrics_public: bool = Field(default=True, description="/metrics without a key")
    checkpoints: Literal["auto", "always", "never"] = Field(
        default="auto", description="checkpoint each step so that a killed run resumes from "
        "its last completed step: always, never, or auto (workflows of more than one step; "
        "a one-step run has nothing to resume). Runs not checkpointed still get a record",
    )
    batch: BatchSpec = Field(default_factory=BatchSpec)
    llm_queue: LLMQueueSpec = Field(default_factory=LLMQueueSpec)
    drift: DriftSpec = Field(default_factory=DriftSpec)
    online_evals: dict[str, OnlineEvalSpec] = Field(default_factory=dict)
    flush_every_s: float = Field(default=2.0, gt=0, description="monitoring rollup writes")
