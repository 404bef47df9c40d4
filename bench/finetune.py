"""compound finetune on the support desk, end to end as a user runs it: answers corrected by
support agents are exported, trained into a LoRA adapter, registered, judged against
production on held-out questions and promoted (or refused) by the gate.

The system is the desk's answering step alone (``qa.answer``: the desk's system message and
the prompt its own steps build for each question, two passages as the desk sends them, built
by bench/llm_quality.py's ``desk_items``), on the embedded model named by ``--model``. The
grounded QA set (``examples/support_desk/data/qa/questions.jsonl``) is split in order: the
first ``--train`` questions are asked through the workflow (traced in the system's store) and
each answer is corrected with the set's expected answer, as an agent's edit
(``FeedbackLog``, the signal the serving API records); the next ``--held-out`` questions are
only evaluated. The eval (``heldout``: token F1 against the expected answer, gated for no
regression) holds every question, training ones included, so the run also shows
``compound finetune`` leaving the rows it trained on out of its judgement.

Then the commands a user types: ``compound export SPEC --format sft`` and ``compound finetune
SPEC llm`` (which trains, registers, evaluates candidate and production on the same held-out
rows, and gates). The bench reads the two eval runs back from the store and scores each
answer as bench/llm_quality.py does (key-point coverage, groundedness in the passages the
prompt gave, token F1), with a paired bootstrap interval for the change. Prints one JSON
object: the figures, training time, the gate's decision, the load before and after.

Usage:
    python bench/finetune.py [--model qwen2.5-coder-0.5b-instruct-q4_k_m] [--train 32]
        [--held-out 20] [--epochs 2] [--max-minutes 15] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import llm_quality as quality  # the desk's prompts and scores, one definition  # noqa: E402

LLM = "llm"


def note(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def write_system(folder: Path, system_text: str, items: list[quality.Item], model: str,
                 threads: int) -> Path:
    spec = {
        "name": "desk-finetune", "loop": "interaction",
        "task": "Answer the customer's question from the help article passages given.",
        "store": {"path": "store.db"},
        "criteria": {"token_f1": {"threshold": 0.0, "tolerance": 0.0,
                                  "description": "no regression against production"}},
        "models": {LLM: {"kind": "llm", "provider": "embedded", "model": model,
                         "options": {"n_threads": threads, "n_ctx": 2048},
                         "generation": {"max_tokens": quality.MAX_TOKENS,
                                        "temperature": 0.0}}},
        "workflows": {"qa": {"input": {"request": "str"}, "steps": [
            {"name": "answer", "uses": LLM, "inputs": {"request": "input.request"},
             "options": {"template": "{request}", "system": system_text}}]}},
        "evals": {"heldout": {"dataset": {"path": "eval.jsonl", "id": "id",
                                          "inputs": ["request"], "expected": "answer"},
                              "target": {"workflow": "qa"}, "metrics": ["token_f1"],
                              "concurrency": 1}},
    }
    (folder / "compound.yaml").write_text(yaml.safe_dump(spec, sort_keys=False),
                                          encoding="utf-8")
    (folder / "eval.jsonl").write_text("".join(
        json.dumps({"id": i.id, "request": i.user, "answer": i.expected}) + "\n"
        for i in items), encoding="utf-8")
    return folder / "compound.yaml"


def collect_edits(spec: Path, train: list[quality.Item]) -> float:
    """Ask each training question through the workflow, traced, and record the agent's edit
    (the expected answer) against the run; the seconds it took."""
    from compound.production.feedback.log import FeedbackLog
    from compound.production.feedback.signals import parse_signal
    from compound.store import open_store
    from compound.system import System
    from compound.workflow.context import RunContext
    from compound.workflow.loader import load_target
    from compound.workflow.runs import default_tracer

    started = time.perf_counter()
    system = System.load(spec)
    with open_store(system) as store:
        flow = load_target(str(spec), "qa", shared={"store": store})
        tracer = default_tracer(store)
        log = FeedbackLog(store)
        try:
            for number, item in enumerate(train, 1):
                result = flow.run({"request": item.user},
                                  ctx=RunContext(store=store, tracer=tracer))
                tracer.flush()
                log.record(parse_signal({"run_id": result.run_id, "kind": "edit",
                                         "value": item.expected}))
                note(f"  edit {number}/{len(train)} recorded against run {result.run_id}")
        finally:
            tracer.close()
    return time.perf_counter() - started


def compound(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    done = subprocess.run([sys.executable, "-m", "compound", *args], cwd=folder,
                          capture_output=True, text=True, env=env)
    sys.stderr.write(done.stdout[-4000:])
    return done


def scored_runs(spec: Path, by_id: dict[str, quality.Item]) -> dict[str, Any]:
    """Each row of the promotion's two eval runs scored as llm_quality scores the desk."""
    from compound.evaluation.results import RunRepository
    from compound.intelligence.llm.versions import LLMRegistry
    from compound.store import open_store
    from compound.system import System

    system = System.load(spec)
    with open_store(system) as store:
        registry = LLMRegistry(store)
        tuned = registry.versions(LLM)[-1]
        runs = {"production": tuned.evaluated["baseline_run"],
                "tuned": tuned.evaluated["run"]}
        repo = RunRepository(store)
        rows = {side: {r.id: quality.score(by_id[r.id], {"text": r.output}, quiz=False)
                       for r in repo.rows(run)} for side, run in runs.items()}
        production = registry.production(LLM)
    return {"rows": rows, "version": tuned, "production": production}


def paired(before: list[float], after: list[float], *, seed: int = 0) -> dict[str, Any]:
    """The mean change and its 95% bootstrap interval."""
    diffs = [a - b for a, b in zip(after, before, strict=True)]
    rng = random.Random(seed)
    means = sorted(sum(rng.choice(diffs) for _ in diffs) / len(diffs) for _ in range(2000))
    return {"change": round(sum(diffs) / len(diffs), 4),
            "ci95": [round(means[49], 4), round(means[1949], 4)]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b-instruct-q4_k_m")
    parser.add_argument("--train", type=int, default=32)
    parser.add_argument("--held-out", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--max-length", type=int, default=768)
    parser.add_argument("--max-minutes", type=float, default=15.0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    load_start = load()
    rows = quality.read_jsonl(quality.QUESTIONS)[:args.train + args.held_out]
    items = quality.desk_items(rows, note, passages=2)  # what the desk sends (PASSAGES = 2)
    train, held_out = items[:args.train], items[args.train:]
    with tempfile.TemporaryDirectory(prefix="finetune-bench-") as tmp:
        folder = Path(tmp)
        os.environ["COMPOUND_HOME"] = str(folder / "home")
        spec = write_system(folder, items[0].system, items, args.model, args.threads)
        note(f"asking {len(train)} training questions and recording the agents' edits")
        edits_s = collect_edits(spec, train)
        exported = compound(folder, "export", "compound.yaml", "--format", "sft",
                            "--out", "sft.jsonl")
        if exported.returncode != 0:
            note(exported.stderr)
            return 1
        examples = len((folder / "sft.jsonl").read_text(encoding="utf-8").splitlines())
        note(f"exported {examples} examples; fine-tuning")
        started = time.perf_counter()
        tuned = compound(folder, "finetune", "compound.yaml", LLM, "--data", "sft.jsonl",
                         "--epochs", str(args.epochs), "--learning-rate",
                         str(args.learning_rate), "--max-length", str(args.max_length),
                         "--max-minutes", str(args.max_minutes))
        finetune_s = time.perf_counter() - started
        if tuned.returncode not in (0, 1):
            note(tuned.stderr)
            return 1
        found = scored_runs(spec, {i.id: i for i in items})
    version, rows_by_side = found["version"], found["rows"]
    ids = sorted(rows_by_side["tuned"])
    figures: dict[str, Any] = {}
    for side in ("production", "tuned"):
        scores = [rows_by_side[side][i] for i in ids]
        figures[side] = {k: quality.mean([s[k] for s in scores])
                         for k in ("key_points", "token_f1", "groundedness")}
    changes = {k: paired([rows_by_side["production"][i][k] or 0.0 for i in ids],
                         [rows_by_side["tuned"][i][k] or 0.0 for i in ids])
               for k in ("key_points", "token_f1", "groundedness")}
    print(json.dumps({
        "model": args.model, "threads": args.threads, "train_questions": len(train),
        "exported_examples": examples, "held_out_questions": len(held_out),
        "judged_rows": len(ids),
        "excluded_training_rows": version.evaluated.get("excluded_training_rows"),
        "training": version.training, "finetune_command_s": round(finetune_s, 1),
        "collect_edits_s": round(edits_s, 1),
        "decision": {"version": version.ref, "stage": version.stage,
                     "production_after": found["production"].ref,
                     "exit_code": tuned.returncode},
        **figures, "paired_change": changes,
        "load_start": load_start, "load_end": load(), "cpus": os.cpu_count()}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
