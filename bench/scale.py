"""Scale: store throughput (``store``, the default) and evaluation on Ray (``eval``). Prints
JSON.

``store``: SQLite and PostgreSQL side by side in one run. For each store, with 1 and with 4
concurrent clients (separate processes, each with its own store object, as several `compound
serve` processes would be), for ``--seconds`` each:

* ``single_row_writes_per_s``: one ``append`` per commit, all clients to one stream (the
  feedback stream's shape: the worst case for PostgreSQL, whose appends to one stream take
  that stream's lock in turn);
* ``batched_writes_per_s``: rows per second when each commit holds ``--batch`` appends;
* ``reads_per_s``: ``get`` of a random document among 10,000.

SQLite runs on a temporary file with the store's defaults (WAL, ``synchronous=NORMAL``: a
commit reaches the operating system, not the disk); PostgreSQL on the server of
``--pg-url`` (default ``$COMPOUND_TEST_PG_URL``, else compound/compound@127.0.0.1:5432/
compound_test), in a fresh schema dropped afterwards, with the server's own settings
(reported: ``synchronous_commit`` on flushes the write-ahead log at each commit;
``--async-commit`` adds a run with it off, which like SQLite's NORMAL survives the writer's
death but not the machine's). The load
average before and after is reported: on a shared machine the figures move with it.

``eval``: one eval (``--rows`` questions, exact match and token F1) over a scripted model
with a fixed latency, so the figures measure compound and not the CPU, run by the local
runner one row at a time (``concurrency: 1``) and by ``--actors`` Ray actors (each one row at
a time too), with the output cache off so both compute every row:

* at ``--latency-ms`` (100): rows per second of each, the speedup, and whether every metric
  value (and interval) is identical;
* at zero latency: seconds per row of each, and the Ray path's overhead per row (Ray's
  seconds per row minus the local runner's).

Ray's time is given whole (starting the actors, each planning the eval and building the
system) and for the rows alone (once every actor is ready); the local Ray cluster's own start
is reported apart.

Usage:
    python bench/scale.py [store] [--seconds 3] [--batch 100] [--pg-url URL] [--async-commit]
    python bench/scale.py eval [--rows 200] [--actors 8] [--latency-ms 100]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

DEFAULT_PG_URL = "postgresql://compound:compound@127.0.0.1:5432/compound_test"
DOCUMENTS = 10_000
PAYLOAD = {"run_id": "r-0123456789abcdef", "kind": "comment", "workflow": "answer",
           "value": "the answer cited the wrong policy section; it should be 4.2", "ts": 0.0}


def open_store(kind: str, where: str) -> Any:
    if kind == "sqlite":
        from compound.store import SQLiteStore

        return SQLiteStore(where)
    from compound.store.postgres import PostgresStore

    return PostgresStore(where, pool_size=1)


def client(kind: str, where: str, op: str, batch: int, seconds: float, worker: int,
           ready: Any, go: Any, results: Any) -> None:
    store = open_store(kind, where)
    rng = random.Random(worker)
    ready.release()
    go.wait()
    done = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        if op == "single":
            store.append("events", PAYLOAD)
            done += 1
        elif op == "batched":
            with store.transaction():
                for _ in range(batch):
                    store.append("events", PAYLOAD)
            done += batch
        else:
            assert store.get("docs", f"d{rng.randrange(DOCUMENTS)}") is not None
            done += 1
    results.put(done)
    store.close()


def measure(kind: str, where: str, op: str, clients: int, batch: int,
            seconds: float) -> float:
    """Operations (rows for writes) per second of ``clients`` processes together."""
    context = multiprocessing.get_context("fork")
    ready, go, results = context.Semaphore(0), context.Event(), context.Queue()
    workers = [context.Process(target=client, args=(kind, where, op, batch, seconds, n,
                                                    ready, go, results))
               for n in range(clients)]
    for worker in workers:
        worker.start()
    for _ in workers:
        ready.acquire()  # every client has opened its store: time only the work
    started = time.perf_counter()
    go.set()
    total = sum(results.get(timeout=seconds + 60) for _ in workers)
    elapsed = time.perf_counter() - started
    for worker in workers:
        worker.join(timeout=30)
    return round(total / elapsed, 1)


def bench_store(kind: str, where: str, batch: int, seconds: float) -> dict[str, Any]:
    store = open_store(kind, where)
    with store.transaction():
        for n in range(DOCUMENTS):
            store.put("docs", f"d{n}", {**PAYLOAD, "n": n})
    store.close()
    figures: dict[str, Any] = {}
    for name, op in (("single_row_writes_per_s", "single"),
                     ("batched_writes_per_s", "batched"), ("reads_per_s", "reads")):
        figures[name] = {f"{clients}_clients": measure(kind, where, op, clients, batch,
                                                       seconds)
                         for clients in (1, 4)}
    return figures


EVAL_SPEC = """
name: scale_bench
loop: interaction
task: Name capitals.
models:
  llm: {provider: scripted, options: {replies: ["Paris"], delay_s: DELAY}}
evals:
  capitals:
    concurrency: 1
    dataset: {path: qa.jsonl, inputs: [question], expected: answer}
    target: {model: llm, prompt: "Capital of {question}"}
    metrics: [exact_match, token_f1]
"""


def eval_folder(root: Path, rows: int, latency_s: float) -> Path:
    folder = root / f"latency_{int(latency_s * 1000)}ms"
    folder.mkdir()
    lines = [json.dumps({"id": f"q{i}", "question": f"country {i}?",
                         "answer": "Paris" if i % 3 == 0 else f"City {i}"})
             for i in range(rows)]
    (folder / "qa.jsonl").write_text("\n".join(lines) + "\n")
    (folder / "compound.yaml").write_text(EVAL_SPEC.replace("DELAY", str(latency_s)))
    return folder


def run_eval(folder: Path, actors: int | None) -> tuple[dict[str, Any], list[Any]]:
    """One fresh, uncached run: its seconds (whole, and rows only for Ray) and metrics."""
    from compound.evaluation.plan import plan_eval
    from compound.evaluation.runner import EvalRunner
    from compound.scale.eval import RayRows
    from compound.store import open_store
    from compound.system import System

    system = System.load(folder)
    store = open_store(system)
    plan = plan_eval(system, "capitals", store=store, use_cache=False)
    rows = None if actors is None else RayRows(folder, actors=actors, use_cache=False)
    started = time.perf_counter()
    run = EvalRunner(store, progress=False, rows=rows).run(plan, resume=False)
    seconds = time.perf_counter() - started
    store.close()
    n = run.counts["total"]
    timing: dict[str, Any] = {"seconds": round(seconds, 3), "rows_per_s": round(n / seconds, 2)}
    if rows is not None:
        timing["actors_ready_seconds"] = round(rows.load_seconds, 3)
        rows_only = seconds - rows.load_seconds
        timing["rows_seconds"] = round(rows_only, 3)
        timing["rows_only_per_s"] = round(n / rows_only, 2)
    assert run.counts["ok"] == n, run.counts
    metrics = [(m.name, m.value, m.low, m.high, m.n) for m in run.metrics]
    return timing, metrics


def bench_eval(rows: int, actors: int, latency_ms: float) -> dict[str, Any]:
    from compound.scale.cluster import RayCluster

    report: dict[str, Any] = {"rows": rows, "actors": actors, "latency_ms": latency_ms,
                              "cpus": os.cpu_count(), "load_before": os.getloadavg()}
    with tempfile.TemporaryDirectory() as folder:
        os.environ["COMPOUND_HOME"] = folder  # the store of both runs, and of the actors
        slow = eval_folder(Path(folder), rows, latency_ms / 1000)
        fast = eval_folder(Path(folder), rows, 0.0)
        local_slow, local_metrics = run_eval(slow, None)
        local_fast, _ = run_eval(fast, None)
        started = time.perf_counter()
        with RayCluster("ray", cpus=actors):
            report["ray_start_seconds"] = round(time.perf_counter() - started, 3)
            ray_slow, ray_metrics = run_eval(slow, actors)
            ray_fast, _ = run_eval(fast, actors)
    report["fixed_latency"] = {
        "local_sequential": local_slow, f"ray_{actors}_actors": ray_slow,
        "speedup": round(local_slow["seconds"] / ray_slow["seconds"], 2),
        "speedup_rows_only": round(local_slow["seconds"] / ray_slow["rows_seconds"], 2),
        "identical_metrics": ray_metrics == local_metrics,
        "metrics": {name: value for name, value, *_ in local_metrics},
    }
    local_per_row = local_fast["seconds"] / rows
    ray_per_row = ray_fast["rows_seconds"] / rows
    report["zero_latency"] = {
        "local_sequential": local_fast, f"ray_{actors}_actors": ray_fast,
        "local_ms_per_row": round(local_per_row * 1000, 3),
        "ray_ms_per_row": round(ray_per_row * 1000, 3),
        "ray_overhead_ms_per_row": round((ray_per_row - local_per_row) * 1000, 3),
    }
    report["load_after"] = os.getloadavg()
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("section", nargs="?", choices=("store", "eval"), default="store")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--pg-url", default=os.environ.get("COMPOUND_TEST_PG_URL",
                                                           DEFAULT_PG_URL))
    parser.add_argument("--async-commit", action="store_true",
                        help="also PostgreSQL with synchronous_commit=off for these sessions "
                             "(no flush at each commit: closer to SQLite's NORMAL)")
    parser.add_argument("--rows", type=int, default=200, help="eval: questions")
    parser.add_argument("--actors", type=int, default=8, help="eval: Ray actors")
    parser.add_argument("--latency-ms", type=float, default=100.0,
                        help="eval: the scripted model's fixed latency")
    args = parser.parse_args()
    if args.section == "eval":
        print(json.dumps(bench_eval(args.rows, args.actors, args.latency_ms), indent=1))
        return 0

    import psycopg

    report: dict[str, Any] = {"seconds_per_figure": args.seconds, "batch": args.batch,
                              "cpus": os.cpu_count(), "load_before": os.getloadavg()}
    with tempfile.TemporaryDirectory() as folder:
        report["sqlite"] = {"settings": {"journal_mode": "wal", "synchronous": "normal"},
                            **bench_store("sqlite", str(Path(folder) / "c.db"), args.batch,
                                          args.seconds)}
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.pg_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        settings = {name: conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
                    for name in ("server_version", "synchronous_commit", "fsync")}
    separator = "&" if "?" in args.pg_url else "?"
    url = f"{args.pg_url}{separator}options={quote(f'-csearch_path={schema}')}"
    try:
        report["postgres"] = {"settings": settings,
                              **bench_store("postgres", url, args.batch, args.seconds)}
        if args.async_commit:
            async_url = url + quote(" -csynchronous_commit=off")
            report["postgres_synchronous_commit_off"] = {
                "settings": {**settings, "synchronous_commit": "off"},
                **bench_store("postgres", async_url, args.batch, args.seconds)}
    finally:
        with psycopg.connect(args.pg_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
    report["load_after"] = os.getloadavg()
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
