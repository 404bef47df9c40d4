"""The research agent against single-shot retrieval and the gold paragraphs, on HotpotQA; JSON.

Three conditions answer the same HotpotQA dev questions with the embedded model, each through
the workflows of ``examples/research_agent/compound.yaml``, so the answer step (prompt,
model, 24 tokens, greedy) is the same and only the evidence differs:

* ``single_shot``: the research workflow with one hop: the two paragraphs BM25 returns for
  the question from every dev question's paragraphs pooled (bench/eval_reference.py's
  retrieve-then-answer), no planning call;
* ``agent``: the research workflow as shipped: search with the question, pick the entry to
  look up next among those the evidence names (the best-ranked; ``--planner model``: the
  model's choice), search again; two paragraphs handed to the answer, as for single-shot;
* ``gold``: the answer workflow on the two gold supporting paragraphs (retrieval perfect).

Reported per condition: answer EM (normalised) and token F1 against HotpotQA's answers,
supporting-paragraph recall of the paragraphs handed to the answer (the same number, 2, for
both retrieval conditions; the JSON says so), the recall of everything the searches returned
with how many paragraphs that was (single-shot's BM25 recall at 5 and 10 alongside, for the
same budget of paragraphs looked at), model calls and seconds per question; and the agent's
paired difference from single-shot with a bootstrap 95% interval.

Every model call goes through compound's output cache in a SQLite store, so a rerun (or a
larger ``--limit``) only pays for questions not answered before; the JSON says how many calls
the cache answered (a condition also gets the answers of prompts another condition asked
first: the agent's evidence is often single-shot's). ``seconds_per_question`` is this run's
wall time, ``model_seconds_per_question`` the model's time on every call, a cached call
counting the time it took when it ran.

    python bench/research_agent.py                 # 100 questions: 31 min on 2 cores at load 7-8
    python bench/research_agent.py --limit 20      # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from compound.evaluation.cache import OutputCache
from compound.intelligence.llm.embedded import EmbeddedLLM
from compound.metrics.text import normalized_match, token_f1
from compound.store import SQLiteStore
from compound.strategy.cache.llm import CachedLLM
from compound.system import System
from compound.workflow.context import RunContext
from compound.workflow.loader import build_workflow

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "research_agent"
sys.path.insert(0, str(EXAMPLE))
import research  # noqa: E402  (the example's own module, as its spec imports it)


class MeteredLLM(CachedLLM):
    """The cached model, adding up the model seconds of every call: a call the cache answers
    counts its original latency, so model seconds compare across conditions and reruns."""

    model_seconds = 0.0

    def complete(self, prompt: Any, **overrides: Any) -> Any:
        completion = super().complete(prompt, **overrides)
        self.model_seconds += completion.latency_s
        return completion


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def recall(gold: set[str], titles: list[str]) -> float:
    """Share of the gold supporting titles among ``titles``."""
    return len(gold & set(titles)) / len(gold)


def paired(a: list[float], b: list[float], *, seed: int, resamples: int = 2000
           ) -> dict[str, Any]:
    """Mean of ``a - b`` over the same questions, with a percentile bootstrap 95% interval."""
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    rng = random.Random(seed)
    means = sorted(sum(rng.choices(diffs, k=len(diffs))) / len(diffs)
                   for _ in range(resamples))
    return {"mean": _r(_mean(diffs)), "ci95": [_r(means[int(0.025 * resamples)]),
                                                _r(means[int(0.975 * resamples) - 1])]}


class Condition:
    """One condition's per-question figures."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.em: list[float] = []
        self.f1: list[float] = []
        self.support: list[float] = []  # recall of the paragraphs handed to the answer
        self.found: list[float] = []  # recall of everything the searches returned
        self.found_count: list[int] = []
        self.evidence_count: list[int] = []
        self.planning_calls = 0
        self.calls = 0
        self.cached = 0
        self.seconds = 0.0
        self.model_seconds = 0.0
        self.stops: dict[str, int] = {}
        self.examples: list[dict[str, Any]] = []

    def summary(self) -> dict[str, Any]:
        n = len(self.f1)
        out: dict[str, Any] = {
            "n": n, "em": _r(_mean(self.em)), "f1": _r(_mean(self.f1)),
            "supporting_recall": _r(_mean(self.support)),
            "paragraphs_to_answer": _r(_mean([float(c) for c in self.evidence_count])),
            "model_calls_per_question": _r(self.calls / n) if n else None,
            "model_calls_from_cache": self.cached,
            "seconds_per_question": _r(self.seconds / n) if n else None,
            "model_seconds_per_question": _r(self.model_seconds / n) if n else None,
        }
        if self.found:
            out["recall_of_all_paragraphs_searched"] = _r(_mean(self.found))
            out["paragraphs_searched"] = _r(_mean([float(c) for c in self.found_count]))
            out["stop_reasons"] = self.stops
        if self.examples:
            out["examples"] = self.examples
        return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=100, help="questions (max 500)")
    parser.add_argument("--hops", type=int, default=2, help="the agent's search budget")
    parser.add_argument("--store", default=str(Path(".compound") / "bench" / "research_agent.db"),
                        help="SQLite store holding the output cache")
    parser.add_argument("--seed", type=int, default=0, help="of the bootstrap")
    parser.add_argument("--planner", choices=["model", "ranked"], default="ranked",
                        help="who picks the agent's next search among the leads: the "
                             "best-ranked lead (default) or the LLM")
    parser.add_argument("--examples", type=int, default=3,
                        help="questions shown with the agent's searches")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    started = time.perf_counter()
    Path(args.store).parent.mkdir(parents=True, exist_ok=True)
    store = SQLiteStore(args.store)
    cache = OutputCache(store)
    embedded = EmbeddedLLM(n_ctx=4096)
    embedded.load()
    llm = MeteredLLM(embedded, cache)
    rows = research.hotpot_questions(args.limit)
    encyclopedia = research.Encyclopedia(top_k=5).load()
    system = System.load(EXAMPLE)
    # the output cache above, not the spec's own (a store next to the spec)
    shared: dict[str, Any] = {"llm:llm": llm, "strategy:cache": None}
    flows = {name: build_workflow(system, name, shared=shared) for name in ("research", "answer")}
    base = research.ResearchDeps(llm=llm, encyclopedia=encyclopedia, planner=args.planner)
    deps = {"single_shot": replace(base, max_hops=1), "agent": replace(base, max_hops=args.hops)}
    results = {name: Condition(name) for name in ("agent", "single_shot", "gold")}
    bm25 = {k: [] for k in (2, 5, 10)}  # single-shot recall at more paragraphs
    for name, condition in results.items():
        for i, row in enumerate(rows, 1):
            gold = research.supporting_titles(row)
            hits_before, misses_before = cache.hits, cache.misses
            model_before = llm.model_seconds
            start = time.perf_counter()
            if name == "gold":
                paragraphs = [c for c in row["contexts"] if c["supporting"]]
                run = flows["answer"].run(
                    question=row["question"], titles=[c["title"] for c in paragraphs],
                    passages=[research.Paragraph(c["title"], c["text"]).passage()
                              for c in paragraphs])
                out = run.output
            else:
                run = flows["research"].run(ctx=RunContext(deps=deps[name]),
                                            question=row["question"])
                out = run.output
                findings = run.outputs["investigate"]
                found = findings.titles()
                condition.found.append(recall(gold, found))
                condition.found_count.append(len(found))
                condition.planning_calls += findings.model_calls
                condition.stops[findings.stop_reason] = (
                    condition.stops.get(findings.stop_reason, 0) + 1)
                if name == "agent" and len(condition.examples) < args.examples:
                    condition.examples.append({
                        "question": row["question"], "answers": row["answers"],
                        "queries": findings.queries, "citations": out.citations,
                        "supporting": sorted(gold), "answer": out.answer})
            condition.seconds += time.perf_counter() - start
            condition.model_seconds += llm.model_seconds - model_before
            condition.calls += (cache.hits - hits_before) + (cache.misses - misses_before)
            condition.cached += cache.hits - hits_before
            condition.em.append(normalized_match(out.answer, row["answers"]) or 0.0)
            condition.f1.append(token_f1(out.answer, row["answers"]) or 0.0)
            condition.support.append(recall(gold, out.citations))
            condition.evidence_count.append(len(out.citations))
            if i % 10 == 0 or i == len(rows):
                print(f"{name}: {i}/{len(rows)} F1 {_mean(condition.f1):.3f} support "
                      f"{_mean(condition.support):.3f}", file=sys.stderr, flush=True)
    for row in rows:
        titles = [h["title"] for h in encyclopedia.search(row["question"])]
        wider = encyclopedia.retriever_.run(row["question"], top_k=10).hits  # type: ignore[union-attr]
        gold = research.supporting_titles(row)
        bm25[2].append(recall(gold, titles[:2]))
        bm25[5].append(recall(gold, titles[:5]))
        bm25[10].append(recall(gold, [h.title for h in wider]))
    agent, single = results["agent"], results["single_shot"]
    report: dict[str, Any] = {
        "benchmark": "research_agent", "dataset": "HotpotQA dev (distractor), first questions",
        "n": len(rows), "corpus_paragraphs": len(encyclopedia.by_title_),
        "model": f"embedded:{embedded.model}", "decoding": "greedy (temperature 0)",
        "planner": args.planner,
        "retrieval": "BM25 (compound LexicalRetriever) over every dev question's paragraphs",
        "agent": agent.summary(),
        "single_shot": single.summary(),
        "gold": results["gold"].summary(),
        "fairness": (
            f"agent and single-shot both hand {2} paragraphs to the same answer step; "
            "supporting_recall is over those. The agent looked at more paragraphs "
            "(paragraphs_searched); single-shot's BM25 recall at 5 and 10 is for that budget."),
        "single_shot_bm25_recall_at": {str(k): _r(_mean(v)) for k, v in bm25.items()},
        "agent_minus_single_shot": {
            "f1": paired(agent.f1, single.f1, seed=args.seed),
            "em": paired(agent.em, single.em, seed=args.seed),
            "supporting_recall": paired(agent.support, single.support, seed=args.seed),
        },
        "agent_beats_single_shot": {
            "f1": (_mean(agent.f1) or 0) > (_mean(single.f1) or 0),
            "supporting_recall": (_mean(agent.support) or 0) > (_mean(single.support) or 0),
        },
        "reference_from_eval_reference_py": {
            "note": "measured earlier by bench/eval_reference.py, not in this run",
            "single_shot_f1": 0.256, "single_shot_recall_at_2": 0.542, "gold_f1": 0.345},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(), "load_before": load_before,
                    "load_after": os.getloadavg()},
        "seconds": round(time.perf_counter() - started, 1),
        "command": " ".join(["python", "bench/research_agent.py", *(argv or sys.argv[1:])]),
    }
    store.close()
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
