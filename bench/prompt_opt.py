"""The LLM flywheel measured: compound's prompt optimiser against the starting prompt and
against DSPy's BootstrapFewShot, with the same embedded model, rows, budget and metric.

Two tasks, each a one-step workflow (``qa.answer``: template ``{request}``) whose eval is the
task's rows:

* **desk**: the support desk's grounded QA set (``examples/support_desk/data/qa``), each
  question with the prompt the desk's ``draft`` step sends (its system message and the
  passages it retrieves and composes; built by bench/llm_quality.py's ``desk_items``);
* **hotpotqa**: HotpotQA dev questions with their two gold paragraphs
  (``hotpotqa/dev500.jsonl`` under the shared datasets; skipped, saying so, when absent),
  the research agent's answer prompt.

Rows: the first ``--train`` are the pool (their reference answers stand in for accepted
answers: ``compound improve`` reads those from signals), the next ``--dev`` + ``--gate`` are
the eval, which the optimiser cuts into dev rows (choose) and gate rows (held out: decide, and
measure here). The metric is ``token_f1`` against the reference, for every side.

* **before**: the starting prompt (the spec's) on the gate rows;
* **after**: the production prompt after ``optimise_prompt`` on the gate rows (the starting
  prompt again when the gate promoted nothing), with the paired bootstrap interval of the
  change;
* **dspy**: ``dspy.Predict("request -> answer")`` with the same system text, compiled by
  BootstrapFewShot on the same pool rows, answering the same gate rows, through llama.cpp's
  OpenAI-compatible server (``compound serve-model``) running the same GGUF with the same
  threads; its calls are counted by a proxy in front of the server (which also passes
  LiteLLM's ``max_completion_tokens`` on as ``max_tokens``, the name llama.cpp's server
  reads). Its answers are scored by compound's metric.

The optimiser's budget is ``(candidates + 1) x dev + 2 x gate`` model calls; DSPy's calls are
held to the same number by the proxy (calls past it are refused with 429); its compile makes
one call per pool row at most, plus any adapter retry, then one per gate row.

Usage:
    python bench/prompt_opt.py [--tasks desk,hotpotqa] [--model NAME] [--train 12] [--dev 8]
        [--gate 16] [--candidates 4] [--peers-python PATH] [--no-dspy]
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "examples" / "research_agent"))
PEERS_PYTHON = HERE / ".peers-venv" / "bin" / "python"
PROMPT = "qa.answer"
MAX_TOKENS = {"desk": 80, "hotpotqa": 24}


def note(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# -- the tasks' rows --------------------------------------------------------------------------


def desk_rows(count: int, passages: int | None) -> tuple[str, list[dict[str, Any]]]:
    """``count`` grounded-QA rows spread over the set: the desk's system message, and each
    row's request (the prompt its draft step sends) and reference answer."""
    import llm_quality

    chosen = llm_quality.pick(llm_quality.read_jsonl(llm_quality.QUESTIONS), count)
    items = llm_quality.desk_items(chosen, note, passages)
    return items[0].system, [{"id": i.id, "request": i.user, "answer": i.expected}
                             for i in items]


def hotpot_rows(count: int) -> tuple[str, list[dict[str, Any]]] | str:
    """The first ``count`` HotpotQA dev questions with their gold paragraphs, or why not."""
    import research

    from compound.errors import UserError

    try:
        questions = research.hotpot_questions(count)
    except (UserError, FileNotFoundError, OSError) as exc:
        return (f"skipped: dataset 'hotpotqa' ({research.HOTPOT}) not found ({exc}); "
                "'compound datasets fetch hotpotqa' or set COMPOUND_DATA")
    rows = []
    for q in questions:
        gold = "\n".join(f"{c['title']}: {c['text']}" for c in q["contexts"] if c["supporting"])
        rows.append({"id": q["id"], "request": research.ANSWER_PROMPT.format(
            passages=gold, question=q["question"]), "answer": q["answers"][0]})
    return research.ANSWER_SYSTEM, rows


# -- compound ---------------------------------------------------------------------------------


def write_system(folder: Path, task: str, system_text: str, rows: list[dict[str, Any]],
                 model: str | None, threads: int) -> Path:
    options: dict[str, Any] = {"n_threads": threads, "n_ctx": 4096}
    if model:
        options["model"] = model
    spec = {
        "name": f"prompt-opt-{task}", "loop": "interaction",
        "task": "Answer the request from the passages it gives.",
        "store": {"path": "store.db"},
        "criteria": {"token_f1": {"threshold": 0.0, "tolerance": 0.0}},
        "models": {"llm": {"kind": "llm", "provider": "embedded", "options": options,
                           "generation": {"max_tokens": MAX_TOKENS[task],
                                          "temperature": 0.0}}},
        "workflows": {"qa": {"input": {"request": "str"}, "steps": [
            {"name": "answer", "uses": "llm", "inputs": {"request": "input.request"},
             "options": {"template": "{request}", "system": system_text}}]}},
        "evals": {"heldout": {"dataset": {"path": "eval.jsonl", "inputs": ["request"],
                                          "expected": "answer"},
                              "target": {"workflow": "qa"}, "metrics": ["token_f1"],
                              "concurrency": 1}},
    }
    (folder / "compound.yaml").write_text(yaml.safe_dump(spec, sort_keys=False),
                                          encoding="utf-8")
    (folder / "eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows),
                                       encoding="utf-8")
    return folder / "compound.yaml"


def gate_scores(system: Any, store: Any, version: Any, gate_ids: list[str]
                ) -> dict[str, float]:
    """Per-row token F1 of ``version`` on the gate rows (answers the optimiser's calls left in
    the eval cache are reused)."""
    import dataclasses

    from compound.evaluation.plan import plan_eval
    from compound.evaluation.results import RunRepository
    from compound.evaluation.runner import EvalRunner

    plan = plan_eval(system, "heldout", store=store, prompts={version.name: version})
    wanted = set(gate_ids)
    plan = dataclasses.replace(plan, name="heldout.bench",
                               examples=[e for e in plan.examples if e.id in wanted])
    run = EvalRunner(store).run(plan, resume=False)
    rows = RunRepository(store).rows(run.id)
    return {r.id: float(r.scores.get("token_f1") or 0.0) for r in rows}


def run_compound(task: str, folder: Path, system_text: str, pool: list[dict[str, Any]],
                 eval_rows: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    from compound.lifecycle.prompt_opt import optimise_prompt
    from compound.orchestration.prompts import PromptRegistry
    from compound.store import open_store
    from compound.system import System

    os.environ["COMPOUND_HOME"] = str(folder / "home")
    system = System.load(write_system(folder, task, system_text, eval_rows, args.model,
                                      args.threads))
    budget = (args.candidates + 1) * args.dev + 2 * args.gate
    started = time.perf_counter()
    load_start = load()
    with open_store(system) as store:
        from rich.console import Console

        outcome = optimise_prompt(
            system, store, PROMPT, pool=[{"input": r["request"], "output": r["answer"]}
                                         for r in pool],
            budget=budget, wanted=args.candidates, dev_share=args.dev / len(eval_rows),
            seed=args.seed, console=Console(file=sys.stderr, width=200))
        optimise_s = time.perf_counter() - started
        registry = PromptRegistry(store)
        start_version = registry.get(PROMPT, 1)
        final = registry.production(PROMPT)
        assert final is not None
        before = gate_scores(system, store, start_version, outcome.split["gate"])
        after = gate_scores(system, store, final, outcome.split["gate"])
    return {
        "status": outcome.status, "message": outcome.message,
        "budget": budget, "planned_calls": outcome.plan.calls if outcome.plan else None,
        "calls": outcome.calls,
        "dev": [{"version": t.label, "token_f1": _r(t.value)} for t in outcome.tried],
        "promoted_version": final.ref if final.version != 1 else None,
        "promoted_examples": len(final.examples), "promoted_instructions": final.instructions,
        "gate_before": before, "gate_after": after,
        "seconds": round(optimise_s, 1), "load_start": load_start, "load_end": load(),
    }


# -- DSPy -------------------------------------------------------------------------------------


class CountingProxy:
    """An HTTP proxy on 127.0.0.1 that forwards to ``upstream`` and counts model calls
    (POSTs to ``/v1/chat/completions`` or ``/v1/completions``), refusing (429) those past
    ``limit``: DSPy gets the same hard budget as compound's optimiser."""

    def __init__(self, upstream: str, *, limit: int) -> None:
        self.upstream = upstream.rstrip("/")
        self.calls = 0
        self.refused = 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self, body: bytes | None) -> None:
                request = urllib.request.Request(proxy.upstream + self.path, data=body,
                                                 method=self.command,
                                                 headers={"Content-Type": "application/json"})
                try:
                    with urllib.request.urlopen(request, timeout=600) as response:
                        status, data = response.status, response.read()
                except urllib.error.HTTPError as exc:
                    status, data = exc.code, exc.read()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._forward(None)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.endswith("/completions"):
                    if proxy.calls >= limit:  # the budget is spent: refuse, as compound does
                        proxy.refused += 1
                        data = b'{"error": {"message": "budget of model calls spent"}}'
                        self.send_response(429)
                        self.send_header("Content-Type", "application/json")
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data)
                        return
                    proxy.calls += 1
                    body = _max_tokens(body)
                self._forward(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()


def _max_tokens(body: bytes) -> bytes:
    """LiteLLM (under DSPy) sends OpenAI's newer ``max_completion_tokens``, which llama.cpp's
    server does not read (it would generate to the end of the context): send it as
    ``max_tokens`` too, so both sides stop at the same length."""
    try:
        data = json.loads(body)
    except ValueError:
        return body
    if isinstance(data, dict) and "max_completion_tokens" in data and "max_tokens" not in data:
        data["max_tokens"] = data["max_completion_tokens"]
        return json.dumps(data).encode()
    return body


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(model: str | None, threads: int) -> tuple[subprocess.Popen[bytes], str]:
    """``compound serve-model`` with the embedded model's GGUF, ready to answer."""
    port = free_port()
    command = [sys.executable, "-m", "compound", "serve-model", *([model] if model else []),
               "--port", str(port), "--threads", str(threads), "--n-ctx", "4096",
               "--alias", "bench"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"compound serve-model exited with {server.returncode}")
        try:
            with urllib.request.urlopen(url + "/v1/models", timeout=5):
                return server, url
        except (urllib.error.URLError, OSError):
            time.sleep(1)
    server.terminate()
    raise RuntimeError("compound serve-model did not answer in 180 s")


def run_dspy(task: str, system_text: str, pool: list[dict[str, Any]],
             heldout: list[dict[str, Any]], upstream: str, args: argparse.Namespace,
             budget: int) -> dict[str, Any]:
    proxy = CountingProxy(upstream, limit=budget)
    job = {"api_base": proxy.url + "/v1", "model": "bench", "system": system_text,
           "train": pool, "heldout": [{"id": r["id"], "request": r["request"]} for r in heldout],
           "max_demos": args.dspy_demos, "max_tokens": MAX_TOKENS[task]}
    load_start = load()
    started = time.perf_counter()
    try:
        done = subprocess.run([args.peers_python, str(HERE / "peers" / "dspy_prompt_opt.py")],
                              input=json.dumps(job), capture_output=True, text=True,
                              timeout=args.dspy_timeout,
                              env={**os.environ, "DSP_CACHEBOOL": "false",
                                   "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                                   "DSPY_CACHEDIR": tempfile.mkdtemp(prefix="dspy-cache-")})
    finally:
        proxy.close()
    if done.returncode != 0:
        return {"error": done.stderr[-1500:], "calls": proxy.calls, "budget": budget}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result.update({"calls": proxy.calls, "budget": budget, "refused_over_budget": proxy.refused,
                   "wall_s": round(time.perf_counter() - started, 1),
                   "load_start": load_start, "load_end": load()})
    return result


# -- the report -------------------------------------------------------------------------------


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def interval(values: list[float]) -> dict[str, Any]:
    from compound.evaluation.intervals import bootstrap

    value, low, high = bootstrap(values, seed=0)
    return {"mean": _r(value), "ci95": [_r(low), _r(high)], "n": len(values)}


def run_task(task: str, args: argparse.Namespace, upstream: str | None) -> dict[str, Any]:
    from compound.metrics.text import token_f1

    started = time.perf_counter()
    count = args.train + args.dev + args.gate
    if task == "desk":
        system_text, rows = desk_rows(count, args.passages)
    else:
        found = hotpot_rows(count)
        if isinstance(found, str):
            return {"skipped": found}
        system_text, rows = found
    if len(rows) < count:
        return {"skipped": f"{len(rows)} rows, fewer than the {count} asked for"}
    if task == "desk":  # spread over articles: a seeded shuffle, not the file's order
        import random

        random.Random(args.seed).shuffle(rows)
    pool, eval_rows = rows[:args.train], rows[args.train:]
    if args.keep is not None:  # the stores stay, to read the answers afterwards
        folder = args.keep / task
        folder.mkdir(parents=True, exist_ok=False)
        ours = run_compound(task, folder, system_text, pool, eval_rows, args)
    else:
        with tempfile.TemporaryDirectory(prefix=f"prompt-opt-{task}-") as tmp:
            ours = run_compound(task, Path(tmp), system_text, pool, eval_rows, args)
    gate_ids = list(ours["gate_before"])
    by_id = {r["id"]: r for r in eval_rows}
    before = [ours["gate_before"][i] for i in gate_ids]
    after = [ours["gate_after"][i] for i in gate_ids]
    report: dict[str, Any] = {
        "rows": {"pool": len(pool), "dev": args.dev, "gate (held out)": len(gate_ids)},
        "metric": "token_f1 (compound.metrics.text), mean over the gate rows",
        "before": interval(before), "after": interval(after),
        "after_minus_before": interval([a - b for a, b in zip(after, before, strict=True)]),
        "compound": {k: v for k, v in ours.items() if k not in ("gate_before", "gate_after")},
    }
    if upstream is not None:
        theirs = run_dspy(task, system_text,
                          [{"request": r["request"], "answer": r["answer"]} for r in pool],
                          [by_id[i] for i in gate_ids], upstream, args,
                          budget=ours["budget"])
        if "answers" in theirs:
            scored = [float(getattr(v := token_f1(theirs["answers"].get(i, ""),
                                                  by_id[i]["answer"]), "value", v) or 0.0)
                      for i in gate_ids]
            report["dspy"] = interval(scored)
            report["dspy_minus_before"] = interval(
                [d - b for d, b in zip(scored, before, strict=True)])
            theirs.pop("answers")
        report["dspy_run"] = theirs
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default="desk,hotpotqa")
    parser.add_argument("--model", default=None,
                        help="an embedded catalogue model (default: Gemma 3 270M)")
    parser.add_argument("--train", type=int, default=12, help="pool rows")
    parser.add_argument("--dev", type=int, default=8, help="dev rows (choose)")
    parser.add_argument("--gate", type=int, default=16, help="gate rows (held out)")
    parser.add_argument("--candidates", type=int, default=4)
    parser.add_argument("--passages", type=int, default=None,
                        help="the desk's passages kept per prompt (default: its own, up to 3)")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads of both servers of the model (1: on a busy 2-core "
                             "machine 2 threads contend with the other work)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dspy-demos", type=int, default=2)
    parser.add_argument("--dspy-timeout", type=int, default=1200)
    parser.add_argument("--peers-python", default=str(PEERS_PYTHON))
    parser.add_argument("--no-dspy", action="store_true")
    parser.add_argument("--keep", type=Path, default=None,
                        help="a new folder to keep each task's system and store in")
    args = parser.parse_args()
    started = time.perf_counter()
    report: dict[str, Any] = {"model": args.model or "gemma-3-270m (embedded default)",
                              "threads": args.threads, "cpus": os.cpu_count(),
                              "load_start": load(), "tasks": {}}
    server = None
    upstream = None
    if not args.no_dspy:
        if not Path(args.peers_python).exists():
            report["dspy"] = (f"skipped: no peers interpreter at {args.peers_python} (create "
                              "bench/.peers-venv from bench/requirements-peers.txt)")
        else:
            server, upstream = start_server(args.model, args.threads)
    try:
        for task in [t.strip() for t in args.tasks.split(",") if t.strip()]:
            note(f"task {task}")
            report["tasks"][task] = run_task(task, args, upstream)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["load_end"] = load()
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
