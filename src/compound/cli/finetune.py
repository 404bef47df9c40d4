"""`compound finetune SPEC LLM`: a LoRA adapter for an embedded LLM, trained on the system's
exported answers, registered as a version of the LLM, evaluated against production on the
spec's eval and promoted through the gate.

Exit codes: 0 the adapter was registered (and promoted, unless --no-promote); 1 the gate
refused it (it stays a candidate); 2 a user error (bad spec, not an embedded LLM, no or
malformed data, a missing ``compound[finetune]``, no eval running the LLM).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from compound.cli import app
from compound.console import console, console_err, styled

SPEC_ARG = Annotated[
    Path, typer.Argument(help="a compound.yaml, or a folder holding one", show_default=False)
]

#: Fewer examples than this teach a model nothing but noise.
MIN_EXAMPLES = 4


@app.command()
def finetune(
    spec: SPEC_ARG,
    llm: Annotated[str, typer.Argument(help="the embedded LLM of models: to tune",
                                       show_default=False)],
    data: Annotated[Path | None, typer.Option(
        help="sft JSONL from 'compound export --format sft' (default: export it now)")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="also write the GGUF adapter and its training record here")]
        = None,
    promote: Annotated[bool, typer.Option(
        help="evaluate the adapter against production on the spec's eval and promote it if "
             "it passes the gate (--no-promote: register it as a candidate only)")] = True,
    eval_name: Annotated[str | None, typer.Option(
        "--eval", help="the eval to judge it on; the one running the LLM when omitted")]
        = None,
    limit: Annotated[int | None, typer.Option(
        help="evaluate only the first N examples", min=1)] = None,
    max_steps: Annotated[int | None, typer.Option(help="stop after this many steps", min=1)]
        = None,
    max_minutes: Annotated[float | None, typer.Option(help="stop after this much training",
                                                      min=0.0)] = None,
    epochs: Annotated[int, typer.Option(help="passes over the data", min=1)] = 3,
    rank: Annotated[int, typer.Option(help="LoRA rank", min=1)] = 8,
    learning_rate: Annotated[float, typer.Option(help="AdamW learning rate")] = 2e-4,
    max_length: Annotated[int, typer.Option(
        help="tokens per example; longer prompts are cut from the left", min=16)] = 256,
    seed: Annotated[int, typer.Option(help="shuffling and initialisation seed")] = 0,
) -> None:
    """Train a LoRA adapter for an embedded LLM on the system's exported answers (accepted and
    edited ones), register it as a version of the LLM, and promote it if it beats production
    on the spec's eval (rows it was trained on are left out). 'compound models show SPEC LLM'
    lists the versions; 'compound models rollback SPEC LLM' restores the one before."""
    from compound.cli.llm_versions import promote_version
    from compound.intelligence.llm.versions import LLMRegistry, base_model, embedded_llm
    from compound.lifecycle.finetune.training import FinetuneConfig, read_sft, train_adapter
    from compound.store import open_store
    from compound.system import System

    system = System.load(spec)
    embedded_llm(system, llm)
    if promote:  # fail before training, not after, when nothing could judge the adapter
        from compound.lifecycle.finetune.promotion import llm_eval

        llm_eval(system, llm, eval_name)
    base, chat = base_model(system, llm)
    with tempfile.TemporaryDirectory() as scratch:
        source = data if data is not None else _export(system, Path(scratch) / "sft.jsonl")
        examples = read_sft(source, minimum=MIN_EXAMPLES)
        config = FinetuneConfig(rank=rank, alpha=2.0 * rank, epochs=epochs,
                                learning_rate=learning_rate, max_length=max_length,
                                max_steps=max_steps,
                                max_minutes=max_minutes, seed=seed)
        console_err.print(f"fine-tuning {llm} ({base.name}) on {len(examples)} examples")
        staged = Path(scratch) / "adapter.gguf"
        result = train_adapter(base, examples, staged, chat=chat, config=config)
        adapter = staged.read_bytes()
    training = {"examples": result.examples, "steps": result.steps,
                "seconds": round(result.seconds, 2), "final_loss": round(result.losses[-1], 4),
                "architecture": result.architecture, "rank": rank, "alpha": config.alpha,
                "epochs": epochs, "learning_rate": learning_rate, "max_length": max_length,
                "seed": seed,
                "data": str(data) if data is not None else "compound export"}
    with open_store(system) as store:
        record = LLMRegistry(store).register(
            llm, adapter, base=base.name, training=training, data=examples,
            note=f"compound finetune on {result.examples} examples")
        console.print(styled("registered [bold]{ref}[/] as a candidate ({steps} steps in "
                             "{took:.1f} s, final loss {loss:.3f})", ref=record.ref,
                             steps=result.steps, took=result.seconds, loss=result.losses[-1]))
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(adapter)
            meta = {"llm": llm, "base": base.name, "sha256": record.adapter_sha256,
                    "version": record.ref, **training}
            out.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n",
                                                encoding="utf-8")
            console.print(f"wrote {out} and {out.with_suffix('.json').name}")
        if not promote:
            console.print(f"promote it with: compound models promote {spec} {llm} --version "
                          f"{record.version}")
            return
        promoted = promote_version(system, store, llm, record.version, eval_name=eval_name,
                                   limit=limit)
    if not promoted:
        raise SystemExit(1)


def _export(system: object, target: Path) -> Path:
    """The system's accepted and edited answers as sft JSONL (what 'compound export' writes)."""
    from compound.errors import UserError
    from compound.lifecycle.export import Redactor, export_records, write_jsonl
    from compound.store import open_store

    with open_store(system) as store:  # type: ignore[arg-type]
        result = export_records(store, "sft",
                                redactor=Redactor.for_system(system))  # type: ignore[arg-type]
    if not result.records:
        raise UserError("no accepted or edited answers in the store to fine-tune on; collect "
                        "feedback (compound feedback) or pass --data")
    write_jsonl(result.records, target)
    return target
