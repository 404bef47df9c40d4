"""The GGUF LoRA writer: llama.cpp's names, shapes and metadata, and a file llama.cpp loads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from compound.errors import UserError

gguf = pytest.importorskip("gguf")

from compound.lifecycle.finetune.gguf_adapter import (  # noqa: E402
    adapter_tensors,
    gguf_architecture,
    gguf_tensor_name,
    write_gguf_adapter,
)


def _state(rank: int = 4, width: int = 16) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    prefix = "base_model.model.model.layers.1.self_attn"
    return {f"{prefix}.q_proj.lora_A.weight": rng.normal(size=(rank, width)),
            f"{prefix}.q_proj.lora_B.weight": rng.normal(size=(width, rank))}


def test_hugging_face_names_map_to_llama_cpp_names() -> None:
    assert gguf_tensor_name("model.layers.3.self_attn.q_proj.weight", architecture="qwen2",
                            n_layers=4) == "blk.3.attn_q.weight"
    assert gguf_tensor_name("model.layers.0.mlp.down_proj.weight", architecture="qwen2",
                            n_layers=4) == "blk.0.ffn_down.weight"
    assert gguf_architecture("qwen2") == "qwen2"
    with pytest.raises(UserError, match="cannot convert a LoRA adapter for a 'bert' model"):
        gguf_architecture("bert")


def test_the_file_carries_adapter_metadata_and_pytorch_shapes(tmp_path: Path) -> None:
    tensors = adapter_tensors(_state(), architecture="qwen2", n_layers=2)
    path = write_gguf_adapter(tmp_path / "a.gguf", tensors, architecture="qwen2", alpha=8)
    reader = gguf.GGUFReader(str(path))

    def text(key: str) -> str:
        field = reader.fields[key]
        return bytes(field.parts[field.data[0]]).decode()

    assert text("general.type") == "adapter"
    assert text("adapter.type") == "lora"
    assert text("general.architecture") == "qwen2"
    alpha = reader.fields["adapter.lora.alpha"]
    assert float(alpha.parts[alpha.data[0]][0]) == 8.0
    shapes = {t.name: tuple(int(d) for d in t.shape) for t in reader.tensors}
    # GGUF lists dimensions innermost first: lora_a [in, rank], lora_b [rank, out]
    assert shapes == {"blk.1.attn_q.weight.lora_a": (16, 4), "blk.1.attn_q.weight.lora_b": (4, 16)}


def test_a_llama_adapter_permutes_the_query_rows_like_llama_cpp() -> None:
    state = _state(rank=2, width=8)
    plain = adapter_tensors(state, architecture="qwen2", n_layers=2)[0].lora_b
    permuted = adapter_tensors(state, architecture="llama", n_layers=2, n_head=2)[0].lora_b
    # two heads of four rows: each head's halves interleaved (0 2 1 3)
    assert np.array_equal(permuted, plain[[0, 2, 1, 3, 4, 6, 5, 7]])


def test_bad_adapters_are_refused_with_the_reason() -> None:
    state = _state()
    with pytest.raises(UserError, match="only lora_A"):
        adapter_tensors({k: v for k, v in state.items() if "lora_A" in k},
                        architecture="qwen2", n_layers=2)
    with pytest.raises(UserError, match="not a LoRA weight"):
        adapter_tensors({"model.embed_tokens.weight": np.zeros((2, 2))},
                        architecture="qwen2", n_layers=2)
