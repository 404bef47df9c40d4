"""Critique and revise on the support desk: groundedness and key-point coverage with and without
the built-in ``critique`` step, in one run. Prints JSON.

A copy of ``examples/support_desk`` is made in a temporary folder (the shipped example is not
changed) with a second workflow, ``answer_critiqued``: the ``answer`` workflow with a
``critique`` step between ``draft`` and ``reply``, so that one run of it gives both answers for
the same question, the draft (what ``answer`` replies) and the critiqued text (what
``answer_critiqued`` replies). Questions come from the support desk's grounded QA set,
``examples/support_desk/data/qa/questions.jsonl``; the intent model is trained and the help
articles indexed in the copy's own store first (``build_missing``, as ``compound up`` does).

Per condition, over the questions answered (the others went to review, as in ``answer``):

* ``groundedness``: the metric of that name, against the retrieved passages (as the
  ``answers`` eval scores it);
* ``key_points``: the metric of that name, against the row's ``key_points``;
* ``words``: the answer's length; ``model_calls`` and ``seconds`` per question (without: the
  run less the critique step; with: the whole run).

Usage:
    python bench/critique.py [--limit 30] [--rounds 2]

``--limit N`` takes N questions spread evenly over the file (it is ordered by article), so a
subset still covers the articles. The embedded model answers; on a loaded 2-core machine a
question takes tens of seconds.
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
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DESK = ROOT / "examples" / "support_desk"
QUESTIONS = DESK / "data" / "qa" / "questions.jsonl"
PRINCIPLES = [
    "Every fact in the answer is stated in the sources.",
    "The answer replies to the customer's question directly.",
    "The answer tells the customer what to do, when the sources say what to do.",
    "The answer is one or two sentences long.",
]


def pick(rows: list[dict[str, Any]], limit: int | None) -> list[dict[str, Any]]:
    if not limit or limit >= len(rows):
        return rows
    step = len(rows) / limit
    return [rows[int(i * step)] for i in range(limit)]


def desk_copy(folder: Path, rounds: int) -> Path:
    """The support desk in ``folder``, with the ``answer_critiqued`` workflow added."""
    shutil.copytree(DESK, folder, ignore=shutil.ignore_patterns(".compound", "__pycache__"))
    spec = yaml.safe_load((DESK / "compound.yaml").read_text(encoding="utf-8"))
    steps = [dict(s) for s in spec["workflows"]["answer"]["steps"]]
    reply = next(s for s in steps if s["name"] == "reply")
    reply["needs"] = ["screen", "classify", "prompt", "critique"]
    reply["inputs"] = {"question": "input.question", "draft": "critique"}
    at = next(i for i, s in enumerate(steps) if s["name"] == "draft") + 1
    steps.insert(at, {
        "name": "critique", "uses": "critique", "needs": ["draft", "prompt"],
        "inputs": {"draft": "draft", "question": "input.question", "passages": "prompt"},
        "options": {"llm": "llm", "principles": PRINCIPLES, "max_rounds": rounds},
    })
    spec["workflows"]["answer_critiqued"] = {"input": {"question": "str"}, "steps": steps}
    spec.pop("serve", None)
    path = folder / "compound.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def summary(rows: list[dict[str, Any]], key: str) -> dict[str, Any]:
    def mean(field: str) -> float | None:
        values = [r[key][field] for r in rows if r[key][field] is not None]
        return round(statistics.fmean(values), 4) if values else None

    return {"groundedness": mean("groundedness"), "key_points": mean("key_points"),
            "words": mean("words"), "model_calls": mean("calls"), "seconds": mean("seconds")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="questions, spread evenly")
    parser.add_argument("--rounds", type=int, default=2, help="the critique step's max_rounds")
    parser.add_argument("--rows", type=Path, default=None, help="write each question's row here")
    args = parser.parse_args()

    from compound.lifecycle.up import build_missing
    from compound.metrics.grounding import groundedness
    from compound.metrics.text import key_points
    from compound.store import open_store
    from compound.system import System
    from compound.workflow import build_workflow
    from compound.workflow.runs import start
    from compound.workflow.warmup import warm_up

    rows = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines()
            if line.strip()]
    chosen = pick(rows, args.limit)
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="critique-bench-") as tmp:
        os.environ["COMPOUND_HOME"] = str(Path(tmp) / "home")
        system = System.load(desk_copy(Path(tmp) / "desk", args.rounds))
        with open_store(system) as store:
            started = time.perf_counter()
            build_missing(system, store)
            build_s = time.perf_counter() - started
            flow = build_workflow(system, "answer_critiqued")
            warm_up(flow)
            results: list[dict[str, Any]] = []
            out = args.rows.open("w", encoding="utf-8") if args.rows else None
            for row in chosen:
                result = start(flow, {"question": row["question"]}, store=store)
                draft, critiqued = result.outputs.get("draft"), result.outputs.get("critique")
                seconds = result.step_seconds
                contexts = [h.text for h in getattr(result.outputs.get("retrieve"), "hits", ())]
                record: dict[str, Any] = {"id": row["id"], "article": row["article"],
                                          "answered": draft is not None and bool(draft.text)}
                if record["answered"]:
                    extra = seconds.get("critique", 0.0)
                    for key, text, calls, spent in (
                            ("without", draft.text, 1, result.duration_s - extra),
                            ("with", critiqued.text if critiqued else draft.text,
                             1 + (critiqued.calls if critiqued else 0), result.duration_s)):
                        record[key] = {
                            "text": text, "words": len(text.split()), "calls": calls,
                            "seconds": round(spent, 3),
                            "groundedness": groundedness(text, contexts).value,
                            "key_points": key_points(text, row["key_points"]).value,
                        }
                    record["revised"] = bool(critiqued and critiqued.revised)
                    record["rounds"] = critiqued.rounds if critiqued else 0
                    record["critiques"] = [
                        {"ok": c.ok, "problems": list(c.problems), "note": c.note,
                         "critique": c.critique[:300]}
                        for c in (critiqued.critiques if critiqued else ())]
                results.append(record)
                if out is not None:
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
                    out.flush()
                print(f"{len(results)}/{len(chosen)} {row['id']} answered={record['answered']} "
                      f"revised={record.get('revised')}", file=sys.stderr, flush=True)
            if out is not None:
                out.close()
    answered = [r for r in results if r["answered"]]
    report = {
        "questions": len(chosen), "of": len(rows), "answered": len(answered),
        "to_review": len(chosen) - len(answered),
        "articles": len({r["article"] for r in chosen}),
        "max_rounds": args.rounds, "principles": PRINCIPLES,
        "without_critique": summary(answered, "without"),
        "with_critique": summary(answered, "with"),
        "revised": sum(r["revised"] for r in answered),
        "critique_unreadable": sum(any(c["ok"] is None for c in r["critiques"])
                                   for r in answered),
        "rounds_mean": round(statistics.fmean(r["rounds"] for r in answered), 3)
        if answered else None,
        "build_s": round(build_s, 1),
        "loadavg_start": [round(x, 2) for x in load_start],
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
