"""Quality and speed of the embedded models side by side, on the support desk and a quiz.

Every model in ``--models`` answers, in one run, the same prompts:

* **grounded QA**: the support desk's 76 customer questions (``examples/support_desk/data/qa``),
  each with the prompt the desk's ``draft`` step sends: its system message and the passages
  the desk retrieves and composes for it (``desk:compose``, at most 700 tokens). The passages
  are built once, by the desk's own ``classify``, ``retrieve`` and ``prompt`` steps on a copy
  of the example (its intent model trained and its help articles indexed first, as
  ``compound up`` does); every question gets them, including the ones the desk would send to
  review for a low intent confidence, so that each model answers all of them. Scores:
  ``key_points`` (share of the row's key points stated), ``groundedness`` (share of the
  answer's sentences supported by the retrieved passages; the ``answers`` eval's metric) and
  ``token_f1`` against the expected answer.
* **quiz**: ``bench/data/llm_quiz.jsonl``, 8 factual questions and 8 about a short passage
  given in the prompt (our own text); ``correct`` (the expected answer's key fact appears,
  as whole words) and ``token_f1``.

Speed, per answer, streamed: time to first token (``ttft_s``: the prompt's processing),
prompt tokens per second (prompt tokens over the time to first token), generation tokens per
second (tokens after the first over the time after it), and the answer's seconds, p50 and p95
(the desk's ``p95_latency_ms`` criterion is 8,000 ms for the whole request). ``prefix_reuse``
measures the KV cache of a shared prompt prefix: the same prompt after another one that shares
its system message, with the cache kept (llama.cpp reuses the common prefix) and after
``reset()`` (it does not).

Each model runs with compound's defaults: its chat template for an instruction-tuned model,
the Question/Answer document for a base one, greedy decoding, the thread policy that picks
threads from the load; ``max_tokens`` is the desk's 80.

Usage:
    python bench/llm_quality.py [--models a,b] [--limit 20] [--quiz-limit 8] [--rows rows.jsonl]
    python bench/llm_quality.py --passages 2    # the desk's prompts with 2 passages, not 3

``--limit N`` takes N questions spread evenly over the file (it is ordered by article).
The models must be installed (see the README, "The embedded model"); a missing one is
reported and skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DESK = ROOT / "examples" / "support_desk"
QUESTIONS = DESK / "data" / "qa" / "questions.jsonl"
QUIZ = Path(__file__).resolve().parent / "data" / "llm_quiz.jsonl"
MAX_TOKENS = 80  # the support desk's generation.max_tokens
QUIZ_SYSTEM = "Answer the question in one short sentence."


@dataclass(frozen=True)
class Item:
    """One prompt and how to score its answer."""

    id: str
    system: str
    user: str
    expected: str
    key_points: list[str]
    contexts: list[str]  # the passages the answer must be grounded in ([] for the quiz)


def pick(rows: list[dict[str, Any]], limit: int | None) -> list[dict[str, Any]]:
    """``limit`` rows spread evenly over ``rows`` (all of them without a limit)."""
    if not limit or limit >= len(rows):
        return rows
    step = len(rows) / limit
    return [rows[int(i * step)] for i in range(limit)]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def desk_copy(folder: Path) -> tuple[Path, str]:
    """A copy of the support desk with a ``contexts`` workflow (classify, retrieve, prompt,
    without the confidence gate), and the draft step's system message."""
    shutil.copytree(DESK, folder, ignore=shutil.ignore_patterns(".compound", "__pycache__"))
    spec = yaml.safe_load((DESK / "compound.yaml").read_text(encoding="utf-8"))
    steps = {s["name"]: dict(s) for s in spec["workflows"]["answer"]["steps"]}
    system = " ".join(str(steps["draft"]["options"]["system"]).split())
    retrieve = {k: v for k, v in steps["retrieve"].items() if k != "when"}
    retrieve["needs"] = ["classify"]
    spec["workflows"] = {"contexts": {"input": {"question": "str"}, "steps": [
        steps["classify"], retrieve, steps["prompt"]]}}
    for key in ("guardrails", "evals", "serve"):
        spec.pop(key, None)
    spec["criteria"] = {"intent_accuracy": spec["criteria"]["intent_accuracy"]}
    path = folder / "compound.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path, system


def desk_items(rows: list[dict[str, Any]], note: Any, passages: int | None = None
               ) -> list[Item]:
    """The grounded-QA prompts, built by the desk's own steps; with ``passages``, composed
    again by ``desk.compose`` from only that many of the passages it would use (the
    predicted intent's article first, as it orders them), to see what a shorter prompt
    costs in quality and saves in time."""
    import dataclasses

    from compound.lifecycle.up import build_missing
    from compound.store import open_store
    from compound.system import System
    from compound.workflow import build_workflow
    from compound.workflow.runs import start

    items: list[Item] = []
    with tempfile.TemporaryDirectory(prefix="llm-quality-") as tmp:
        os.environ["COMPOUND_HOME"] = str(Path(tmp) / "home")
        spec_path, system_text = desk_copy(Path(tmp) / "desk")
        system = System.load(spec_path)
        with open_store(system) as store:
            build_missing(system, store, notify=note)
            flow = build_workflow(system, "contexts")
            desk = desk_module(spec_path.parent)
            for row in rows:
                result = start(flow, {"question": row["question"]}, store=store)
                prompt = result.outputs["prompt"]
                found = result.outputs["retrieve"]
                hits = found.hits
                if passages is not None:
                    label = result.outputs["classify"].label
                    def first(hit: Any, label: Any = label) -> tuple[bool, int]:
                        intents = hit.metadata.get("intents") or []
                        return (not (isinstance(intents, list) and label in intents), hit.rank)

                    kept = sorted(hits, key=first)[:passages]
                    prompt = desk.compose(row["question"], result.outputs["classify"],
                                          dataclasses.replace(found, hits=kept))
                items.append(Item(row["id"], system_text, prompt.text, row["answer"],
                                  list(row["key_points"]), [h.text for h in hits]))
    return items


def desk_module(folder: Path) -> Any:
    """The support desk's ``desk.py`` from ``folder``."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("llm_quality_desk", folder / "desk.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def quiz_items(rows: list[dict[str, Any]]) -> list[Item]:
    items = []
    for row in rows:
        user = (f"Passage: {row['passage']}\n\nQuestion: {row['question']}"
                if row.get("passage") else row["question"])
        items.append(Item(row["id"], QUIZ_SYSTEM, user, row["answer"], list(row["key_points"]),
                          []))
    return items


def answer(llm: Any, item: Item) -> dict[str, Any]:
    """Stream one answer; its text, token counts and timings."""
    from compound.intelligence.llm import Completion, Message, TextDelta

    messages = [Message("system", item.system), Message("user", item.user)]
    started = time.perf_counter()
    first: float | None = None
    done: Completion | None = None
    for event in llm.stream(messages, max_tokens=MAX_TOKENS, temperature=0.0):
        if isinstance(event, TextDelta) and first is None and event.text:
            first = time.perf_counter()
        elif isinstance(event, Completion):
            done = event
    end = time.perf_counter()
    assert done is not None
    ttft = (first or end) - started
    generated = done.usage.completion_tokens
    return {"text": done.text.strip(), "prompt_tokens": done.usage.prompt_tokens,
            "completion_tokens": generated, "ttft_s": ttft, "seconds": end - started,
            "gen_tokens_after_first": max(generated - 1, 0), "gen_s": end - (first or end)}


def score(item: Item, out: dict[str, Any], quiz: bool) -> dict[str, Any]:
    from compound.metrics.grounding import groundedness
    from compound.metrics.text import contains, key_points, token_f1

    def value(result: Any) -> float | None:  # a metric returns a number or a Score
        return getattr(result, "value", result)

    scores: dict[str, Any] = {"token_f1": value(token_f1(out["text"], item.expected))}
    if quiz:
        scores["correct"] = value(contains(out["text"], item.key_points))
    else:
        scores["key_points"] = value(key_points(out["text"], item.key_points))
        scores["groundedness"] = value(groundedness(out["text"], item.contexts))
    return scores


def mean(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return round(statistics.fmean(kept), 4) if kept else None


def quantile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


def speed(outs: list[dict[str, Any]]) -> dict[str, Any]:
    prompt_tokens = sum(o["prompt_tokens"] for o in outs)
    ttft = sum(o["ttft_s"] for o in outs)
    gen_tokens = sum(o["gen_tokens_after_first"] for o in outs)
    gen_s = sum(o["gen_s"] for o in outs)
    seconds = [o["seconds"] for o in outs]
    return {
        "prompt_tokens_mean": round(prompt_tokens / len(outs), 1),
        "completion_tokens_mean": round(sum(o["completion_tokens"] for o in outs) / len(outs), 1),
        "prompt_tokens_per_s": round(prompt_tokens / ttft, 1) if ttft else None,
        "generation_tokens_per_s": round(gen_tokens / gen_s, 1) if gen_s else None,
        "ttft_s_p50": quantile([o["ttft_s"] for o in outs], 0.5),
        "ttft_s_p95": quantile([o["ttft_s"] for o in outs], 0.95),
        "answer_s_p50": quantile(seconds, 0.5),
        "answer_s_p95": quantile(seconds, 0.95),
    }


def prefix_reuse(llm: Any, first: Item, second: Item) -> dict[str, Any]:
    """Time to first token of ``second`` right after ``first`` (llama.cpp keeps the KV cache
    of their common prefix) and after ``reset()`` (nothing kept); the shared tokens."""
    from compound.intelligence.llm import Message

    def tokens(item: Item) -> list[int]:
        text = llm.render([Message("system", item.system), Message("user", item.user)],
                          llm.params())
        return list(llm.llama.tokenize(text.encode("utf-8"), add_bos=not llm.is_chat,
                                       special=llm.is_chat))

    shared = 0
    for a, b in zip(tokens(first), tokens(second), strict=False):
        if a != b:
            break
        shared += 1
    kept = []
    cold = []
    for _ in range(2):
        answer(llm, first)
        kept.append(answer(llm, second)["ttft_s"])
        llm.llama.reset()
        cold.append(answer(llm, second)["ttft_s"])
    return {"shared_prefix_tokens": shared, "prompt_tokens": len(tokens(second)),
            "ttft_s_cache_kept": round(min(kept), 3), "ttft_s_after_reset": round(min(cold), 3)}


def evaluate(llm: Any, name: str, qa: list[Item], quiz: list[Item], rows_out: Any,
             note: Any) -> dict[str, Any]:
    """``llm``'s scores and speed on both sets (any LLM: the unit test gives a scripted one)."""
    result: dict[str, Any] = {}
    for label, items, is_quiz in (("grounded_qa", qa, False), ("quiz", quiz, True)):
        if not items:
            continue
        outs, scores = [], []
        for i, item in enumerate(items, 1):
            out = answer(llm, item)
            got = score(item, out, is_quiz)
            outs.append(out)
            scores.append(got)
            if rows_out is not None:
                rows_out.write(json.dumps({"model": name, "set": label, "id": item.id,
                                           "answer": out["text"], **got,
                                           "ttft_s": round(out["ttft_s"], 3),
                                           "seconds": round(out["seconds"], 3)}) + "\n")
                rows_out.flush()
            note(f"{name} {label} {i}/{len(items)} {item.id} {out['seconds']:.1f}s")
        fields = ("correct", "token_f1") if is_quiz else ("key_points", "groundedness",
                                                           "token_f1")
        result[label] = {"n": len(items), **{f: mean([s[f] for s in scores]) for f in fields},
                         **speed(outs)}
    return result


def run_model(name: str, qa: list[Item], quiz: list[Item], rows_out: Any,
              note: Any) -> dict[str, Any]:
    """Load the catalogue model ``name``, warm it, and measure it."""
    from compound.intelligence.llm.catalogue import catalogue_model
    from compound.intelligence.llm.embedded import EmbeddedLLM

    entry = catalogue_model(name)
    llm = EmbeddedLLM(model=name, n_ctx=2048)
    started = time.perf_counter()
    llm.load()
    load_s = time.perf_counter() - started
    answer(llm, (quiz or qa)[0])  # warm: the first call pays for allocations
    result: dict[str, Any] = {"kind": entry.kind, "title": entry.title,
                              "chat_template": llm.is_chat, "load_s": round(load_s, 2)}
    result.update(evaluate(llm, name, qa, quiz, rows_out, note))
    if len(qa) >= 2:
        result["prefix_reuse"] = prefix_reuse(llm, qa[0], qa[1])
    result["threads_last_call"] = llm.threads
    return result


def main() -> int:
    from compound.intelligence.llm.catalogue import CATALOGUE

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(CATALOGUE),
                        help="catalogue names, comma-separated (default: all of them)")
    parser.add_argument("--limit", type=int, default=None,
                        help="grounded-QA questions, spread evenly (default: all 76)")
    parser.add_argument("--quiz-limit", type=int, default=None, help="quiz items (default: all)")
    parser.add_argument("--rows", type=Path, default=None, help="write every answer here")
    parser.add_argument("--passages", type=int, default=None,
                        help="keep only this many of the desk's passages (it uses up to 3)")
    args = parser.parse_args()

    def note(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = [n for n in names if n not in CATALOGUE]
    if unknown:
        parser.error(f"unknown models {unknown}; the catalogue has {', '.join(CATALOGUE)}")
    load_start = os.getloadavg()
    started = time.perf_counter()
    qa_rows = read_jsonl(QUESTIONS)
    chosen = pick(qa_rows, args.limit)
    quiz = quiz_items(pick(read_jsonl(QUIZ), args.quiz_limit))
    qa = desk_items(chosen, note, args.passages)
    note(f"{len(qa)} grounded-QA prompts built in {time.perf_counter() - started:.0f}s")
    models: dict[str, Any] = {}
    rows_out = args.rows.open("w", encoding="utf-8") if args.rows else None
    try:
        for name in names:
            from compound.errors import UserError

            try:
                models[name] = run_model(name, qa, quiz, rows_out, note)
            except UserError as exc:  # not installed: say so, go on with the others
                models[name] = {"skipped": str(exc)}
                note(f"{name}: skipped: {exc}")
    finally:
        if rows_out is not None:
            rows_out.close()
    report = {
        "grounded_qa_questions": len(qa), "of": len(qa_rows), "quiz_items": len(quiz),
        "passages": args.passages or "the desk's (up to 3)",
        "max_tokens": MAX_TOKENS, "desk_p95_latency_ms_threshold": 8000,
        "models": models,
        "seconds": round(time.perf_counter() - started, 1),
        "loadavg_start": [round(x, 2) for x in load_start],
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
