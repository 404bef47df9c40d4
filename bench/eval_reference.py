"""Reference evals of the embedded model on real data; prints JSON.

* PubMedQA (expert-labelled, test half): yes/no/maybe decision accuracy with the abstract's
  contexts and without them. Anchors from the PubMedQA paper: majority class 0.552, a single
  human 0.780.
* HotpotQA (500 dev questions, distractor setting): answer EM and F1 with the two gold
  paragraphs, with the two paragraphs BM25 retrieves from all 500 questions' paragraphs, and
  without context.

Every model output goes through compound's output cache in a SQLite store, so the bench can be
run in several sittings with a growing ``--limit``: rows already answered cost nothing. The
JSON says how many rows each figure covers.

    python bench/eval_reference.py --limit 100
    python bench/eval_reference.py --limit 500 --tasks pubmedqa
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from compound.evaluation.cache import OutputCache
from compound.evaluation.datasets import Dataset
from compound.evaluation.plan import EvalPlan
from compound.evaluation.results import RunRepository, RunSummary
from compound.evaluation.runner import EvalRunner
from compound.evaluation.targets import LLMTarget
from compound.intelligence.llm.embedded import EmbeddedLLM
from compound.public_data import dataset_path
from compound.store import SQLiteStore

# HotpotQA's questions and pooled paragraphs, the BM25 search over them and the answer prompt
# are the research agent example's (bench/research_agent.py compares the agent with this
# single-shot retrieval)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "research_agent"))
import research

DECISION_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string", "enum": ["yes", "no", "maybe"]}},
    "required": ["answer"],
}
PUBMEDQA_PROMPTS = {
    "with_context": "Context: {contexts}\n\nQuestion: {question}\n"
                    "Based on the context, answer yes, no or maybe.",
    "without_context": "Question: {question}\nAnswer yes, no or maybe.",
}
HOTPOT_SYSTEM = {
    "with_context": research.ANSWER_SYSTEM,
    "without_context": "Answer the question with a short phrase.",
}


def summary(run: RunSummary, name: str) -> dict[str, Any]:
    metric = run.metric(name)
    return {"value": _r(metric.value), "ci95": [_r(metric.low), _r(metric.high)], "n": metric.n}


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def run_pubmedqa(llm: EmbeddedLLM, store: SQLiteStore, limit: int, seed: int) -> dict[str, Any]:
    path = dataset_path("pubmedqa/pqal.jsonl")
    dataset = Dataset.from_file(path, name="pubmedqa").select_split("test").head(limit)
    decisions = [r["decision"] for r in dataset.rows]
    out: dict[str, Any] = {
        "rows": len(dataset), "split": "test", "dataset_version": dataset.version,
        "anchors_full_test_half": {"majority_class": 0.552, "single_human": 0.780},
        "majority_class_on_these_rows": _r(max(Counter(decisions).values()) / len(decisions)),
        "label_counts": dict(Counter(decisions)),
    }
    for condition, prompt in PUBMEDQA_PROMPTS.items():
        inputs = ["question", "contexts"] if condition == "with_context" else ["question"]
        target = LLMTarget(llm, prompt=prompt, json_schema=DECISION_SCHEMA, output="answer",
                           max_tokens=16, seed=seed, cache=OutputCache(store),
                           name=f"embedded/{condition}")
        plan = EvalPlan.simple(f"pubmedqa-{condition}", dataset, target,
                               ["normalized_match", "latency_s"], inputs=inputs,
                               expected="decision", concurrency=1, seed=seed)
        run = EvalRunner(store).run(plan)
        rows = RunRepository(store).rows(run.id)
        out[condition] = {
            "accuracy": summary(run, "normalized_match"),
            "errors": run.counts["error"], "invalid": run.counts["invalid"],
            "predicted": dict(Counter(r.output for r in rows if r.status == "ok")),
            "mean_latency_s_when_computed": _r(run.metric("latency_s").value),
            "cached_rows": run.cached, "run": run.id,
        }
    return out


def hotpot_rows(limit: int) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """The first ``limit`` questions, and every distinct paragraph of all 500 (the corpus)."""
    corpus = [(p.title, p.text) for p in research.hotpot_paragraphs()]
    return research.hotpot_questions(limit), corpus


def retrieve(rows: list[dict[str, Any]], corpus: list[tuple[str, str]], k: int) -> list[Any]:
    """BM25 (the retrieval layer's lexical retriever) over the pooled paragraphs: the research
    agent's encyclopedia (examples/research_agent), searched once with each question."""
    encyclopedia = research.Encyclopedia(
        paragraphs=[research.Paragraph(title, text) for title, text in corpus], top_k=k)
    return [encyclopedia.search(row["question"]) for row in rows]


def run_hotpotqa(llm: EmbeddedLLM, store: SQLiteStore, limit: int, seed: int) -> dict[str, Any]:
    rows, corpus = hotpot_rows(limit)
    retrieved = retrieve(rows, corpus, k=2)
    recall = []
    prepared = []
    for row, hits in zip(rows, retrieved, strict=True):
        gold = [c for c in row["contexts"] if c["supporting"]]
        gold_titles = {c["title"] for c in gold}
        recall.append(len(gold_titles & {h["title"] for h in hits}) / len(gold_titles))
        prepared.append({"id": row["id"], "question": row["question"], "answers": row["answers"],
                         "gold": [{"title": c["title"], "text": c["text"]} for c in gold],
                         "retrieved": hits})
    dataset = Dataset(prepared, name="hotpotqa-prepared")
    yes_no = {r["id"] for r in prepared if r["answers"][0].strip().lower() in ("yes", "no")}
    out: dict[str, Any] = {
        "rows": len(dataset), "corpus_paragraphs": len(corpus), "yes_no_questions": len(yes_no),
        "retrieval": {"method": "BM25 (compound.orchestration.retrieval.LexicalRetriever)",
                      "k": 2, "gold_paragraph_recall_at_2": _r(sum(recall) / len(recall))},
    }
    conditions = {"gold_paragraphs": "gold", "retrieved_paragraphs": "retrieved",
                  "no_context": None}
    for condition, field in conditions.items():
        prompt = research.ANSWER_PROMPT if field else "Question: {question}"
        inputs = {"question": "question", **({"passages": field} if field else {})}
        target = LLMTarget(
            llm, prompt=prompt, max_tokens=24, seed=seed, cache=OutputCache(store),
            system=HOTPOT_SYSTEM["with_context" if field else "without_context"],
            contexts="passages" if field else None, name=f"embedded/{condition}",
        )
        plan = EvalPlan.simple(f"hotpotqa-{condition}", dataset, target,
                               ["normalized_match", "token_f1", "latency_s"], inputs=inputs,
                               expected="answers", concurrency=1, seed=seed)
        run = EvalRunner(store).run(plan)
        rows = [r for r in RunRepository(store).rows(run.id) if r.id not in yes_no]
        hits = [r.scores.get("normalized_match") or 0.0 for r in rows]
        out[condition] = {
            "em": summary(run, "normalized_match"), "f1": summary(run, "token_f1"),
            "em_without_yes_no_questions": _r(sum(hits) / len(hits)) if hits else None,
            "errors": run.counts["error"], "invalid": run.counts["invalid"],
            "mean_latency_s_when_computed": _r(run.metric("latency_s").value),
            "cached_rows": run.cached, "run": run.id,
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=500, help="rows per dataset (max 500)")
    parser.add_argument("--tasks", default="pubmedqa,hotpotqa")
    parser.add_argument("--store", default=str(Path(".compound") / "bench" / "eval_reference.db"),
                        help="SQLite store holding runs and the output cache")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    store = SQLiteStore(args.store)
    llm = EmbeddedLLM(n_ctx=4096)
    start = time.perf_counter()
    llm.load()
    report: dict[str, Any] = {
        "model": f"embedded:{llm.model}", "limit": args.limit, "seed": args.seed,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "decoding": "greedy (temperature 0), JSON-schema-constrained for PubMedQA",
    }
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    if "pubmedqa" in tasks:
        report["pubmedqa"] = run_pubmedqa(llm, store, args.limit, args.seed)
    if "hotpotqa" in tasks:
        report["hotpotqa"] = run_hotpotqa(llm, store, args.limit, args.seed)
    report["seconds"] = round(time.perf_counter() - start, 1)
    store.close()
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
