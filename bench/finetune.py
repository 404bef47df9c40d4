"""compound finetune on the support desk: before/after on held-out grounded questions.

The desk's grounded QA set (``examples/support_desk/data/qa/questions.jsonl``) is split in
order: the first ``--train`` questions become sft examples (the desk's system message, the
prompt its own steps build, the expected answer), the next ``--held-out`` are answered by the
base model and by the model with the trained adapter, scored as ``bench/llm_quality.py``
scores them (key-point coverage, token F1). Prints one JSON object: the figures, training
time and the load average before and after.

Usage:
    python bench/finetune.py [--model smollm2-135m-instruct-q4_1] [--train 40] [--held-out 16]
                             [--epochs 2] [--max-minutes 10]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import llm_quality as quality  # the desk's prompts and scores, one definition


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip() if Path("/proc/loadavg").exists() else ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="smollm2-135m-instruct-q4_1")
    parser.add_argument("--train", type=int, default=40)
    parser.add_argument("--held-out", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--max-minutes", type=float, default=10.0)
    args = parser.parse_args()

    from compound.intelligence.llm.catalogue import catalogue_model, model_file
    from compound.intelligence.llm.embedded import EmbeddedLLM
    from compound.lifecycle.finetune.training import FinetuneConfig, train_adapter

    rows = quality.read_jsonl(quality.QUESTIONS)[:args.train + args.held_out]
    items = quality.desk_items(rows, note=lambda *a, **k: None)
    train, held_out = items[:args.train], items[args.train:]
    examples = [[{"role": "system", "content": i.system}, {"role": "user", "content": i.user},
                 {"role": "assistant", "content": i.expected}] for i in train]
    entry = catalogue_model(args.model)
    load_before = loadavg()
    with tempfile.TemporaryDirectory(prefix="finetune-bench-") as tmp:
        result = train_adapter(model_file(entry.name), examples, Path(tmp) / "adapter.gguf",
                               chat=entry.kind == "instruct", progress=False,
                               config=FinetuneConfig(epochs=args.epochs, max_length=512,
                                                     learning_rate=args.learning_rate,
                                                     max_minutes=args.max_minutes))
        load_after = loadavg()
        figures: dict[str, Any] = {}
        for name, lora in (("base", None), ("tuned", result.adapter)):
            llm = EmbeddedLLM(model=entry.name, n_ctx=2048, lora_path=lora)
            scores = [quality.score(i, quality.answer(llm, i), quiz=False) for i in held_out]
            figures[name] = {k: quality.mean([s[k] for s in scores])
                             for k in ("key_points", "token_f1", "groundedness")}
    print(json.dumps({
        "model": entry.name, "train_examples": len(train), "held_out": len(held_out),
        "epochs": args.epochs, "steps": result.steps, "training_s": round(result.seconds, 1),
        "s_per_step": round(result.seconds / max(result.steps, 1), 2),
        "first_loss": round(result.losses[0], 3),
        "final_loss_mean_last10": round(sum(result.losses[-10:]) / len(result.losses[-10:]), 3),
        "cpus": os.cpu_count(), "loadavg_before": load_before, "loadavg_after": load_after,
        **figures}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
