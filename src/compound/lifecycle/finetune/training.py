"""Train a LoRA adapter for an embedded model on ``compound export``'s ``sft`` data.

The base weights come from the model's own GGUF file (transformers dequantises it; there
are no Hugging Face safetensors on disk). Each example is rendered the way compound prompts
at run time: through the model's chat template for an instruction-tuned model, as compound's
Question/Answer document for a base model; the loss covers the assistant's answer only.

A plain PEFT training loop, not TRL's SFTTrainer: the loop is forty lines, masks the prompt
exactly as compound renders it, runs under a step and time budget with a Rich progress bar,
and keeps TRL (and its dependencies) out of the ``finetune`` extra.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compound.errors import UserError, require
from compound.lifecycle.finetune.gguf_adapter import (
    adapter_tensors,
    gguf_architecture,
    write_gguf_adapter,
)

Messages = list[dict[str, str]]


@dataclass(frozen=True, slots=True)
class FinetuneConfig:
    """How the adapter is trained (CPU defaults).

    Attributes:
        rank: LoRA rank.
        alpha: LoRA alpha (the update is scaled by ``alpha / rank``).
        epochs: passes over the data.
        learning_rate: AdamW's learning rate.
        max_length: tokens per example (longer ones are cut from the left of the prompt).
        max_steps: stop after this many optimiser steps (``None``: the epochs decide).
        max_minutes: stop after this much training time (``None``: no limit).
        seed: fixes the shuffling and the adapter's initialisation.
        target_modules: the projections adapted.
    """

    rank: int = 8
    alpha: float = 16.0
    epochs: int = 3
    learning_rate: float = 2e-4
    max_length: int = 256
    max_steps: int | None = None
    max_minutes: float | None = None
    seed: int = 0
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")


@dataclass(frozen=True, slots=True)
class FinetuneResult:
    """What a training run produced.

    Attributes:
        adapter: the GGUF LoRA file.
        architecture: the base model's llama.cpp architecture.
        steps: optimiser steps taken.
        examples: training examples.
        seconds: training time (loading excluded).
        losses: the loss of each step.
        config: the settings used.
    """

    adapter: Path
    architecture: str
    steps: int
    examples: int
    seconds: float
    losses: list[float] = field(default_factory=list)
    config: FinetuneConfig = field(default_factory=FinetuneConfig)


def read_sft(path: str | os.PathLike[str], *, minimum: int = 1) -> list[Messages]:
    """Read ``compound export --format sft`` JSONL: one ``{"messages": [...]}`` per line.

    Raises:
        UserError: the file is missing, a line is not such an object (file and line named),
            or there are fewer than ``minimum`` examples.
    """
    source = Path(path)
    if not source.is_file():
        raise UserError(f"no fine-tuning data at {source}; run 'compound export SPEC --format "
                        "sft' or pass --data")
    examples: list[Messages] = []
    with source.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UserError(f"{source}:{number}: not JSON ({exc.msg}); expected "
                                '{"messages": [...]} per line') from None
            messages = record.get("messages") if isinstance(record, dict) else None
            if (not isinstance(messages, list) or len(messages) < 2
                    or not all(isinstance(m, dict) and isinstance(m.get("role"), str)
                               and isinstance(m.get("content"), str) for m in messages)
                    or messages[-1]["role"] != "assistant"):
                raise UserError(f"{source}:{number}: expected {{\"messages\": [...]}} with role/"
                                "content strings ending in an assistant message")
            examples.append([{"role": m["role"], "content": m["content"]} for m in messages])
    if len(examples) < minimum:
        raise UserError(f"{source} holds {len(examples)} example(s); fine-tuning needs at least "
                        f"{minimum} (collect more feedback, then 'compound export')")
    return examples


def render_example(messages: Messages, tokenizer: Any, *, chat: bool) -> tuple[str, str]:
    """The prompt as compound renders it at run time, and the answer that follows it."""
    *context, answer = messages
    if chat:
        prompt = tokenizer.apply_chat_template(context, tokenize=False,
                                               add_generation_prompt=True)
        return str(prompt), answer["content"] + (tokenizer.eos_token or "")
    from compound.intelligence.llm.prompting import render_prompt
    from compound.intelligence.llm.types import Message

    prompt = render_prompt([Message(role=m["role"], content=m["content"])  # type: ignore[arg-type]
                            for m in context])
    return prompt, " " + answer["content"].strip() + "\n"


def _encode(prompt: str, answer: str, tokenizer: Any, max_length: int) -> tuple[list[int],
                                                                              list[int]]:
    head = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    tail = tokenizer(answer, add_special_tokens=False)["input_ids"][:max_length // 2]
    head = head[-(max_length - len(tail)):]
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    ids = bos + head + tail
    return ids, [-100] * (len(bos) + len(head)) + tail


def train_adapter(
    model_file: str | os.PathLike[str],
    examples: Sequence[Messages],
    output: str | os.PathLike[str],
    *,
    chat: bool,
    config: FinetuneConfig | None = None,
    progress: bool = True,
) -> FinetuneResult:
    """Train a LoRA adapter on ``examples`` for the GGUF model at ``model_file``.

    Args:
        model_file: the base model's GGUF file.
        examples: chat messages ending in the assistant's answer (:func:`read_sft`).
        output: the GGUF LoRA file to write.
        chat: render through the chat template (instruction-tuned) or as Question/Answer.
        config: training settings.
        progress: show a Rich progress bar.

    Returns:
        The adapter and its training figures.
    """
    cfg = config or FinetuneConfig()
    torch = require("torch", extra="finetune", what="compound finetune (and torch==2.13.0)")
    transformers = require("transformers", extra="finetune", what="compound finetune")
    peft = require("peft", extra="finetune", what="compound finetune")
    require("gguf", extra="finetune", what="compound finetune")
    path = Path(model_file)
    torch.manual_seed(cfg.seed)  # type: ignore[attr-defined]
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(  # type: ignore[attr-defined]
            str(path.parent), gguf_file=path.name)
        model = transformers.AutoModelForCausalLM.from_pretrained(  # type: ignore[attr-defined]
            str(path.parent), gguf_file=path.name, dtype=torch.float32)  # type: ignore[attr-defined]
    except ValueError as exc:
        raise UserError(f"transformers cannot load {path.name} for training: {exc}") from None
    architecture = gguf_architecture(model.config.model_type)
    model = peft.get_peft_model(model, peft.LoraConfig(  # type: ignore[attr-defined]
        r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=0.0,
        target_modules=list(cfg.target_modules), task_type="CAUSAL_LM"))
    encoded = [_encode(*render_example(m, tokenizer, chat=chat), tokenizer, cfg.max_length)
               for m in examples]
    optimiser = torch.optim.AdamW(  # type: ignore[attr-defined]
        [p for p in model.parameters() if p.requires_grad], lr=cfg.learning_rate)
    total = cfg.epochs * len(encoded)
    if cfg.max_steps is not None:
        total = min(total, cfg.max_steps)
    generator = torch.Generator().manual_seed(cfg.seed)  # type: ignore[attr-defined]
    losses: list[float] = []
    start = time.perf_counter()
    model.train()
    from rich.progress import Progress

    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("fine-tuning", total=total)
        done = False
        for _ in range(cfg.epochs):
            for index in torch.randperm(len(encoded), generator=generator).tolist():
                ids, labels = encoded[index]
                out = model(input_ids=torch.tensor([ids]),  # type: ignore[attr-defined]
                            labels=torch.tensor([labels]))  # type: ignore[attr-defined]
                out.loss.backward()
                optimiser.step()
                optimiser.zero_grad()
                losses.append(float(out.loss.detach()))
                bar.update(task, advance=1, description=f"fine-tuning (loss {losses[-1]:.3f})")
                minutes = (time.perf_counter() - start) / 60
                if len(losses) >= total or (cfg.max_minutes is not None
                                            and minutes >= cfg.max_minutes):
                    done = True
                    break
            if done:
                break
    seconds = time.perf_counter() - start
    state = peft.get_peft_model_state_dict(model)  # type: ignore[attr-defined]
    text = model.config
    tensors = adapter_tensors(
        state, architecture=architecture, n_layers=text.num_hidden_layers,
        n_head=text.num_attention_heads,
        n_head_kv=getattr(text, "num_key_value_heads", None) or text.num_attention_heads)
    adapter = write_gguf_adapter(output, tensors, architecture=architecture, alpha=cfg.alpha)
    return FinetuneResult(adapter=adapter, architecture=architecture, steps=len(losses),
                          examples=len(encoded), seconds=seconds, losses=losses, config=cfg)
