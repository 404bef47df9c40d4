"""Scale: the store (SQLite and PostgreSQL side by side), serving (one process and Ray Serve
replicas side by side) or evaluation on Ray, in one run each. Prints JSON.

``store`` (the default section): for each store, with 1 and with 4 concurrent clients
(separate processes, each with its own store object, as several `compound serve` processes
would be), for ``--seconds`` each:

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

``serve``: `compound serve` in one process, then `compound serve --on ray --replicas 2`, each
over the same PostgreSQL database (a fresh schema), serving one workflow whose step is a
scripted zero-latency predictor, so that the figures measure serving (HTTP, auth, the
workflow runtime, run records and traces in PostgreSQL), not a model. Both are driven by
bench/serve_load.py's client (a second process, asyncio, keep-alive connections) at
``--clients`` (8) concurrent clients, up to ``--requests`` requests or ``--seconds`` each:
requests/s, p50 and p99 of the workflow, then the same for feedback signals, whose
acknowledged (201) count is compared with the records written to the store. The Ray
figures include Ray Serve's proxy hop; on a machine with fewer cores than replicas plus
proxy they measure contention as much as scale. The load average is reported before each
server and after the run.

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
    python bench/scale.py serve [--clients 8] [--requests 3000] [--seconds 20] [--pg-url URL]
    python bench/scale.py eval [--rows 200] [--actors 8] [--latency-ms 100]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
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


# -- serving: one process and Ray Serve replicas -------------------------------------------


def serve_app() -> Any:
    """The app both servers run (each replica imports it): one workflow, ``classify``, one
    scripted predictor step; the store of $COMPOUND_STORE_URL; no rate limit (the bench
    drives far past a per-key production limit on purpose)."""
    from dataclasses import make_dataclass

    from compound.intelligence.ml import ScriptedPredictor
    from compound.production.serving import create_app
    from compound.production.serving_spec import ServeSpec
    from compound.store import open_store
    from compound.workflow import Step, Workflow

    query = make_dataclass("Query", [("text", str)], frozen=True)
    predictor = ScriptedPredictor(lambda e: "card_arrival" if "card" in str(e) else "other",
                                  name="intent")
    flow = Workflow([Step(predictor, name="intent", inputs={"example": "input.text"})],
                    name="classify", input=query)
    return create_app({"classify": flow}, store=open_store(), spec=ServeSpec(rate_limit=None),
                      name="scale-bench")


def _start_server(extra: list[str], url: str, port: int, log: Path,
                  timeout_s: float) -> subprocess.Popen[bytes]:
    """`compound serve bench.scale:serve_app` with ``extra`` options, once it is ready: its
    /readyz answers 200 and it printed that it serves (Ray: every replica warm)."""
    import httpx

    paths = [str(ROOT), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "COMPOUND_STORE_URL": url,
           "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "compound", "serve", "bench.scale:serve_app", "--port",
             str(port), *extra], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited: {log.read_text()[-2000:]}")
        announced = any(line.startswith("serving ") for line in
                        log.read_text(errors="replace").splitlines())
        try:
            ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            ready = False
        if announced and ready:
            return server
        time.sleep(0.5)
    _stop_server(server)
    raise SystemExit(f"the server was not ready in {timeout_s}s: {log.read_text()[-2000:]}")


def _stop_server(server: subprocess.Popen[bytes]) -> None:
    server.send_signal(signal.SIGINT)  # Ctrl-C: Ray removes its replicas and stops
    try:
        server.wait(timeout=90)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=10)


def bench_server(name: str, extra: list[str], url: str, key: str, clients: int,
                 requests: int, seconds: float) -> dict[str, Any]:
    import httpx

    sys.path.insert(0, str(ROOT))
    from bench.serve_load import _free_port, _run_driver

    from compound.store.postgres import PostgresStore

    port = _free_port()
    load_before = [round(x, 2) for x in os.getloadavg()]
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as folder:
        server = _start_server(extra, url, port, Path(folder) / "server.log", timeout_s=300)
        startup_s = round(time.monotonic() - started, 1)
        try:
            path, body = "/v1/workflows/classify", {"text": "when will my card arrive?"}
            _run_driver(port, key, path, body, clients, 2.0, 2000)  # warm-up, not reported
            workflow = _run_driver(port, key, path, body, clients, seconds, requests)
            run_id = httpx.post(f"http://127.0.0.1:{port}{path}", json=body, timeout=30,
                                headers={"Authorization": f"Bearer {key}"}).json()["run_id"]
            store = PostgresStore(url, pool_size=1)
            before = sum(1 for _ in store.read("feedback"))
            feedback = _run_driver(port, key, "/v1/feedback",
                                   {"run_id": run_id, "kind": "thumbs", "value": "up"},
                                   clients, seconds, requests)
            written = sum(1 for _ in store.read("feedback")) - before
            store.close()
        finally:
            _stop_server(server)
    acknowledged = feedback["statuses"].get("201", 0)
    return {"server": name, "startup_s": startup_s, "load_average_before": load_before,
            "workflow": workflow,
            "feedback": {**feedback, "acknowledged": acknowledged, "written": written,
                         "equal": acknowledged == written}}


def bench_serving(url: str, clients: int, requests: int, seconds: float) -> dict[str, Any]:
    from compound.production.serving.keys import ApiKeys
    from compound.store.postgres import PostgresStore

    store = PostgresStore(url, pool_size=1)
    key, _ = ApiKeys(store).create("bench", scope="write")
    store.close()
    single = bench_server("compound serve (uvicorn, 1 process)", [], url, key, clients,
                          requests, seconds)
    ray = bench_server("compound serve --on ray --replicas 2 (Ray Serve)",
                       ["--on", "ray", "--replicas", "2"], url, key, clients, requests,
                       seconds)

    def ratio(part: str, figure: str) -> float:
        return round(ray[part][figure] / single[part][figure], 3)

    return {"single_process": single, "ray_2_replicas": ray,
            "ray_over_single": {"workflow_requests_per_s": ratio("workflow", "requests_per_s"),
                                "workflow_p99": ratio("workflow", "p99_ms"),
                                "feedback_requests_per_s": ratio("feedback", "requests_per_s"),
                                "feedback_p99": ratio("feedback", "p99_ms")}}


# -- evaluation on Ray ---------------------------------------------------------------------


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


# -- the run ----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("section", nargs="?", choices=("store", "serve", "eval"),
                        default="store",
                        help="store: SQLite and PostgreSQL throughput; serve: one process "
                             "and Ray Serve replicas; eval: the local runner and Ray actors")
    parser.add_argument("--seconds", type=float, default=None,
                        help="time per figure (store: 3; serve: 20, a bound beside "
                             "--requests)")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--clients", type=int, default=8, help="serve: concurrent clients")
    parser.add_argument("--requests", type=int, default=3000,
                        help="serve: most requests per figure")
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

    if args.section == "serve":
        seconds = args.seconds or 20.0
        report = {"section": "serve", "clients": args.clients, "max_requests": args.requests,
                  "max_seconds": seconds, "cpus": os.cpu_count(),
                  "workflow": "classify: one step, ScriptedPredictor (zero latency)",
                  "auth": "API key", "load_before": os.getloadavg()}
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(args.pg_url, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
            report["store"] = "PostgreSQL " + str(conn.execute(  # type: ignore[index]
                "SHOW server_version").fetchone()[0]) + ", a fresh schema"
        separator = "&" if "?" in args.pg_url else "?"
        url = f"{args.pg_url}{separator}options={quote(f'-csearch_path={schema}')}"
        try:
            report.update(bench_serving(url, args.clients, args.requests, seconds))
        finally:
            with psycopg.connect(args.pg_url, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")
        report["load_after"] = os.getloadavg()
        print(json.dumps(report, indent=1))
        return 0
    args.seconds = args.seconds or 3.0

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
