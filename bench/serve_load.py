"""Serving load benchmark: requests/s and latency of a one-step ML workflow over HTTP, and
feedback durability under load.

What it does:

1. starts ``compound serve bench.serve_load:bench_app`` on 127.0.0.1 (a real uvicorn server
   in its own process, API keys on, a fresh SQLite store) serving one workflow, ``classify``,
   whose one step is a scripted zero-latency predictor (:class:`ScriptedPredictor`: no
   model, so the figures measure the serving stack: HTTP, auth, validation, the workflow
   runtime, batching, run records and traces in SQLite, metrics);
2. drives it from a second process (this file with ``--drive``: an asyncio HTTP/1.1
   keep-alive client, each of C connections sending its next request when the previous one
   is answered) at 1, 8 and 32 concurrent clients, each level bounded in time and count;
3. sends feedback signals at 8 concurrent clients, then counts the records in the store:
   every acknowledged (201) signal must be there, and nothing unacknowledged;
4. when ``wrk`` is installed (Debian's ``wrk``), drives the workflow once more with it at 32
   connections, a cross-check of the Python driver's figures by a load generator in C;
5. prints one JSON object, with the machine's load average before the run (other work on
   the same two cores shows up in the tail latencies).

Run: ``.venv/bin/python bench/serve_load.py`` (about a minute). ``--seconds`` sets the time
per level, ``--max-requests`` the count bound.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LEVELS = (1, 8, 32)


# -- the served app (imported by the server process) ------------------------------------------


def _label(example: Any) -> str:
    text = example if isinstance(example, str) else str(example)
    return "card_arrival" if "card" in text else "other"


def bench_app() -> Any:
    """The app under test: one workflow, one scripted predictor step, auth on."""
    from dataclasses import make_dataclass

    from compound.intelligence.ml import ScriptedPredictor
    from compound.production.serving import create_app
    from compound.production.serving_spec import ServeSpec
    from compound.store import SQLiteStore
    from compound.workflow import Step, Workflow

    home = Path(os.environ["COMPOUND_HOME"])
    query = make_dataclass("Query", [("text", str)], frozen=True)
    flow = Workflow([Step(ScriptedPredictor(_label, name="intent"), name="intent",
                          inputs={"example": "input.text"})], name="classify", input=query)
    # the bench drives far past a per-key production rate limit on purpose
    spec = ServeSpec(rate_limit=None)
    return create_app({"classify": flow}, store=SQLiteStore(home / "compound.db"), spec=spec,
                      name="serve-load-bench")


# -- the load driver (a second process) -----------------------------------------------------


async def _client(port: int, request: bytes, deadline: float, budget: list[int],
                  latencies: list[float], statuses: dict[int, int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < deadline and budget[0] > 0:
            budget[0] -= 1
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


async def _drive(port: int, path: str, body: bytes, key: str, clients: int, seconds: float,
                 max_requests: int) -> dict[str, Any]:
    request = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
               f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    budget = [max_requests]
    start = time.perf_counter()
    deadline = start + seconds
    await asyncio.gather(*(_client(port, request, deadline, budget, latencies, statuses)
                           for _ in range(clients)))
    elapsed = time.perf_counter() - start
    latencies.sort()

    def pct(q: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 3)

    return {"clients": clients, "requests": len(latencies), "seconds": round(elapsed, 3),
            "requests_per_s": round(len(latencies) / elapsed, 1), "p50_ms": pct(0.50),
            "p99_ms": pct(0.99), "statuses": {str(k): v for k, v in sorted(statuses.items())}}


def drive_main(args: argparse.Namespace) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(_drive(args.port, args.path, args.body.encode(), args.key,
                                args.clients, args.seconds, args.max_requests))
    print(json.dumps(result))


# -- the orchestration ------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(port: int, server: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    import httpx

    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode} before it was ready")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the server was not ready within {timeout_s}s")


def _run_driver(port: int, key: str, path: str, body: dict[str, Any], clients: int,
                seconds: float, max_requests: int) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--drive", "--port", str(port),
               "--key", key, "--path", path, "--body", json.dumps(body), "--clients",
               str(clients), "--seconds", str(seconds), "--max-requests", str(max_requests)]
    out = subprocess.run(command, capture_output=True, text=True, check=True,
                         timeout=seconds + 120)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def _seconds(text: str) -> float:
    for unit, scale in (("us", 1e-6), ("ms", 1e-3), ("s", 1.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * scale
    raise ValueError(f"unknown duration {text!r}")


def _run_wrk(port: int, key: str, path: str, body: dict[str, Any], connections: int,
             seconds: float) -> dict[str, Any] | None:
    """The same load from wrk (a C load generator), when it is installed."""
    import shutil

    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    script = Path(tempfile.mkdtemp()) / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(json.dumps(body))}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {key}"\n')
    out = subprocess.run([wrk, "-t1", f"-c{connections}", f"-d{max(1, int(seconds))}s",
                          "--latency", "-s", str(script), f"http://127.0.0.1:{port}{path}"],
                         capture_output=True, text=True, timeout=seconds + 60, check=True)
    figures: dict[str, Any] = {"clients": connections, "tool": "wrk -t1 --latency"}
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in ("50%", "99%"):
            figures[f"p{parts[0][:-1]}_ms"] = round(_seconds(parts[1]) * 1000, 3)
        elif line.startswith("Requests/sec:"):
            figures["requests_per_s"] = float(parts[1])
        elif "Non-2xx or 3xx responses" in line:
            figures["non_2xx"] = int(parts[-1])
    return figures


def main(args: argparse.Namespace) -> None:
    import httpx

    from compound.production.serving.keys import ApiKeys
    from compound.store import SQLiteStore

    load_before = [round(x, 2) for x in os.getloadavg()]
    home = Path(tempfile.mkdtemp(prefix="compound-serve-bench-"))
    store = SQLiteStore(home / "compound.db")
    key, _ = ApiKeys(store).create("bench", scope="write")
    port = _free_port()
    env = {**os.environ, "COMPOUND_HOME": str(home), "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [sys.executable, "-m", "compound", "serve", "bench.serve_load:bench_app",
         "--host", "127.0.0.1", "--port", str(port), "--home", str(home)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_ready(port, server)
        path, body = "/v1/workflows/classify", {"text": "when will my card arrive?"}
        _run_driver(port, key, path, body, 8, 2.0, 5000)  # warm-up, not reported
        levels = {}
        for clients in LEVELS:
            levels[str(clients)] = _run_driver(port, key, path, body, clients, args.seconds,
                                               args.max_requests)
        run_id = httpx.post(f"http://127.0.0.1:{port}{path}", json=body,
                            headers={"Authorization": f"Bearer {key}"}).json()["run_id"]
        before = sum(1 for _ in store.read("feedback"))
        feedback = _run_driver(port, key, "/v1/feedback",
                               {"run_id": run_id, "kind": "thumbs", "value": "up"}, 8,
                               args.seconds, args.max_requests)
        acknowledged = feedback["statuses"].get("201", 0)
        written = sum(1 for _ in store.read("feedback")) - before
        wrk = _run_wrk(port, key, path, body, 32, args.seconds)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
    print(json.dumps({
        "bench": "serve_load",
        "workflow": "classify: one step, ScriptedPredictor (zero latency), batched",
        "server": "compound serve (uvicorn, 1 process), API key auth, SQLite store",
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
        "levels": levels,
        "feedback": {"clients": 8, "requests_per_s": feedback["requests_per_s"],
                     "p50_ms": feedback["p50_ms"], "p99_ms": feedback["p99_ms"],
                     "acknowledged": acknowledged, "written": written,
                     "equal": acknowledged == written},
        "wrk_cross_check": wrk,
    }, indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drive", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--key", default="")
    parser.add_argument("--path", default="/v1/workflows/classify")
    parser.add_argument("--body", default="{}")
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=5.0, help="time per level")
    parser.add_argument("--max-requests", type=int, default=50_000, help="count bound per level")
    parsed = parser.parse_args()
    drive_main(parsed) if parsed.drive else main(parsed)
