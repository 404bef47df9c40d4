"""`compound finetune SPEC LLM`: a LoRA adapter for an embedded LLM, trained on the system's
exported answers and written as GGUF for llama.cpp.

Exit codes: 0 the adapter was written; 2 a user error (bad spec, not an embedded LLM, no or
malformed data, a missing ``compound[finetune]``).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from compound.cli import app
from compound.console import console, console_err

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
        "--out", "-o", help="the GGUF adapter to write (default: finetune/LLM-SHA.gguf beside "
                            "the spec)")] = None,
    max_steps: Annotated[int | None, typer.Option(help="stop after this many steps", min=1)]
        = None,
    max_minutes: Annotated[float | None, typer.Option(help="stop after this much training",
                                                      min=0.0)] = None,
    epochs: Annotated[int, typer.Option(help="passes over the data", min=1)] = 3,
    rank: Annotated[int, typer.Option(help="LoRA rank", min=1)] = 8,
    learning_rate: Annotated[float, typer.Option(help="AdamW learning rate")] = 2e-4,
    seed: Annotated[int, typer.Option(help="shuffling and initialisation seed")] = 0,
) -> None:
    """Train a LoRA adapter for an embedded LLM on the system's exported answers, write it as a
    GGUF LoRA file and print the option that applies it (options: {lora_path: FILE})."""
    from compound.errors import UserError
    from compound.intelligence.llm.catalogue import catalogue_model, model_file
    from compound.intelligence.llm.embedded import DEFAULT_MODEL
    from compound.intelligence.spec import LLMSpec
    from compound.lifecycle.finetune.training import FinetuneConfig, read_sft, train_adapter
    from compound.system import System

    system = System.load(spec)
    model = system.models.get(llm)
    if not isinstance(model, LLMSpec) or model.provider != "embedded":
        embedded = [n for n, m in system.models.items()
                    if isinstance(m, LLMSpec) and m.provider == "embedded"]
        raise UserError(f"'{llm}' is not an embedded LLM of {system.source}; compound finetune "
                        f"tunes those: {', '.join(embedded) or 'none declared'}")
    options = model.options
    fmt = options.get("prompt_format", "auto")
    if options.get("model_path"):
        base = system.resolve_path(str(options["model_path"]))
        chat = fmt != "qa"
    else:
        entry = catalogue_model(model.model or DEFAULT_MODEL)
        base = model_file(entry.name)
        chat = fmt == "chat" or (fmt == "auto" and entry.kind == "instruct")
    with tempfile.TemporaryDirectory() as scratch:
        source = data if data is not None else _export(system, Path(scratch) / "sft.jsonl")
        examples = read_sft(source, minimum=MIN_EXAMPLES)
        config = FinetuneConfig(rank=rank, alpha=2.0 * rank, epochs=epochs,
                                learning_rate=learning_rate, max_steps=max_steps,
                                max_minutes=max_minutes, seed=seed)
        console_err.print(f"fine-tuning {llm} ({base.name}) on {len(examples)} examples")
        staged = Path(scratch) / "adapter.gguf"
        result = train_adapter(base, examples, staged, chat=chat, config=config)
        digest = hashlib.sha256(staged.read_bytes()).hexdigest()
        target = out or system.base_dir / "finetune" / f"{llm}-{digest[:12]}.gguf"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(staged.read_bytes())
    meta = {"llm": llm, "base": base.name, "sha256": digest, "architecture":
            result.architecture, "examples": result.examples, "steps": result.steps,
            "seconds": round(result.seconds, 2), "final_loss": result.losses[-1],
            "rank": rank, "alpha": config.alpha, "epochs": epochs, "seed": seed}
    target.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    console.print(f"wrote {target} ({result.steps} steps in {result.seconds:.1f} s, final loss "
                  f"{result.losses[-1]:.3f}); apply it with models.{llm}.options.lora_path: "
                  f"{target}")


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
