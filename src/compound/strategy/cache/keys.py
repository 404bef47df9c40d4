"""Cache keys: a digest of everything that changes the answer.

An LLM answer depends on the provider and model, the model's version, every generation
setting (temperature, top_p, seed, max_tokens, stop, the JSON schema, the tools offered), the
whole prompt (every message, its role, tool calls and tool results) and the provider settings
that change what the model sees (a server URL, a weights file, a prompt template). All of it
goes into the key; generation settings are read from *every* field of
:class:`~compound.intelligence.llm.types.GenerationParams`, so a setting added later is keyed
without anyone remembering to add it. The model identity and version are kept readable next to
the digest, so entries of one model can be invalidated when its version changes.

Example:
    >>> from compound.intelligence.llm import ScriptedLLM
    >>> llm = ScriptedLLM(["hi"], model="m")
    >>> a = llm_cache_key(llm, "hello", llm.params())
    >>> b = llm_cache_key(llm, "hello", llm.params(temperature=0.7))
    >>> a.model, a == b
    ('scripted:m', False)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from compound.errors import UserError

if TYPE_CHECKING:
    from compound.intelligence.llm import LLM
    from compound.intelligence.llm.types import GenerationParams, Prompt

#: Provider settings that change what the model sees or which weights answer.
IDENTITY_ATTRIBUTES = ("base_url", "model_path", "few_shot", "instruction", "prompt_format",
                       "n_ctx", "lora_path", "lora_scale")


@dataclass(frozen=True, slots=True)
class CacheKey:
    """Where an answer is cached.

    Attributes:
        model: the model's identity (``provider:model``, or ``predictor:name``).
        version: the model's version; a different version never shares entries.
        digest: sha256 of everything else that changes the answer.
    """

    model: str
    version: str
    digest: str

    @property
    def storage(self) -> str:
        """The key in a backend: model, version and digest, so one model's entries share a
        prefix."""
        return f"{self.model}|{self.version}|{self.digest}"


def canonical(value: Any) -> Any:
    """``value`` as plain JSON data with a fixed order, or a UserError naming what cannot be.

    Dataclasses become mappings tagged with their class name (two types with the same fields
    do not collide); tuples and lists become lists; sets are sorted.
    """
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"__type__": type(value).__name__,
                **{f.name: canonical(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    if isinstance(value, Mapping):
        return {str(k): canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((canonical(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, PurePath):
        return str(value)
    raise UserError(
        f"cannot build a cache key from a {type(value).__name__} ({value!r:.60}); cache keys "
        "are made of JSON-like values (str, numbers, lists, mappings, dataclasses)"
    )


def digest_of(payload: Any) -> str:
    """sha256 of the canonical JSON of ``payload``."""
    text = json.dumps(canonical(payload), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False, allow_nan=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cache_key(*, model: str, version: str | int | None, params: Any, input: Any,
              tools: Any = ()) -> CacheKey:
    """The key of any model call: identity, version, parameters, the full input, tools."""
    return CacheKey(model, "" if version is None else str(version),
                    digest_of({"params": params, "input": input, "tools": tools}))


def llm_identity(llm: LLM) -> str:
    """``provider:model`` of an LLM."""
    return f"{llm.provider}:{llm.model}"


def llm_version(llm: LLM, declared: str | int | None = None) -> str:
    """The version cached answers are tied to: the one declared, else the LLM's own
    ``version`` attribute, else empty (the model id alone)."""
    version = declared if declared is not None else getattr(llm, "version", None)
    return "" if version is None else str(version)


def llm_cache_key(llm: LLM, prompt: Prompt, params: GenerationParams, *,
                  version: str | int | None = None) -> CacheKey:
    """The key of one LLM call with its *effective* parameters (``llm.params(...)``, so the
    model's defaults count too)."""
    from compound.intelligence.llm.types import as_messages

    identity = {"class": type(llm).__qualname__,
                **{a: getattr(llm, a) for a in IDENTITY_ATTRIBUTES if hasattr(llm, a)}}
    hook = getattr(llm, "cache_identity", None)
    if callable(hook):
        identity["provider_identity"] = hook()
    return cache_key(
        model=llm_identity(llm), version=llm_version(llm, version),
        params={**{f.name: getattr(params, f.name) for f in dataclasses.fields(params)},
                "identity": identity},
        input=as_messages(prompt), tools=params.tools,
    )
