"""Exact-cache hit latency: how long a cached LLM answer takes to come back. Prints JSON.

A realistic call (a system prompt of about 2 KB, a user question, default generation
settings) is answered once by the scripted model and then asked again ``--hits`` times; each
hit goes through the whole public path, ``CachedLLM.complete`` (effective parameters, key
digest, version check, lookup, TTL check, rebuilding the Completion). Measured for the
in-memory backend and for the store backend on a real SQLite file. Also reports the cost of
the key alone, and a miss (lookup plus the call plus storing).

Usage:
    python bench/cache.py [--hits 2000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"median_us": round(statistics.median(ordered) * 1e6, 1),
            "p90_us": round(ordered[int(0.9 * (len(ordered) - 1))] * 1e6, 1),
            "p99_us": round(ordered[int(0.99 * (len(ordered) - 1))] * 1e6, 1)}


def measure(llm: Any, prompt: Any, hits: int) -> dict[str, float]:
    llm.complete(prompt)  # the miss that fills the cache
    samples = []
    for _ in range(hits):
        start = time.perf_counter()
        completion = llm.complete(prompt)
        samples.append(time.perf_counter() - start)
        assert completion.cost_usd == 0.0
    return percentiles(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hits", type=int, default=2000)
    args = parser.parse_args()

    from compound.intelligence.llm import Message, ScriptedLLM
    from compound.store import SQLiteStore
    from compound.strategy.cache import CachedLLM, ExactCache, LLMCache, StoreBackend
    from compound.strategy.cache.keys import llm_cache_key

    system = ("You are the support assistant of a retail bank. Answer in two sentences, cite "
              "the policy section, never give investment advice. " * 14)
    prompt = [Message("system", system),
              Message("user", "I ordered a new card ten days ago and it has not arrived yet; "
                              "what should I do?")]
    inner = ScriptedLLM(["Cards arrive within 7 working days; after that we send a new one "
                         "(policy 4.2)."], model="support-model")
    report: dict[str, Any] = {"prompt_chars": sum(len(m.content) for m in prompt),
                              "hits_measured": args.hits}

    params = inner.params()
    samples = []
    for _ in range(args.hits):
        start = time.perf_counter()
        llm_cache_key(inner, prompt, params)
        samples.append(time.perf_counter() - start)
    report["key_only"] = percentiles(samples)

    report["memory_backend_hit"] = measure(CachedLLM(inner), prompt, args.hits)

    with tempfile.TemporaryDirectory() as folder, SQLiteStore(Path(folder) / "c.db") as store:
        cached = CachedLLM(inner, LLMCache(exact=ExactCache(backend=StoreBackend(store))))
        report["sqlite_store_backend_hit"] = measure(cached, prompt, args.hits)
        misses = []
        for index in range(min(200, args.hits)):
            question = [prompt[0], Message("user", f"question number {index}")]
            start = time.perf_counter()
            cached.complete(question)
            misses.append(time.perf_counter() - start)
        report["sqlite_store_backend_miss_with_scripted_model"] = percentiles(misses)

    report["under_1ms_median"] = all(
        report[k]["median_us"] < 1000 for k in ("memory_backend_hit", "sqlite_store_backend_hit"))
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
