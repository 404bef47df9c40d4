"""Build an :class:`LLM` from its spec entry, through the provider plugin registry."""

from __future__ import annotations

import inspect
from typing import Any

from compound.errors import UserError
from compound.intelligence.llm.base import LLM
from compound.intelligence.llm.types import GenerationParams
from compound.intelligence.spec import LLMSpec
from compound.plugins import load


def build_llm(spec: LLMSpec) -> LLM:
    """The provider object for ``spec`` (not loaded yet: call ``load()`` or just use it).

    ``spec.options`` are passed to the provider's constructor; an option it does not take is
    a user error naming the options it does take.
    """
    cls = load("compound.providers", spec.provider)
    generation = spec.generation
    kwargs: dict[str, Any] = {
        "defaults": GenerationParams(
            max_tokens=generation.max_tokens,
            temperature=generation.temperature,
            top_p=generation.top_p,
            seed=generation.seed,
            stop=tuple(generation.stop),
        ),
        "timeout_s": spec.timeout_s,
    }
    if spec.model:
        kwargs["model"] = spec.model
    if spec.base_url:
        kwargs["base_url"] = spec.base_url
    if spec.api_key_env:
        kwargs["api_key_env"] = spec.api_key_env
    if spec.context_window:
        kwargs["n_ctx"] = spec.context_window
    kwargs.update(spec.options)
    accepted = inspect.signature(cls.__init__).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
    unknown = [k for k in kwargs if k not in accepted and not takes_any]
    if unknown:
        allowed = sorted(k for k in accepted if k not in ("self", "defaults"))
        raise UserError(
            f"provider '{spec.provider}' does not take {', '.join(repr(k) for k in unknown)} "
            f"(from 'options', 'base_url', 'api_key_env' or 'context_window'); it takes: "
            f"{', '.join(allowed)}"
        )
    llm: LLM = cls(**kwargs)
    return llm
