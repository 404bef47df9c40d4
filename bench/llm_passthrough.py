"""How much compound's embedded provider costs on top of raw llama-cpp-python.

Same model object, same prompt tokens, same settings; the two paths alternate and the KV
cache is reset before every run so both pay for prompt processing. Prints JSON:
tokens/s through each path, their ratio, and time-to-first-token for each and the overhead.

    .venv/bin/python bench/llm_passthrough.py [--runs 7] [--max-tokens 128]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

from compound.intelligence.llm import Message, TextDelta
from compound.intelligence.llm.embedded import EmbeddedLLM
from compound.intelligence.llm.types import GenerationParams

PROMPT = [Message("user", "Write a long story about a lighthouse keeper and the sea.")]
STOP = ["<|never|>"]  # generate max_tokens on both paths


def run_compound(llm: EmbeddedLLM, max_tokens: int) -> tuple[float, float, int]:
    llm.llama.reset()
    start = time.perf_counter()
    first = None
    tokens = 0
    for event in llm.stream(PROMPT, max_tokens=max_tokens, temperature=0.0, seed=0, stop=STOP):
        if isinstance(event, TextDelta):
            if first is None:
                first = time.perf_counter() - start
        else:
            tokens = event.usage.completion_tokens
    total = time.perf_counter() - start
    return tokens / total, first or total, tokens


def run_raw(llm: EmbeddedLLM, prompt: str, max_tokens: int) -> tuple[float, float, int]:
    llama = llm.llama
    llama.reset()
    start = time.perf_counter()
    first = None
    tokens = 0
    for chunk in llama.create_completion(
        prompt, max_tokens=max_tokens, temperature=0.0, top_p=1.0, seed=0, stop=STOP,
        stream=True,
    ):
        if chunk["choices"][0]["text"]:
            tokens += 1
            if first is None:
                first = time.perf_counter() - start
    total = time.perf_counter() - start
    return tokens / total, first or total, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()

    llm = EmbeddedLLM(n_ctx=2048)
    llm.load()
    prompt = llm.render(PROMPT, GenerationParams(stop=tuple(STOP)))
    run_raw(llm, prompt, 16)  # warm-up both paths
    run_compound(llm, 16)
    raw, ours = [], []
    for _ in range(args.runs):
        raw.append(run_raw(llm, prompt, args.max_tokens))
        ours.append(run_compound(llm, args.max_tokens))
    raw_tps = statistics.median(r[0] for r in raw)
    our_tps = statistics.median(r[0] for r in ours)
    raw_ttft = statistics.median(r[1] for r in raw)
    our_ttft = statistics.median(r[1] for r in ours)
    print(json.dumps({
        "benchmark": "llm_passthrough",
        "model": llm.model,
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
        "runs": args.runs,
        "max_tokens": args.max_tokens,
        "prompt_tokens": len(llm.llama.tokenize(prompt.encode())),
        "completion_tokens": {"raw": raw[0][2], "compound": ours[0][2]},
        "tokens_per_s": {"raw_llama_cpp": round(raw_tps, 2), "compound": round(our_tps, 2)},
        "ratio_compound_to_raw": round(our_tps / raw_tps, 4),
        "ttft_ms": {"raw_llama_cpp": round(raw_ttft * 1000, 2),
                    "compound": round(our_ttft * 1000, 2)},
        "ttft_overhead_ms": round((our_ttft - raw_ttft) * 1000, 2),
        "goals": {"ratio_at_least": 0.97, "ttft_overhead_ms_at_most": 5},
    }, indent=2))


if __name__ == "__main__":
    main()
