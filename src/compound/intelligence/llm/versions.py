"""Versions of an LLM: the fine-tuned adapters of an embedded model, registered, gated,
promoted and rolled back like trained models and prompts.

Version 1 of an LLM is the spec's model as it is (``source: spec``, no adapter); it is
registered, in production, with the first adapter, so that a rollback can return to it. Each
adapter ``compound finetune`` trains becomes a candidate version (``source: finetune``): the
GGUF LoRA file is kept in the store as a blob (``llm_adapters/NAME/VERSION``) with its SHA-256,
the base model it was trained on, the training record and the training examples (blob
``.../data``, as ``compound export`` wrote them: redacted), which a later promotion reads to
leave the rows the adapter was trained on out of its eval. A candidate is promoted by the
prompts' gate (:func:`compound.intelligence.versioning.promote_measured`) on the spec's eval,
run with the candidate and with production on the same rows
(:mod:`compound.lifecycle.finetune.promotion`).

At run time an embedded LLM whose production version holds an adapter is built with it
(:func:`llm_spec`): the blob is written once to the model cache as ``adapters/SHA.gguf``,
checked against its hash before every load. The production version is read when the model is
built (a workflow built, a server started): a running server takes a promotion at restart. An
adapter trained on another base model than the spec's now names is not applied (a warning
says so): the spec's model changed since, and the spec wins.

In the store: collection ``llm_versions`` holds one document per version (key ``llm@2``),
``llm_stages`` the production pointer and history of each LLM, and stream ``llm_events``
the audit log.

Example:
    >>> from compound.store import MemoryStore
    >>> registry = LLMRegistry(MemoryStore())
    >>> tuned = registry.register("llm", b"GGUF...", base="model.gguf", training={"steps": 8})
    >>> [(v.ref, v.stage, v.source) for v in registry.versions("llm")]
    [('llm@1', 'production', 'spec'), ('llm@2', 'candidate', 'finetune')]
    >>> tuned.adapter_sha256 == hashlib.sha256(b"GGUF...").hexdigest()
    True
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from compound.errors import RuntimeFailure, UserError
from compound.intelligence.embedders.quantize import file_sha256
from compound.intelligence.paths import model_cache_dir
from compound.intelligence.versioning import (
    MeasuredVersion,
    PromotionDecision,
    Versioned,
    promote_measured,
)
from compound.specfile import did_you_mean

if TYPE_CHECKING:
    from compound.gating import GateCheck
    from compound.intelligence.llm.base import LLM
    from compound.intelligence.spec import LLMSpec
    from compound.store import Store
    from compound.system import Criterion, System

VERSIONS, STAGES, EVENTS = "llm_versions", "llm_stages", "llm_events"
Source = Literal["spec", "finetune"]
_log = logging.getLogger(__name__)


class AdapterError(RuntimeFailure):
    """An adapter's blob is missing from the store or does not match its recorded hash."""


class LLMVersion(MeasuredVersion):
    """One registered version of an LLM (the document the store keeps).

    Attributes:
        source: ``spec`` (the spec's model alone) or ``finetune`` (an adapter).
        base: the model file the adapter was trained on ("" for the spec version).
        adapter_key: the blob holding the GGUF adapter ("" for none).
        adapter_sha256: its SHA-256.
        adapter_bytes: its size.
        scale: how strongly the adapter applies (llama.cpp's LoRA scale).
        training: the training record (examples, steps, seconds, loss, settings).
        data_key: the blob holding the training examples as JSONL ("" for none).
        data_sha256: their SHA-256.
    """

    source: Source = "finetune"
    base: str = ""
    adapter_key: str = ""
    adapter_sha256: str = ""
    adapter_bytes: int = 0
    scale: float = 1.0
    training: dict[str, Any] = Field(default_factory=dict)
    data_key: str = ""
    data_sha256: str = ""

    @property
    def adapted(self) -> bool:
        """Whether this version applies an adapter."""
        return bool(self.adapter_key)


class LLMRegistry(Versioned[LLMVersion]):
    """Versions, stages, promotion and rollback of LLMs' adapters, kept in a store.

    Args:
        store: the system's store (``open_store(system)``), or a ``MemoryStore`` in tests.
    """

    def __init__(self, store: Store) -> None:
        super().__init__(store, LLMVersion, kind="LLM",
                         collections=(VERSIONS, STAGES, EVENTS),
                         none_yet="none; 'compound finetune SPEC LLM' registers one")

    def register(self, name: str, adapter: bytes, *, base: str,
                 training: Mapping[str, Any] | None = None,
                 data: Sequence[Sequence[Mapping[str, Any]]] = (), scale: float = 1.0,
                 note: str = "") -> LLMVersion:
        """Store ``adapter`` (a GGUF LoRA file's bytes) as a new candidate version of
        ``name``, with the chat examples it was trained on (``data``); the first registration
        also puts version 1, the spec's model alone, in production."""
        with self.store.transaction():
            if not self.versions(name):
                spec = LLMVersion(name=name, version=1, created=time.time(), source="spec",
                                  note="the spec's model, no adapter")
                self.store.put(VERSIONS, spec.ref, spec.model_dump(mode="json"))
                self.install(spec, None, event={"by": "spec"})
            version = max(v.version for v in self.versions(name)) + 1
            key = f"llm_adapters/{name}/{version}"
            lines = "".join(json.dumps({"messages": list(map(dict, example))},
                                       ensure_ascii=False) + "\n" for example in data)
            examples = lines.encode()
            record = LLMVersion(
                name=name, version=version, created=time.time(), source="finetune",
                base=base, adapter_key=key,
                adapter_sha256=hashlib.sha256(adapter).hexdigest(),
                adapter_bytes=len(adapter), scale=scale, training=dict(training or {}),
                data_key=f"{key}/data" if data else "",
                data_sha256=hashlib.sha256(examples).hexdigest() if data else "", note=note)
            self.store.put_blob(key, adapter)
            if data:
                self.store.put_blob(record.data_key, examples)
            self.store.put(VERSIONS, record.ref, record.model_dump(mode="json"))
            self.store.append(EVENTS, {"event": "register", "LLM": name,
                                       "version": version, "source": "finetune"})
        return record

    def adapter_file(self, record: LLMVersion) -> Path | None:
        """The adapter of ``record`` as a file llama.cpp can load (None for a version
        without one): written once to the model cache, checked against the recorded hash.

        Raises:
            AdapterError: the blob is missing or altered.
        """
        if not record.adapted:
            return None
        advice = ("train another with 'compound finetune', or roll back with 'compound "
                  "models rollback'")
        target = model_cache_dir() / "adapters" / f"{record.adapter_sha256}.gguf"
        if target.is_file() and file_sha256(target) == record.adapter_sha256:
            return target
        data = self.store.get_blob(record.adapter_key)
        if data is None:
            raise AdapterError(f"the adapter of {record.ref} is missing from the store; "
                               f"{advice}")
        digest = hashlib.sha256(data).hexdigest()
        if digest != record.adapter_sha256:
            raise AdapterError(f"the adapter of {record.ref} is corrupt: its SHA-256 is "
                               f"{digest[:12]}..., recorded {record.adapter_sha256[:12]}... at "
                               f"registration; {advice}")
        target.parent.mkdir(parents=True, exist_ok=True)
        staged = target.with_suffix(f".{os.getpid()}.part")
        staged.write_bytes(data)
        staged.replace(target)  # atomic: a reader sees the whole file or none
        return target

    def training_prompts(self, record: LLMVersion) -> list[str]:
        """The user turns of the examples ``record`` was trained on ([] when none were
        kept)."""
        blob = self.store.get_blob(record.data_key) if record.data_key else None
        if blob is None:
            return []
        return [str(m.get("content", "")) for line in blob.decode().splitlines() if line
                for m in json.loads(line)["messages"] if m.get("role") == "user"]

    def promote(self, name: str, version: int, *, metrics: Mapping[str, float],
                baseline: Mapping[str, float] | None, criteria: Mapping[str, Criterion],
                extra_checks: Sequence[GateCheck] = (),
                evaluated: Mapping[str, Any] | None = None,
                by: str | None = None) -> PromotionDecision:
        """Make ``version`` production if its eval metrics (``metrics``, against
        production's ``baseline`` on the same rows) pass the promotion gate and its adapter
        is intact; otherwise change nothing but the metrics recorded
        (:func:`compound.intelligence.versioning.promote_measured`)."""
        return promote_measured(self, name, version, metrics=metrics, baseline=baseline,
                                criteria=criteria, extra_checks=extra_checks,
                                evaluated=evaluated, by=by, usable=self.adapter_file)

    def rollback(self, name: str) -> LLMVersion:
        """Restore the production version before the current one (returned).

        Raises:
            UserError: there is no earlier production version.
            AdapterError: the earlier version's adapter is damaged (nothing is changed).
        """
        current, previous = self.previous(name)
        self.adapter_file(previous)
        return self.restore(current, previous)


def base_model(system: System, name: str) -> tuple[Path, bool]:
    """The model file of embedded LLM ``name`` of ``system`` and whether it is prompted
    through its chat template (an instruction-tuned model, or ``prompt_format: chat``).

    Raises:
        UserError: ``name`` is not an embedded LLM of the system.
    """
    from compound.intelligence.llm.catalogue import catalogue_model, model_file
    from compound.intelligence.llm.embedded import DEFAULT_MODEL

    spec = embedded_llm(system, name)
    fmt = spec.options.get("prompt_format", "auto")
    if spec.options.get("model_path"):
        return system.resolve_path(str(spec.options["model_path"])), fmt != "qa"
    entry = catalogue_model(spec.model or DEFAULT_MODEL)
    return model_file(entry.name), fmt == "chat" or (fmt == "auto" and entry.kind == "instruct")


def embedded_llm(system: System, name: str) -> LLMSpec:
    """The spec of embedded LLM ``name``, or a UserError naming those there are."""
    from compound.intelligence.spec import LLMSpec

    spec = system.models.get(name)
    if isinstance(spec, LLMSpec) and spec.provider == "embedded":
        return spec
    embedded = [n for n, m in system.models.items()
                if isinstance(m, LLMSpec) and m.provider == "embedded"]
    raise UserError(f"'{name}' is not an embedded LLM of {system.source}"
                    f"{did_you_mean(name, embedded)}; adapters are trained and versioned for "
                    f"those: {', '.join(embedded) or 'none declared'}")


def system_llm(system: System, name: str, store: Store | None,
               pinned: LLMVersion | None = None) -> LLM:
    """LLM ``name`` of ``system`` as it runs: built from :func:`llm_spec`, with the adapter of
    its production version (or of ``pinned``)."""
    from compound.intelligence.llm import build_llm

    return build_llm(llm_spec(system, name, store, pinned))


def llm_spec(system: System, name: str, store: Store | None,
             pinned: LLMVersion | None = None) -> LLMSpec:
    """The spec entry of LLM ``name`` with the adapter of its production version applied
    (``options.lora_path``), or of ``pinned`` (an eval of a candidate); the spec's entry as
    it is without a store, for a version without an adapter, for a provider other than
    ``embedded``, or when the adapter's base model is not the spec's model any more."""
    spec = system.llms()[name]
    if store is None or spec.provider != "embedded":
        return spec
    registry = LLMRegistry(store)
    record = pinned if pinned is not None else registry.production(name)
    if record is None or not record.adapted:
        return spec
    base, _ = base_model(system, name)
    if record.base and record.base != base.name:
        _log.warning("%s was trained on %s, but the spec's model is now %s: not applied "
                     "(train it again with 'compound finetune')", record.ref, record.base,
                     base.name)
        return spec
    path = registry.adapter_file(record)
    return spec.model_copy(update={"options": {**spec.options, "lora_path": str(path),
                                               "lora_scale": record.scale}})

