"""Spec entries under ``guardrails:``.

Example (the part of a `compound.yaml` these models read)::

    guardrails:
      injection:
        type: injection            # ML classifier + phrase heuristics (+ optional LLM check)
        llm: llm                   # decides the uncertain middle
      pii:
        type: pii
        stage: both                # redact requests and answers
        entities: [EMAIL_ADDRESS, PHONE_NUMBER, CREDIT_CARD, IBAN_CODE]
      topics:
        type: topic
        workflows: [answer]        # only this workflow (all workflows when left out)
        denied_topics:
          medical_advice:
            examples: ["What dose of ibuprofen should I take?"]
            keywords: [diagnosis, prescription]
      answer_format:
        type: schema
        json_schema: {type: object, required: [answer]}
      grounded:
        type: groundedness
        threshold: 0.8
      secrets:
        type: secrets
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from compound.specfile import SpecModel

# the built-in types and the type-specific keys each accepts
_TYPE_KEYS: dict[str, frozenset[str]] = {
    "injection": frozenset({"model", "llm", "threshold"}),
    "pii": frozenset({"entities", "llm"}),
    "secrets": frozenset(),
    "topic": frozenset({"allowed_topics", "denied_topics", "threshold"}),
    "schema": frozenset({"json_schema"}),
    "groundedness": frozenset({"llm", "threshold"}),
}
_SPECIFIC = frozenset().union(*_TYPE_KEYS.values())
_REDACTING = ("pii", "secrets")


class TopicSpec(SpecModel):
    """A topic a topic rail allows or denies, told by examples and keywords."""

    description: str = ""
    examples: list[str] = Field(default_factory=list, description="requests on this topic")
    keywords: list[str] = Field(default_factory=list, description="words that name the topic")

    @model_validator(mode="after")
    def _has_evidence(self) -> TopicSpec:
        if not self.examples and not self.keywords:
            raise ValueError("a topic needs 'examples' or 'keywords' (or both) to be recognised")
        return self


class RailSpec(SpecModel):
    """A guardrail: where it runs, which workflows it guards, and what it checks."""

    type: str = Field(description="rail type: injection, pii, secrets, topic, schema, "
                                  "groundedness, or one registered under 'compound.rails'")
    stage: Literal["input", "output", "both"] | None = Field(
        default=None, description="where it runs; the type's default when left out")
    workflows: list[str] = Field(
        default_factory=list, description="the workflows it guards; every one when empty")
    action: Literal["block", "redact", "escalate"] | None = Field(
        default=None, description="what the rail does when it fires; the type's default "
                                  "when left out (redact for pii and secrets, else block)")
    on_error: Literal["allow", "escalate", "block"] = Field(
        default="escalate", description="the decision when the rail fails or times out")
    timeout_s: float | None = Field(
        default=None, gt=0, description="the rail's time limit; the type's default when left out")
    model: str | None = Field(
        default=None, description="a trained model from 'models' (injection: the classifier)")
    llm: str | None = Field(
        default=None, description="an LLM from 'models' for the uncertain middle (injection), "
                                  "names (pii) or claim checks (groundedness)")
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    entities: list[str] | None = Field(default=None, description="pii: the entity types")
    allowed_topics: dict[str, TopicSpec] = Field(default_factory=dict)
    denied_topics: dict[str, TopicSpec] = Field(default_factory=dict)
    json_schema: dict[str, Any] | None = Field(
        default=None, description="schema: the JSON schema answers must match")
    options: dict[str, Any] = Field(default_factory=dict)
    description: str = ""

    @model_validator(mode="after")
    def _keys_fit_the_type(self) -> RailSpec:
        keys = _TYPE_KEYS.get(self.type)
        if keys is None:  # a third party's type: its own keys go under 'options'
            return self
        given = {k for k in _SPECIFIC if getattr(self, k) not in (None, {}, [])}
        stray = sorted(given - keys)
        if stray:
            raise ValueError(
                f"'{stray[0]}' does not apply to a rail of type '{self.type}'; its keys are "
                f"{', '.join(sorted(keys)) or 'only the common ones'}"
            )
        if self.action == "redact" and self.type not in _REDACTING:
            raise ValueError(f"a rail of type '{self.type}' cannot redact; use block or "
                             "escalate")
        if self.type == "topic" and not (self.allowed_topics or self.denied_topics):
            raise ValueError("a topic rail needs 'allowed_topics' or 'denied_topics'")
        if self.type == "schema":
            self._check_schema()
        if self.type == "pii" and self.entities is not None:
            from compound.privacy.recognizers import ENTITIES
            from compound.specfile import did_you_mean

            for entity in self.entities:
                if entity not in ENTITIES:
                    raise ValueError(f"unknown PII entity '{entity}'"
                                     f"{did_you_mean(entity, ENTITIES)}; known: "
                                     f"{', '.join(ENTITIES)}")
        return self

    def _check_schema(self) -> None:
        if self.json_schema is None:
            raise ValueError("a schema rail needs 'json_schema': the JSON schema of answers")
        import jsonschema

        from compound import linear_regex

        try:
            linear_regex.check_schema(self.json_schema)
        except jsonschema.SchemaError as exc:
            raise ValueError(f"json_schema is not a valid JSON schema: {exc.message}") from None
        except linear_regex.PatternError as exc:
            raise ValueError(f"json_schema: {exc}") from None

    def stages(self) -> tuple[Literal["input", "output"], ...] | None:
        """The stages the spec names (None: the rail type's default)."""
        if self.stage is None:
            return None
        return ("input", "output") if self.stage == "both" else (self.stage,)

    def model_refs(self) -> list[str]:
        """The names under ``models`` this rail uses (checked when the spec loads)."""
        return [name for name in (self.model, self.llm) if name is not None]

    def guards(self, workflow: str | None) -> bool:
        """Whether the rail applies to ``workflow`` (None: outside any workflow)."""
        return not self.workflows or workflow is None or workflow in self.workflows
