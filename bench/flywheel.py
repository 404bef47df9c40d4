"""The flywheel, measured: users' corrections on Banking77 make the support desk's intent model
better, through `improve`; deliberately wrong corrections do not get a worse model promoted.
Prints JSON.

Protocol (so that no correction leaks into the rows a model is calibrated or tested on):

* the Banking77 valid split is cut in two halves, stratified by intent (``--seed``): the
  *feedback* half is the traffic users send; the *calibration* half replaces the spec's
  ``calibration_dataset`` in a copy of ``examples/support_desk``. Train and test are the
  spec's own (``data/banking77/train.jsonl``, ``data/banking77/test.jsonl``, shipped with it);
* version 1 of ``intent`` is trained and promoted in a fresh temporary store;
* each feedback-half question is sent through the ``answer`` workflow's ``classify`` step as a
  real, checkpointed and traced run of workflow ``answer`` (the shortcut: the other steps,
  the injection screen, retrieval and the embedded LLM, are left out, because they take
  1 to 5 s a request on 2 cores and do not change what `improve` reads: the run's input and
  the classify step's output). As in ``desk.reply``, a prediction below the desk's
  confidence threshold goes to the ``support_desk`` review queue, where a simulated reviewer
  approves it or corrects it with the true intent; a confident wrong prediction gets a
  ``correction`` signal from the simulated user, with the true intent, through
  :class:`~compound.production.feedback.FeedbackLog` (what ``POST /v1/feedback`` commits);
* `improve` then runs as ``compound improve`` does, and test accuracy before and after is
  measured independently, by loading the production version and predicting the test split;
  the gain is reported on the test split's *final* rows (``split.final``, half of it,
  stratified), which the promotion decision never read: the gate reads the other half (the
  gate rows) only, so a gain there could be luck the gate selected for;
* the *wrong feedback* run starts again from a copy of the store as it was after version 1
  and the same traffic, but every user "corrects" every answer to a wrong intent (drawn at
  random among the others), with no review; its candidate must not be promoted.

Usage:
    python bench/flywheel.py [--seed 0]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "support_desk"


def split_valid(rows: list[dict[str, Any]], seed: int) -> tuple[list[dict], list[dict]]:
    """Two halves of the valid split, each with half of every intent's rows."""
    by_label: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_label[row["label"]].append(row)
    rng = random.Random(seed)
    feedback: list[dict[str, Any]] = []
    calibration: list[dict[str, Any]] = []
    for label in sorted(by_label):
        group = by_label[label][:]
        rng.shuffle(group)
        feedback += group[: len(group) // 2]
        calibration += group[len(group) // 2:]
    rng.shuffle(feedback)
    return feedback, calibration


def spec_copy(folder: Path, calibration: list[dict[str, Any]]) -> Path:
    """examples/support_desk with the calibration half as its calibration_dataset."""
    import yaml

    target = folder / "support_desk"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns(".compound", "__pycache__"))
    (target / "calibration.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in calibration), encoding="utf-8")
    doc = yaml.safe_load((target / "compound.yaml").read_text(encoding="utf-8"))
    doc["models"]["intent"]["calibration_dataset"] = "calibration.jsonl"
    (target / "compound.yaml").write_text(yaml.safe_dump(doc, sort_keys=False),
                                          encoding="utf-8")
    return target


def classify_flow(system: Any) -> Any:
    """The `answer` workflow's classify step, alone, as workflow `answer`."""
    from compound.workflow.graph import Workflow
    from compound.workflow.kinds.predictor import PredictorStep
    from compound.workflow.spec import parse_type
    from compound.workflow.step import Step

    spec = system.workflows["answer"]
    step = next(s for s in spec.steps if s.name == "classify")
    model = system.predictors()[step.uses]
    input_type = dataclasses.make_dataclass(
        "answer_input", [(k, parse_type(v, where=k)) for k, v in spec.input.items()],
        frozen=True)
    flow = Workflow([Step(PredictorStep(name=step.uses, features=model.features, system=system),
                          name=step.name, needs=[], inputs=step.inputs)],
                    name="answer", input=input_type)
    flow.source = {"spec": str(system.source), "workflow": "answer"}
    return flow


def simulate(system: Any, store: Any, rows: list[dict[str, Any]], *, wrong: bool,
             seed: int, confident: float) -> dict[str, Any]:
    """Send every row as a request; give the feedback a user (or reviewer) would."""
    from compound.production.feedback import FeedbackLog, parse_signal
    from compound.strategy.review import ReviewQueue
    from compound.workflow.runs import default_tracer, start

    flow = classify_flow(system)
    labels = sorted({r["label"] for r in rows})
    rng = random.Random(seed + 1)
    log, queue = FeedbackLog(store), ReviewQueue(store, queue="support_desk")
    tracer = default_tracer(store)
    counts = dict.fromkeys(("requests", "confident", "to_review", "confident_wrong",
                            "user_corrections", "review_corrections", "review_approvals"), 0)
    started = time.perf_counter()
    try:
        for row in rows:
            result = start(flow, {"question": row["text"]}, store=store, tracer=tracer)
            predicted, probability = result.output.label, result.output.probability
            counts["requests"] += 1
            counts["to_review" if probability < confident else "confident"] += 1
            counts["confident_wrong"] += probability >= confident and predicted != row["label"]
            if wrong:  # every user "corrects" every answer, to a wrong intent
                bad = rng.choice([label for label in labels if label != row["label"]])
                log.record(parse_signal({"run_id": result.run_id, "kind": "correction",
                                         "step": "classify", "value": bad}))
                counts["user_corrections"] += 1
                continue
            if probability < confident:  # desk.reply hands it to a person
                item = queue.submit({"question": row["text"]}, proposed=predicted,
                                    confidence=probability, source="support_desk.answer",
                                    reason=f"confidence {probability:.2f} < {confident}",
                                    run_id=result.run_id)
                if predicted == row["label"]:
                    queue.resolve(item.id, "approve", reviewer="bench")
                    counts["review_approvals"] += 1
                else:
                    queue.resolve(item.id, "correct", label=row["label"], reviewer="bench")
                    counts["review_corrections"] += 1
                continue
            if predicted != row["label"]:
                log.record(parse_signal({"run_id": result.run_id, "kind": "correction",
                                         "step": "classify", "value": row["label"]}))
                counts["user_corrections"] += 1
    finally:
        tracer.close()
    counts["seconds"] = round(time.perf_counter() - started, 1)
    return counts


def production_accuracy(store: Any, test: list[dict[str, Any]],
                        rows: list[int] | None = None) -> tuple[int, float]:
    """The production version, and its accuracy on the test rows (those at ``rows`` only,
    when given), measured here."""
    from compound.intelligence.ml.predictor import Predictor

    chosen = test if rows is None else [test[i] for i in rows]
    predictor = Predictor(name="intent", store=store)
    predictions = predictor.predict_batch([{"text": r["text"]} for r in chosen])
    right = sum(p.label == r["label"] for p, r in zip(predictions, chosen, strict=True))
    assert predictor.version is not None
    return predictor.version, right / len(chosen)


def held_out_rows(store: Any) -> tuple[list[int], list[int]]:
    """The gate and final rows of the test split, as training cut them (the registry keeps
    them beside each version)."""
    from compound.intelligence.registry import ModelRegistry

    registry = ModelRegistry(store)
    current = registry.production("intent")
    assert current is not None
    held = registry.held_out(current)
    assert held is not None
    return list(held["gate"]), list(held["final"])


def outcome_facts(report: Any) -> dict[str, Any]:
    outcome = report.outcomes[0]
    return {
        "status": outcome.status, "message": outcome.message,
        "labelled_rows": outcome.rows, "rows_by_origin": outcome.origins,
        "conflicts_left_out": outcome.conflicts, "signals_not_used": report.skipped,
        "candidate_version": outcome.candidate,
        "candidate_gate_accuracy_recorded": _round(outcome.after.get("accuracy")),
        "production_gate_accuracy_recorded": _round(outcome.before.get("accuracy")),
        "candidate_final_accuracy_recorded": _round(outcome.final_after.get("accuracy")),
        "production_final_accuracy_recorded": _round(outcome.final_before.get("accuracy")),
        "rows_read": outcome.rows_read,
        "churn": None if outcome.churn is None else {
            "churn": _round(outcome.churn.churn),
            "confident_churn": _round(outcome.churn.confident_churn),
            "negative_flips": _round(outcome.churn.negative_flips),
            "rows": outcome.churn.rows, "confidence": outcome.churn.confidence},
        "checks": {c.name: c.status for c in outcome.checks},
        "improve_seconds": round(report.seconds, 1),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from compound.intelligence.ml.training import train
    from compound.intelligence.promotion import spec_gate
    from compound.intelligence.registry import ModelRegistry
    from compound.lifecycle.improve import improve
    from compound.public_data import DatasetMissing, dataset_path
    from compound.store import SQLiteStore
    from compound.system import System

    began = time.perf_counter()
    try:
        valid = [json.loads(line) for line in
                 dataset_path("banking77/valid.jsonl").read_text(encoding="utf-8").splitlines()]
        test = [json.loads(line) for line in
                dataset_path("banking77/test.jsonl").read_text(encoding="utf-8").splitlines()]
    except DatasetMissing as exc:
        print(json.dumps({"skipped": str(exc)}))
        return 0
    feedback, calibration = split_valid(valid, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        system = System.load(spec_copy(folder, calibration))
        import desk  # the copied spec's own module (System.load put its folder on sys.path)

        confident = float(desk.CONFIDENT)
        honest_db, wrong_db = folder / "honest" / "compound.db", folder / "wrong" / "compound.db"
        honest_db.parent.mkdir()
        wrong_db.parent.mkdir()
        with SQLiteStore(honest_db) as store:
            first = train(system, "intent", store=store)
            assert first.record is not None
            decision = ModelRegistry(store).promote("intent", first.record.version,
                                                    **spec_gate(system, "intent"))
            assert decision.promoted, decision.message
        shutil.copy(honest_db, wrong_db)  # the same starting point for the wrong-feedback run

        with SQLiteStore(honest_db) as store:
            gate_rows, final_rows = held_out_rows(store)
            version_before, before = production_accuracy(store, test)
            _, final_before = production_accuracy(store, test, final_rows)
            _, gate_before = production_accuracy(store, test, gate_rows)
            traffic = simulate(system, store, feedback, wrong=False, seed=args.seed,
                               confident=confident)
            report = improve(system, store)
            version_after, after = production_accuracy(store, test)
            _, final_after = production_accuracy(store, test, final_rows)
            _, gate_after = production_accuracy(store, test, gate_rows)
            assert held_out_rows(store) == (gate_rows, final_rows)  # the same cut
            again = improve(system, store).outcomes[0]
        honest = {
            "gain_on_rows_the_decision_never_read": round(final_after - final_before, 4),
            "final_rows": len(final_rows), "gate_rows": len(gate_rows),
            "final_accuracy_before": round(final_before, 4),
            "final_accuracy_after": round(final_after, 4),
            "gate_gain": round(gate_after - gate_before, 4),
            "gate_accuracy_before": round(gate_before, 4),
            "gate_accuracy_after": round(gate_after, 4),
            "test_accuracy_before": round(before, 4), "test_accuracy_after": round(after, 4),
            "gain_all_test_rows": round(after - before, 4),
            "production_version_before": version_before,
            "production_version_after": version_after,
            "corrections": traffic["user_corrections"] + traffic["review_corrections"],
            "promoted": report.outcomes[0].status == "promoted",
            "traffic": traffic, **outcome_facts(report),
            "improve_again": {"status": again.status, "message": again.message},
        }

        with SQLiteStore(wrong_db) as store:
            wrong_before_version, wrong_before = production_accuracy(store, test)
            wrong_traffic = simulate(system, store, feedback, wrong=True, seed=args.seed,
                                     confident=confident)
            wrong_report = improve(system, store)
            wrong_after_version, wrong_after = production_accuracy(store, test)
        wrong_facts = outcome_facts(wrong_report)
        spec_gate = [s for n, s in wrong_facts["checks"].items() if "(improve)" not in n
                     and n != "same test rows"]
        wrong = {
            "corrections": wrong_traffic["user_corrections"],
            "promoted": wrong_report.outcomes[0].status == "promoted",
            "test_accuracy_production_before": round(wrong_before, 4),
            "test_accuracy_production_after": round(wrong_after, 4),
            "production_version_before": wrong_before_version,
            "production_version_after": wrong_after_version,
            "spec_criteria_alone_would_pass": all(s == "pass" for s in spec_gate),
            "traffic": wrong_traffic, **wrong_facts,
        }
    result = {
        "benchmark": "flywheel: corrections -> compound improve (support_desk intent model)",
        "protocol": {
            "train": "examples/support_desk/data/banking77/train.jsonl (8,622 rows)",
            "test": f"banking77/test.jsonl ({len(test):,} rows)",
            "valid_split": f"stratified halves (seed {args.seed}): {len(feedback):,} rows sent "
                           f"as user traffic, {len(calibration):,} rows as the "
                           "calibration_dataset of both production and candidate; the two "
                           "are disjoint, and corrections only ever join the training rows",
            "traffic_path": "each request is a real checkpointed, traced run of workflow "
                            "'answer' holding only its 'classify' step (screen, retrieval and "
                            "the LLM left out for speed; improve reads the run input and the "
                            "classify checkpoint, which are the same either way)",
            "feedback_path": "confident wrong answers: a 'correction' signal with the true "
                             f"intent via FeedbackLog; confidence < {confident}: the "
                             "'support_desk' review queue, resolved by a simulated reviewer "
                             "(approve if right, correct if wrong)",
            "accuracy_measured": "independently: the production version after each step, "
                                 "predicting the whole test split; split into the gate rows "
                                 "(which the promotion read) and the final rows (which it "
                                 "never read), as training cut them (split.final)",
            "gain_reported": "gain_on_rows_the_decision_never_read: accuracy on the final "
                             "rows, after minus before",
        },
        "honest_feedback": honest,
        "wrong_feedback": wrong,
        "acceptance": {
            "accuracy_higher_on_unread_rows_after_improve": final_after > final_before,
            "worse_candidate_not_promoted": (not wrong["promoted"]
                                             and wrong_after_version == wrong_before_version),
        },
        "seconds": round(time.perf_counter() - began, 1),
        "python": sys.version.split()[0],
    }
    print(json.dumps(result, indent=2))
    return 0 if all(result["acceptance"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
