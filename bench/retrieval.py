"""Retrieval on a BEIR-layout dataset (SciFact by default) or pooled HotpotQA; prints JSON.

The same code as ``compound bench retrieval``: BM25 (bm25s, Lucene variant, stemmed; and
``bm25_plain``, bm25s alone over title and text with the same tokenisation), dense
(all-MiniLM-L6-v2, int8 ONNX, 256 tokens) and hybrid (min-max weighted fusion, and RRF);
nDCG@10, Recall@100 and MRR@10 on the test judgments; index build seconds (lexical and dense
apart), documents embedded per second, queries per second (one at a time, query embedding
included), and the cost of re-ingesting the unchanged corpus.

    python bench/retrieval.py
    python bench/retrieval.py --dataset ../shared/datasets/scifact --max-tokens 128
    python bench/retrieval.py --dataset ../shared/datasets/hotpotqa
"""

from __future__ import annotations

import argparse
import json
import sys

from compound.intelligence.embedders import OnnxEmbedder
from compound.orchestration.retrieval.bench import run_retrieval_bench
from compound.public_data import dataset_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", help="a BEIR folder or HotpotQA (default: shared SciFact)")
    parser.add_argument("--max-queries", type=int)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--quantize", default="none", choices=["none", "dynamic-int8"])
    parser.add_argument("--threads", type=int)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--long-text", default="windows", choices=["windows", "cut"])
    parser.add_argument("--stride", type=int, default=64)
    args = parser.parse_args()
    folder = args.dataset or dataset_path("scifact/corpus.jsonl").parent
    embedder = OnnxEmbedder(max_tokens=args.max_tokens, quantize=args.quantize,
                            threads=args.threads, batch_size=args.batch_size,
                            stride=args.stride)
    results = run_retrieval_bench(
        folder, embedder=embedder, max_queries=args.max_queries, long_text=args.long_text,
        note=lambda line: print(line, file=sys.stderr),
    )
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
