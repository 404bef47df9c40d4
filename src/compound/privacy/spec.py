"""The spec's ``store.redact`` section: what the store redacts before it writes anything.

Example:
    >>> RedactionSpec.model_validate(False).enabled
    False
    >>> RedactionSpec().keep_raw
    []
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from compound.privacy.recognizers import ENTITIES
from compound.specfile import SpecModel


class RedactionSpec(SpecModel):
    """Redaction at the store boundary: on by default; ``redact: false`` turns it off.

    Every run record, checkpoint, journal entry, trace span, review item, feedback signal,
    monitoring sample and cache entry is redacted (secrets always; personal data unless
    ``pii: false``) before it is written, so neither the database nor its WAL ever holds the
    raw values. A resumed run continues from the redacted checkpoints (see
    :mod:`compound.store.redacting`).
    """

    enabled: bool = Field(default=True, description="false: write records as they come")
    pii: bool = Field(default=True, description="false: redact secrets only")
    entities: list[str] | None = Field(
        default=None, description=f"personal data types to redact (all: {', '.join(ENTITIES)})")
    keep_raw: list[str] = Field(
        default_factory=list,
        description="collections or stream prefixes written unredacted (e.g. 'session')")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"enabled": data} if isinstance(data, bool) else data

    @field_validator("entities")
    @classmethod
    def _known_entities(cls, value: list[str] | None) -> list[str] | None:
        unknown = [e for e in value or () if e not in ENTITIES]
        if unknown:
            raise ValueError(f"unknown personal data type '{unknown[0]}'; known: "
                             f"{', '.join(ENTITIES)}")
        return value
