"""Confidence routing on Banking77: the ML intent model answers when confident, the rest go
to a fallback. Prints JSON.

What it does, all through compound's own components:

1. trains the intent model with the ML layer (``tfidf_linear`` with MiniLM sentence vectors,
   temperature-calibrated on a split of train; the ``--params`` option changes the learner's
   parameters) and, for comparison, a plain TF-IDF model (no embeddings);
2. calibrates the router's threshold on the **valid** split to the target covered accuracy
   (``calibrate_threshold``; also with a 90% Wilson lower bound, the careful variant);
3. reports on the **test** split: coverage (share answered by the ML model), accuracy on the
   covered share, and dollars per 1,000 requests with the deferred requests priced as an LLM
   call from the cost table, for thresholds across the range;
4. runs the real :class:`~compound.strategy.routing.ConfidenceRouter` over the test split at
   the chosen threshold, deferring to the review queue (a ``MemoryStore``), and checks that
   what it routed matches the curve.

The fallback is priced as ``openai:gpt-4o-mini`` (the ``--fallback-model`` option changes it)
at the cost table's list price: the prompt names all 77 intents and the request, counted with
the provider's token estimate; the answer is priced at ``--max-output-tokens``. The ML model's
own cost is taken as 0 (local CPU). The embedded LLM costs 0 in the table, so it would make
every row cost nothing; a hosted model makes the trade-off visible.

Usage:
    python bench/routing.py [--target 0.98] [--workdir DIR] [--plot curve.svg]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

FALLBACK_PROMPT = ("Classify the banking customer's request into exactly one of these "
                   "intents: {labels}.\nRequest: {input}\nIntent:")


def read_rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def write_spec(workdir: Path, paths: dict[str, Path], params: dict[str, Any], embedder: bool,
               name: str) -> Path:
    folder = workdir / name
    folder.mkdir(parents=True, exist_ok=True)
    embed = "\n    embedder: minilm" if embedder else ""
    (folder / "compound.yaml").write_text(f"""name: banking77-{name}
loop: prediction
task: Recognise the intent of a banking customer's request.
models:
  intent:
    kind: predictor
    task: text_classification
    dataset: {paths['train']}
    test_dataset: {paths['test']}
    target: label
    features: [text]{embed}
    params: {json.dumps(params)}
store: {{path: {workdir / 'store.db'}}}
""", encoding="utf-8")
    return folder


def train_and_predict(folder: Path, splits: dict[str, list[dict[str, Any]]]
                      ) -> tuple[dict[str, Any], dict[str, tuple[np.ndarray, np.ndarray]], Any]:
    from compound.intelligence.ml.predictor import Predictor
    from compound.intelligence.ml.training import train
    from compound.system import System

    system = System.load(folder)
    result = train(system, "intent", register=False)
    predictor = Predictor(name="intent", model=result.model)
    out = {}
    for split in ("valid", "test"):
        texts = [r["text"] for r in splits[split]]
        predictions = predictor.predict_batch(texts)
        confidence = np.array([p.probability for p in predictions], dtype=float)
        correct = np.array([p.label == r["label"] for p, r in
                            zip(predictions, splits[split], strict=True)])
        out[split] = (confidence, correct)
    info = {"test_accuracy": round(result.metrics["accuracy"], 4),
            "test_ece": round(result.metrics["ece"], 4),
            "calibration": (result.calibration or {}).get("method"),
            "train_seconds": round(result.seconds, 1), "rows": result.rows}
    return info, out, predictor


def at_threshold(confidence: np.ndarray, correct: np.ndarray, threshold: float,
                 fallback_cost: float) -> dict[str, Any]:
    covered = confidence >= threshold
    return {"coverage": round(float(covered.mean()), 4),
            "covered_accuracy": round(float(correct[covered].mean()), 4) if covered.any()
            else None,
            "cost_per_1k_usd": round(float((~covered).mean()) * fallback_cost * 1000, 4)}


def choose(valid: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
           target: float, fallback_cost: float, level: float | None) -> dict[str, Any] | None:
    from compound.strategy.calibration import calibrate_threshold

    found = calibrate_threshold(valid[0], valid[1], covered_accuracy=target,
                                fallback_cost_usd=fallback_cost, confidence_level=level)
    if found.chosen is None:
        return None
    t = found.chosen.threshold
    return {"threshold": t,
            "valid": at_threshold(valid[0], valid[1], t, fallback_cost),
            "test": at_threshold(test[0], test[1], t, fallback_cost),
            "calibration": found}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", type=float, default=0.98, help="covered accuracy target")
    parser.add_argument("--params", default="{}", help="tfidf_linear parameters as JSON")
    parser.add_argument("--workdir", type=Path,
                        default=Path.home() / ".cache" / "compound" / "bench-routing")
    parser.add_argument("--fallback-model", default="openai:gpt-4o-mini")
    parser.add_argument("--max-output-tokens", type=int, default=16)
    parser.add_argument("--plot", type=Path, default=None, help="write the valid curve as SVG")
    parser.add_argument("--no-baseline", action="store_true", help="skip the TF-IDF baseline")
    args = parser.parse_args()

    from compound.intelligence.llm.openai_compat import OpenAICompatibleLLM
    from compound.intelligence.llm.pricing import PRICES
    from compound.public_data import DatasetMissing, dataset_path
    from compound.store import MemoryStore
    from compound.strategy.answers import PredictorHandler
    from compound.strategy.budgets import estimate
    from compound.strategy.review import ReviewHandler, ReviewQueue
    from compound.strategy.routing import ConfidenceRouter

    try:
        paths = {s: dataset_path(f"banking77/{s}.jsonl") for s in ("train", "valid", "test")}
    except DatasetMissing as exc:
        print(json.dumps({"error": str(exc)}))
        return 2
    splits = {s: read_rows(p) for s, p in paths.items()}
    labels = sorted({r["label"] for r in splits["train"]})
    provider, _, model = args.fallback_model.partition(":")
    if (provider, model) not in PRICES:
        print(json.dumps({"error": f"{args.fallback_model} is not in the cost table"}))
        return 2
    fallback_llm = OpenAICompatibleLLM(model=model, base_url="http://127.0.0.1:9/v1")
    fallback_llm.provider = provider  # type: ignore[misc]  # price as the named provider
    prompts = [FALLBACK_PROMPT.format(labels=", ".join(labels), input=r["text"])
               for r in splits["test"]]
    estimates = [estimate(fallback_llm, p, max_tokens=args.max_output_tokens) for p in prompts]
    fallback_cost = float(np.mean([e.cost_usd for e in estimates]))
    args.workdir.mkdir(parents=True, exist_ok=True)
    params = json.loads(args.params)

    folder = write_spec(args.workdir, paths, params, embedder=True, name="minilm")
    model_info, scored, predictor = train_and_predict(folder, splits)
    chosen = choose(scored["valid"], scored["test"], args.target, fallback_cost, None)
    careful = choose(scored["valid"], scored["test"], args.target, fallback_cost, 0.9)

    grid = sorted({round(x, 2) for x in [*np.arange(0.0, 0.8, 0.1), *np.arange(0.8, 1.0, 0.01)]})
    curve = [{"threshold": t, **at_threshold(*scored["test"], t, fallback_cost)} for t in grid]
    meeting = [p for p in curve if p["coverage"] >= 0.85 and
               (p["covered_accuracy"] or 0) >= args.target]

    router_run = None
    if chosen is not None:
        queue = ReviewQueue(MemoryStore())
        router = ConfidenceRouter(model=PredictorHandler("intent", predictor),
                                  fallback=ReviewHandler(queue), threshold=chosen["threshold"])
        start = time.perf_counter()
        routed = router.run_batch([r["text"] for r in splits["test"]])
        seconds = time.perf_counter() - start
        answered = [(r.answer.value, row["label"]) for r, row in
                    zip(routed, splits["test"], strict=True) if r.decision.route == "intent"]
        router_run = {
            "answered_by_ml": len(answered), "sent_to_review": len(queue.entries()),
            "covered_accuracy": round(sum(a == b for a, b in answered) / len(answered), 4),
            "seconds": round(seconds, 2),
            "ms_per_request": round(1000 * seconds / len(routed), 3),
        }

    baseline = None
    if not args.no_baseline:
        base_folder = write_spec(args.workdir, paths, params, embedder=False, name="tfidf")
        base_info, base_scored, _ = train_and_predict(base_folder, splits)
        base_chosen = choose(base_scored["valid"], base_scored["test"], args.target,
                             fallback_cost, None)
        baseline = {"model": "tfidf_linear without embeddings", **base_info,
                    "chosen_on_valid": None if base_chosen is None else
                    {k: v for k, v in base_chosen.items() if k != "calibration"}}

    if args.plot is not None and chosen is not None:
        from compound.strategy.plot import calibration_svg

        args.plot.write_text(calibration_svg(chosen["calibration"], title=(
            f"Banking77 valid: covered accuracy >= {args.target}")), encoding="utf-8")

    def public(found: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if found is None else {k: v for k, v in found.items() if k != "calibration"}

    goal_met = (chosen is not None and chosen["test"]["coverage"] >= 0.85
                and (chosen["test"]["covered_accuracy"] or 0) >= args.target)
    report = {
        "dataset": {"name": "banking77", "rows": {s: len(r) for s, r in splits.items()},
                    "labels": len(labels)},
        "model": {"learner": "tfidf_linear + minilm embeddings", "params": params,
                  **model_info},
        "fallback": {
            "priced_as": args.fallback_model,
            "price_per_mtok_usd": dict(zip(("input", "output"), PRICES[(provider, model)],
                                           strict=True)),
            "mean_prompt_tokens": round(float(np.mean(
                [e.tokens - args.max_output_tokens for e in estimates])), 1),
            "max_output_tokens": args.max_output_tokens,
            "cost_per_request_usd": round(fallback_cost, 8),
            "ml_cost_per_request_usd": 0.0,
        },
        "all_llm_cost_per_1k_usd": round(fallback_cost * 1000, 4),
        "target": {"covered_accuracy": args.target, "calibrated_on": "valid",
                   "reported_on": "test"},
        "chosen_on_valid": public(chosen),
        "chosen_on_valid_90pct_lower_bound": public(careful),
        "goal": {"coverage_min": 0.85, "covered_accuracy_min": args.target,
                 "met_on_test_by_valid_threshold": goal_met,
                 "test_thresholds_meeting_it": [p["threshold"] for p in meeting]},
        "router_run": router_run,
        "baseline": baseline,
        "test_curve": curve,
    }
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
