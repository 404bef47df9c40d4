"""A PEFT LoRA adapter written as a GGUF LoRA file, the form llama.cpp loads on top of a model.

llama.cpp's conventions (its adapter loader checks them): ``general.type = adapter``,
``adapter.type = lora``, ``adapter.lora.alpha``, and ``general.architecture`` the base
model's; for each adapted weight ``W`` (``blk.N.attn_q.weight`` in GGUF names) two tensors
``W.lora_a`` and ``W.lora_b``. PyTorch's ``lora_A`` has shape ``(rank, in)`` and ``lora_B``
``(out, rank)``; GGUF lists dimensions in the reverse order, so both are written as they
come and llama.cpp reads ``lora_a`` as ``[in, rank]`` and ``lora_b`` as ``[rank, out]``,
matching the base weight ``[in, out]``. It scales the product by ``alpha / rank``, as PEFT
does.

One architecture needs more than a renaming: for ``llama`` models llama.cpp's converter
permutes the rows of the query and key projections (its rotary layout differs from
Hugging Face's), so the output rows of ``lora_B`` for those are permuted the same way.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from compound.errors import UserError, require

#: Hugging Face ``model_type`` -> llama.cpp architecture, for the ones whose LoRA tensors need
#: only a renaming (plus the query/key permutation for ``llama``).
ARCHITECTURES: Mapping[str, str] = {
    "qwen2": "qwen2",
    "llama": "llama",
    "gemma3_text": "gemma3",
    "gemma3": "gemma3",
}

_PEFT_NAME = re.compile(r"^(?:base_model\.model\.)?(?P<base>.+)\.lora_(?P<ab>[AB])(?:\.default)?"
                        r"\.weight$")


@dataclass(frozen=True, slots=True)
class AdapterTensors:
    """One adapted weight's pair, named as llama.cpp names the base weight."""

    name: str
    lora_a: np.ndarray
    lora_b: np.ndarray


def gguf_architecture(model_type: str) -> str:
    """The llama.cpp architecture for a Hugging Face ``model_type``, or a clear error."""
    try:
        return ARCHITECTURES[model_type]
    except KeyError:
        raise UserError(
            f"compound finetune cannot convert a LoRA adapter for a {model_type!r} model to GGUF; "
            f"supported architectures: {', '.join(sorted(set(ARCHITECTURES)))}"
        ) from None


def gguf_tensor_name(hf_name: str, *, architecture: str, n_layers: int) -> str:
    """The GGUF name of a Hugging Face weight (``model.layers.0.self_attn.q_proj.weight`` ->
    ``blk.0.attn_q.weight``), through the gguf package's tensor name map."""
    gguf = require("gguf", extra="finetune", what="writing a GGUF LoRA adapter")
    arch = {v: k for k, v in gguf.MODEL_ARCH_NAMES.items()}.get(architecture)  # type: ignore[attr-defined]
    if arch is None:
        raise UserError(f"the gguf package does not know the architecture {architecture!r}")
    mapping = gguf.get_tensor_name_map(arch, n_layers)  # type: ignore[attr-defined]
    name = mapping.get_name(hf_name, try_suffixes=(".weight", ".bias"))
    if name is None:
        raise UserError(f"the weight {hf_name!r} has no GGUF name for a {architecture} model; "
                        "adapt only the attention and MLP projections")
    return str(name)


def _permute_rows(weight: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's query/key row order: each head's two rotary halves interleaved."""
    rows = weight.shape[0]
    return (weight.reshape(n_head, 2, rows // n_head // 2, *weight.shape[1:])
            .swapaxes(1, 2).reshape(weight.shape))


def adapter_tensors(
    state: Mapping[str, Any],
    *,
    architecture: str,
    n_layers: int,
    n_head: int = 0,
    n_head_kv: int = 0,
) -> list[AdapterTensors]:
    """Pair PEFT's ``lora_A``/``lora_B`` weights and name them for llama.cpp.

    Args:
        state: the adapter's state dict (names as PEFT saves them; tensors or arrays).
        architecture: llama.cpp's architecture name (``qwen2``, ``llama``, ``gemma3``).
        n_layers: the base model's number of blocks.
        n_head: attention heads (the ``llama`` query permutation needs them).
        n_head_kv: key/value heads (the ``llama`` key permutation needs them).

    Returns:
        One entry per adapted weight, ``float32`` arrays in PyTorch's shapes.
    """
    pairs: dict[str, dict[str, np.ndarray]] = {}
    for key, value in state.items():
        match = _PEFT_NAME.match(key)
        if match is None:
            raise UserError(f"the adapter holds {key!r}, which is not a LoRA weight; only "
                            "lora_A/lora_B weights can be converted (no modules_to_save)")
        array = value.detach().float().cpu().numpy() if hasattr(value, "detach") else value
        pairs.setdefault(match["base"] + ".weight", {})[match["ab"]] = np.asarray(
            array, dtype=np.float32)
    out = []
    for hf_name, pair in sorted(pairs.items()):
        if set(pair) != {"A", "B"}:
            raise UserError(f"the adapter has only lora_{''.join(pair)} for {hf_name!r}")
        a, b = pair["A"], pair["B"]
        if a.shape[0] != b.shape[1]:
            raise UserError(f"lora_A {a.shape} and lora_B {b.shape} of {hf_name!r} disagree "
                            "on the rank")
        if architecture == "llama" and hf_name.endswith(("q_proj.weight", "k_proj.weight")):
            heads = n_head if hf_name.endswith("q_proj.weight") else (n_head_kv or n_head)
            if heads <= 0:
                raise UserError("a llama adapter needs n_head to permute its query/key rows")
            b = _permute_rows(b, heads)
        name = gguf_tensor_name(hf_name, architecture=architecture, n_layers=n_layers)
        out.append(AdapterTensors(name=name, lora_a=a, lora_b=b))
    if not out:
        raise UserError("the adapter holds no LoRA weights")
    return out


def write_gguf_adapter(
    path: str | os.PathLike[str],
    tensors: list[AdapterTensors],
    *,
    architecture: str,
    alpha: float,
    name: str = "compound-lora",
) -> Path:
    """Write a GGUF LoRA adapter llama.cpp loads (``Llama(..., lora_path=path)``).

    Args:
        path: the file to write.
        tensors: from :func:`adapter_tensors`.
        architecture: the base model's llama.cpp architecture.
        alpha: LoRA alpha (llama.cpp scales by ``alpha / rank``, as PEFT does).
        name: ``general.name`` in the file.

    Returns:
        The path written.
    """
    gguf = require("gguf", extra="finetune", what="writing a GGUF LoRA adapter")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(target), arch=architecture)  # type: ignore[attr-defined]
    writer.add_type(gguf.GGUFType.ADAPTER)  # type: ignore[attr-defined]
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")  # type: ignore[attr-defined]
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(alpha))  # type: ignore[attr-defined]
    writer.add_name(name)
    for t in tensors:
        writer.add_tensor(f"{t.name}.lora_a", np.ascontiguousarray(t.lora_a))
        writer.add_tensor(f"{t.name}.lora_b", np.ascontiguousarray(t.lora_b))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return target
