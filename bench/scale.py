"""Store throughput, SQLite and PostgreSQL side by side in one run. Prints JSON.

For each store, with 1 and with 4 concurrent clients (separate processes, each with its own
store object, as several `compound serve` processes would be), for ``--seconds`` each:

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

Usage:
    python bench/scale.py [--seconds 3] [--batch 100] [--pg-url URL] [--async-commit]
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--pg-url", default=os.environ.get("COMPOUND_TEST_PG_URL",
                                                           DEFAULT_PG_URL))
    parser.add_argument("--async-commit", action="store_true",
                        help="also PostgreSQL with synchronous_commit=off for these sessions "
                             "(no flush at each commit: closer to SQLite's NORMAL)")
    args = parser.parse_args()

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
