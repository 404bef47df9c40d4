"""Confidence routing on Banking77: the ML intent model answers when confident, the rest go
to a fallback. Prints JSON.

What it does, all through compound's own components:

1. trains the intent model with the ML layer (``tfidf_linear`` with MiniLM sentence vectors;
   the ``--params`` option changes the learner's parameters) on **train + valid**, cross-fitted
   (``split.cross_fit: 5``): five fold models give every labelled row an out-of-fold
   confidence, the temperature is fitted on those, and the final model trains on every row;
2. calibrates the router's threshold on those **out-of-fold** predictions (10,162 rows) to the
   target covered accuracy, with a one-sided Wilson lower bound at ``--confidence-level``
   (``calibrate_threshold``); the point-estimate threshold is reported beside it. The test
   split is never used to choose anything;
3. reports on the **test** split: coverage (share answered by the ML model), accuracy on the
   covered share, and dollars per 1,000 requests with the deferred requests priced as an LLM
   call from the cost table, for thresholds across the range;
4. runs the real :class:`~compound.strategy.routing.ConfidenceRouter` over the test split at
   the chosen threshold, deferring to the review queue (a ``MemoryStore``), and checks that
   what it routed matches the curve;
5. for comparison, the earlier pipeline (the same model trained on train only, calibrated on a
   held-out share of it, threshold chosen on the 1,540-row **valid** split) and a plain TF-IDF
   model (no embeddings) through that pipeline.

The fallback is priced as ``openai:gpt-4o-mini`` (the ``--fallback-model`` option changes it)
at the cost table's list price: the prompt names all 77 intents and the request, counted with
the provider's token estimate; the answer is priced at ``--max-output-tokens``. The ML model's
own cost is taken as 0 (local CPU). The embedded LLM costs 0 in the table, so it would make
every row cost nothing; a hosted model makes the trade-off visible.

``--defaults`` runs instead what a new user's spec gets, and nothing else. The model trains
on **train** with ``test_dataset: test``; the router sets only ``target`` (and, with
``--spec calibration-file``, names ``valid`` as its ``calibration_dataset``, the file the
model's temperature is fitted on too); ``calibrate_router`` (what ``compound route
calibrate`` runs) chooses the threshold with every default. With ``--spec minimal`` (the
default) that is: the model cross-fitted (5 folds) and the threshold chosen on its
out-of-fold predictions over the train rows; with ``--spec calibration-file``, a calibrator
cross-fitted over the valid rows; both with a 95% Wilson lower bound. It reports the
threshold, the expected covered accuracy with its interval, what the threshold gives on
test, and, for comparison, the point estimate on the same confidences (the earlier
default). ``--no-embedder`` drops the MiniLM vectors (the learner's own default).

Usage:
    python bench/routing.py [--target 0.98] [--confidence-level 0.95] [--workdir DIR]
        [--plot curve.svg]
    python bench/routing.py --defaults [--spec minimal|calibration-file] [--no-embedder]
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
               name: str, folds: int = 0) -> Path:
    folder = workdir / name
    folder.mkdir(parents=True, exist_ok=True)
    embed = "\n    embedder: minilm" if embedder else ""
    if folds:
        embed += f"\n    split: {{cross_fit: {folds}}}"
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
                      ) -> tuple[dict[str, Any], dict[str, tuple[np.ndarray, np.ndarray]],
                                 Any, Any]:
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
    return info, out, predictor, result.out_of_fold


def at_threshold(confidence: np.ndarray, correct: np.ndarray, threshold: float,
                 fallback_cost: float) -> dict[str, Any]:
    covered = confidence >= threshold
    return {"coverage": round(float(covered.mean()), 4),
            "covered_accuracy": round(float(correct[covered].mean()), 4) if covered.any()
            else None,
            "cost_per_1k_usd": round(float((~covered).mean()) * fallback_cost * 1000, 4)}


def choose(on: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
           target: float, fallback_cost: float, level: float | None,
           name: str = "valid") -> dict[str, Any] | None:
    """The threshold calibrated on ``on`` (named ``name``), and what it gives there and on
    test."""
    from compound.strategy.calibration import calibrate_threshold

    found = calibrate_threshold(on[0], on[1], covered_accuracy=target,
                                fallback_cost_usd=fallback_cost, confidence_level=level)
    if found.chosen is None:
        return None
    t = found.chosen.threshold
    return {"threshold": t, "rule": found.target, "calibrated_on_rows": found.rows,
            name: at_threshold(on[0], on[1], t, fallback_cost),
            "test": at_threshold(test[0], test[1], t, fallback_cost),
            "calibration": found}


def defaults_run(args: argparse.Namespace, paths: dict[str, Path],
                 splits: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The spec a new user writes, calibrated with every default; reported on test."""
    from compound.intelligence.ml.predictor import Predictor
    from compound.intelligence.ml.training import train
    from compound.intelligence.registry import ModelRegistry
    from compound.store import open_store
    from compound.strategy.calibration import calibrate_threshold
    from compound.strategy.spec import ConfidenceRouterSpec
    from compound.strategy.thresholds import calibrate_router
    from compound.system import System

    folder = args.workdir / f"defaults-{args.spec}" / ("minilm" if args.embedder else "tfidf")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "store.db").unlink(missing_ok=True)
    embed = "\n    embedder: minilm" if args.embedder else ""
    own = args.spec == "calibration-file"
    model_rows = f"\n    calibration_dataset: {paths['valid']}" if own else ""
    router_rows = f"\n      calibration_dataset: {paths['valid']}" if own else ""
    (folder / "compound.yaml").write_text(f"""name: banking77-defaults
loop: prediction
task: Recognise the intent of a banking customer's request.
models:
  intent:
    kind: predictor
    task: text_classification
    dataset: {paths['train']}{model_rows}
    test_dataset: {paths['test']}
    target: label
    features: [text]{embed}
strategy:
  routers:
    triage:
      kind: confidence
      model: intent
      fallback: review
      target: {{covered_accuracy: {args.target}}}{router_rows}
""", encoding="utf-8")
    system = System.load(folder)
    started = time.perf_counter()
    with open_store(system) as store:
        result = train(system, "intent", store=store)
        ModelRegistry(store).promote("intent", criteria={})
    train_s = time.perf_counter() - started
    calibration, version = calibrate_router(folder, "triage")
    with open_store(system) as store:
        predictor = Predictor(name="intent", store=store)
        scored = {}
        for split in ("valid", "test"):
            found = predictor.predict_batch([r["text"] for r in splits[split]])
            scored[split] = (np.array([p.probability for p in found], dtype=float),
                             np.array([p.label == r["label"] for p, r in
                                       zip(found, splits[split], strict=True)]))
    chosen = calibration.chosen
    test = (at_threshold(*scored["test"], chosen.threshold, 0.0) if chosen is not None
            else None)
    # the earlier default: the point estimate (on the model's own confidences on valid, the
    # rows its temperature was fitted on; or on the same out-of-fold predictions)
    if own:
        earlier = calibrate_threshold(*scored["valid"], covered_accuracy=args.target)
    else:
        assert result.out_of_fold is not None
        earlier = calibrate_threshold(result.out_of_fold.confidence,
                                      result.out_of_fold.correct, covered_accuracy=args.target)
    earlier_test = (at_threshold(*scored["test"], earlier.chosen.threshold, 0.0)
                    if earlier.chosen is not None else None)
    level = ConfidenceRouterSpec.model_fields["confidence_level"].default
    met = (test is not None and test["coverage"] >= 0.85
           and (test["covered_accuracy"] or 0) >= args.target)
    return {
        "mode": "defaults: the spec a new user writes, calibrated with every default",
        "spec": args.spec,
        "model": {"learner": "tfidf_linear" + (" + minilm embeddings" if args.embedder
                                               else ""),
                  "trained_on": "train",
                  "temperature_fitted_on": "valid" if own else "out-of-fold scores over train",
                  "cross_fit": (result.out_of_fold.folds if result.out_of_fold is not None
                                else 0),
                  "test_accuracy": round(result.metrics["accuracy"], 4),
                  "version": version, "train_seconds": round(train_s, 1)},
        "router": {"target": calibration.target, "calibrated_on": calibration.source,
                   "rows": calibration.rows, "default_confidence_level": level},
        "chosen": None if chosen is None else {
            "threshold": chosen.threshold,
            "on_calibration_rows": {"coverage": round(chosen.coverage, 4),
                                    "covered_accuracy": round(chosen.covered_accuracy or 0, 4),
                                    "interval": [round(chosen.covered_lower or 0, 4),
                                                 round(chosen.covered_upper or 0, 4)]},
            "expected": calibration.expected(),
            "test": test},
        "earlier_default_point_estimate": None if earlier.chosen is None else {
            "threshold": earlier.chosen.threshold, "test": earlier_test},
        "goal": {"coverage_min": 0.85, "covered_accuracy_min": args.target,
                 "met_on_test": met,
                 "threshold_chosen_on": ("valid" if own else "out-of-fold predictions over "
                                         "train") + " (never test)"},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", type=float, default=0.98, help="covered accuracy target")
    parser.add_argument("--params", default="{}", help="tfidf_linear parameters as JSON")
    parser.add_argument("--workdir", type=Path,
                        default=Path.home() / ".cache" / "compound" / "bench-routing")
    parser.add_argument("--fallback-model", default="openai:gpt-4o-mini")
    parser.add_argument("--max-output-tokens", type=int, default=16)
    parser.add_argument("--plot", type=Path, default=None,
                        help="write the out-of-fold calibration curve as SVG")
    parser.add_argument("--confidence-level", type=float, default=0.95,
                        help="the Wilson lower bound the chosen threshold must clear")
    parser.add_argument("--folds", type=int, default=5, help="cross-fitting folds")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the valid-split pipeline and the TF-IDF baseline")
    parser.add_argument("--defaults", action="store_true",
                        help="run only what a new user's spec gets (see the docstring)")
    parser.add_argument("--spec", choices=("minimal", "calibration-file"), default="minimal",
                        help="with --defaults: the new user's spec (see the docstring)")
    parser.add_argument("--no-embedder", dest="embedder", action="store_false",
                        help="with --defaults: no MiniLM vectors")
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
    if args.defaults:
        args.workdir.mkdir(parents=True, exist_ok=True)
        print(json.dumps(defaults_run(args, paths, splits), indent=1))
        return 0
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

    # every labelled row that is not test trains the model; cross-fitting gives each of them
    # an out-of-fold confidence to calibrate the temperature and the threshold on
    labelled = args.workdir / "train_valid.jsonl"
    labelled.write_text("".join(json.dumps(r) + "\n" for r in
                                [*splits["train"], *splits["valid"]]), encoding="utf-8")
    folder = write_spec(args.workdir, {**paths, "train": labelled}, params, embedder=True,
                        name="minilm-crossfit", folds=args.folds)
    model_info, scored, predictor, out_of_fold = train_and_predict(folder, splits)
    assert out_of_fold is not None
    oof = (out_of_fold.confidence, out_of_fold.correct)
    chosen = choose(oof, scored["test"], args.target, fallback_cost, args.confidence_level,
                    name="out_of_fold")
    point = choose(oof, scored["test"], args.target, fallback_cost, None, name="out_of_fold")

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

    def public(found: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if found is None else {k: v for k, v in found.items() if k != "calibration"}

    earlier = baseline = None
    if not args.no_baseline:
        # the earlier pipeline: train only, a held-out calibration share, threshold on valid
        split_folder = write_spec(args.workdir, paths, params, embedder=True, name="minilm")
        split_info, split_scored, _, _ = train_and_predict(split_folder, splits)
        earlier = {
            "model": "tfidf_linear + minilm embeddings, trained on train, threshold on valid",
            **split_info,
            "chosen_on_valid": public(choose(split_scored["valid"], split_scored["test"],
                                             args.target, fallback_cost, None)),
            "chosen_on_valid_lower_bound": public(choose(
                split_scored["valid"], split_scored["test"], args.target, fallback_cost,
                args.confidence_level)),
        }
        base_folder = write_spec(args.workdir, paths, params, embedder=False, name="tfidf")
        base_info, base_scored, _, _ = train_and_predict(base_folder, splits)
        baseline = {"model": "tfidf_linear without embeddings, trained on train, threshold "
                             "on valid", **base_info,
                    "chosen_on_valid": public(choose(base_scored["valid"], base_scored["test"],
                                                     args.target, fallback_cost, None))}

    if args.plot is not None and chosen is not None:
        from compound.strategy.plot import calibration_svg

        args.plot.write_text(calibration_svg(chosen["calibration"], title=(
            f"Banking77 out-of-fold: {chosen['rule']}")), encoding="utf-8")

    goal_met = (chosen is not None and chosen["test"]["coverage"] >= 0.85
                and (chosen["test"]["covered_accuracy"] or 0) >= args.target)
    report = {
        "dataset": {"name": "banking77", "rows": {s: len(r) for s, r in splits.items()},
                    "labels": len(labels)},
        "model": {"learner": "tfidf_linear + minilm embeddings", "params": params,
                  "trained_on": "train + valid", "cross_fit_folds": args.folds,
                  "out_of_fold_accuracy": round(out_of_fold.accuracy, 4), **model_info},
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
        "target": {"covered_accuracy": args.target, "confidence_level": args.confidence_level,
                   "calibrated_on": f"{args.folds}-fold out-of-fold predictions over train + "
                                    "valid (never test)",
                   "reported_on": "test"},
        "chosen_on_out_of_fold": public(chosen),
        "chosen_on_out_of_fold_point_estimate": public(point),
        "goal": {"coverage_min": 0.85, "covered_accuracy_min": args.target,
                 "met_on_test_by_out_of_fold_threshold": goal_met,
                 "test_thresholds_meeting_it": [p["threshold"] for p in meeting]},
        "router_run": router_run,
        "valid_split_pipeline": earlier,
        "baseline": baseline,
        "test_curve": curve,
    }
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
