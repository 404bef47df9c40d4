"""Spec entries under ``guardrails:``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from compound.specfile import SpecModel


class RailSpec(SpecModel):
    """A guardrail: where it runs and what it checks."""

    type: str = Field(description="rail type, e.g. 'injection', 'pii', 'topic', 'schema'")
    stage: Literal["input", "output"] = "input"
    model: str | None = Field(default=None, description="a model from 'models' the rail uses")
    options: dict[str, Any] = Field(default_factory=dict)
    description: str = ""
