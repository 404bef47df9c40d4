"""`compound serve --on ray --replicas 2`: the app as Ray Serve replicas over one PostgreSQL
store. A replica killed (``kill -9``, its PID from Ray's API) while clients flood feedback is
restarted by Ray, and every signal acknowledged (201) is in the store.

The PostgreSQL server is ``COMPOUND_TEST_PG_URL`` (default compound/compound@127.0.0.1:5432/
compound_test), as for the store tests: without one the test is skipped saying how to start
it, and under ``CI=true`` it fails instead.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from serving_apps import HERE, ROOT, free_port

from compound.errors import UserError
from compound.production.serving.ray_serve import check_store, start_failure
from compound.store import MemoryStore, SQLiteStore

PG_URL = "postgresql://compound:compound@127.0.0.1:5432/compound_test"
FLOOD_CLIENTS = 8
FLOOD_REQUESTS = 600  # bounded in count...
FLOOD_SECONDS = 90  # ...and in time


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL whose search_path is a fresh schema, dropped afterwards."""
    url = os.environ.get("COMPOUND_TEST_PG_URL", PG_URL)
    try:
        import psycopg

        psycopg.connect(url, connect_timeout=5).close()
    except Exception as exc:
        problem = f"PostgreSQL is unreachable at {url.split('@')[-1]}: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {problem}", pytrace=False)
        pytest.skip(f"{problem}; start it as .ci/run does, or set COMPOUND_TEST_PG_URL")
    schema = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in url else "?"
    yield f"{url}{separator}options={quote(f'-csearch_path={schema}')}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


def test_a_sqlite_store_is_refused_for_a_cluster_and_memory_for_replicas(
        tmp_path: Path) -> None:
    sqlite = SQLiteStore(tmp_path / "compound.db")
    check_store(sqlite, address=None, replicas=4)  # every replica on this machine: allowed
    with pytest.raises(UserError) as refused:
        check_store(sqlite, address="ray://head:10001", replicas=2)
    message = str(refused.value)
    assert "other machines" in message and str(tmp_path / "compound.db") in message
    assert "COMPOUND_STORE_URL" in message and "leave out --address" in message
    with pytest.raises(UserError, match="memory store"):
        check_store(MemoryStore(), address=None, replicas=2)


def test_a_failed_start_says_why_in_one_line_without_ray_s_colours_or_actor_dump() -> None:
    class ActorMethodFailed(Exception):  # the shape of Ray's RayTaskError: the cause attached
        cause = RuntimeError("Failed to bind to address '127.0.0.1:8000'.\nmore detail")

        def __str__(self) -> str:
            return "\x1b[36mray::ProxyActor.ready()\x1b[39m (pid=1, actor_id=ab12)\n..."

    message = start_failure(ActorMethodFailed())
    assert "RuntimeError: Failed to bind to address '127.0.0.1:8000'." in message
    assert "\x1b" not in message and "actor_id" not in message and "more detail" not in message
    assert "fewer --replicas" in message
    died = start_failure(Exception("\x1b[31mThe actor died unexpectedly.\x1b[0m\n\tpid: 4"))
    assert "(The actor died unexpectedly.)" in died and "pid" not in died
    assert "(TimeoutError)" in start_failure(TimeoutError())


HANGS_AT_EXIT = """
import atexit, time
from compound.production.serving.ray_serve import exit_unless_done
atexit.register(time.sleep, 120)  # as Ray's own shutdown at exit may wait
exit_unless_done(1.0, "the test's stop")
print("returned", flush=True)
"""


def test_a_stop_that_hangs_past_its_bound_exits_saying_so_and_where_it_waited() -> None:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", HANGS_AT_EXIT], capture_output=True,
                          text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src"),
                               "PYTHONFAULTHANDLER": "1"})
    assert done.returncode == 1, done.stderr
    assert done.stdout.strip() == "returned"
    assert "the test's stop did not finish within 1 s" in done.stderr
    assert "ray stop" in done.stderr and "time.sleep" not in done.stdout
    assert "Current thread" in done.stderr or "Thread 0x" in done.stderr  # the stacks
    assert time.monotonic() - started < 50  # not the 120 s the exit handler would take


def test_serve_on_ray_refuses_sqlite_with_an_address_before_starting_ray(
        tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT / "src")]),
           "COMPOUND_HOME": str(tmp_path)}
    env.pop("COMPOUND_STORE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "compound", "serve", "serving_apps:shared_store_app", "--on",
         "ray", "--replicas", "2", "--address", "ray://head.internal:10001"],
        cwd=HERE, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "SQLite file" in done.stderr and "PostgreSQL" in done.stderr


REPLICA_PIDS = """
import json, os, sys
import ray
from ray.util import list_named_actors

ray.init(address=sys.argv[1], log_to_driver=False, configure_logging=False)
found = {}
for actor in list_named_actors(all_namespaces=True):
    if actor["name"].startswith("SERVE_REPLICA::compound#"):
        handle = ray.get_actor(actor["name"], namespace=actor["namespace"])
        try:
            found[actor["name"]] = ray.get(
                handle.__ray_call__.remote(lambda replica: os.getpid()), timeout=20)
        except Exception:  # a replica dying or starting: not counted yet
            continue
print(json.dumps(found))
"""


def replica_pids(address: str) -> dict[str, int]:
    """Each Serve replica's actor name and process id, asked of the command's Ray by a driver
    process of its own: this test process may hold the session's own Ray (``ray_cluster``),
    which one process cannot hold beside a second cluster."""
    import json

    done = subprocess.run([sys.executable, "-c", REPLICA_PIDS, address], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "RAY_AUTH_MODE": "token"})
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.integration
def test_postgres_replica_killed_under_feedback_load_restarts_and_loses_nothing(
        postgres_url: str, tmp_path: Path) -> None:
    from compound.production.serving.keys import ApiKeys
    from compound.store.postgres import PostgresStore

    store = PostgresStore(postgres_url, pool_size=2)
    key, _ = ApiKeys(store).create("flood", scope="write")
    port = free_port()
    log = tmp_path / "serve.log"
    # replica_pids connects to the command's Ray instance as a second driver, with its token
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT / "src")]),
           "COMPOUND_STORE_URL": postgres_url, "COMPOUND_HOME": str(tmp_path),
           "PYTHONFAULTHANDLER": "1"}  # a hang at stop() leaves every thread's stack in the log
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "compound", "serve", "serving_apps:shared_store_app",
             "--on", "ray", "--replicas", "2", "--port", str(port)],
            cwd=HERE, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {key}"}
    try:
        address = wait_for_ray_serving(server, log, timeout_s=240)
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            reply = client.post("/v1/workflows/classify", json={"text": "my card?"})
            assert reply.status_code == 200, reply.text
            run_id = reply.json()["run_id"]
        before = replica_pids(address)
        assert len(before) == 2, before

        acknowledged: list[int] = []
        failures: list[str] = []
        sent = [0]
        lock = threading.Lock()
        deadline = time.monotonic() + FLOOD_SECONDS

        def flood() -> None:
            with httpx.Client(base_url=url, headers=headers, timeout=10) as client:
                while time.monotonic() < deadline:
                    with lock:
                        if sent[0] >= FLOOD_REQUESTS:
                            return
                        sent[0] += 1
                        n = sent[0]
                    try:
                        reply = client.post("/v1/feedback", json={
                            "run_id": run_id, "kind": "comment", "value": f"signal {n}"})
                    except httpx.HTTPError as exc:  # the killed replica's requests in flight
                        failures.append(type(exc).__name__)
                        continue
                    if reply.status_code == 201:
                        with lock:
                            acknowledged.append(reply.json()["id"])
                    else:
                        failures.append(str(reply.status_code))

        clients = [threading.Thread(target=flood) for _ in range(FLOOD_CLIENTS)]
        for thread in clients:
            thread.start()
        while len(acknowledged) < FLOOD_REQUESTS // 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        victim_name, victim = sorted(before.items())[0]
        os.kill(victim, signal.SIGKILL)  # mid-load
        for thread in clients:
            thread.join(timeout=FLOOD_SECONDS + 30)

        # Ray starts a replacement: two replicas again, one of them new
        restart_deadline = time.monotonic() + 180
        after = replica_pids(address)
        while (len(after) < 2 or victim_name in after) and time.monotonic() < restart_deadline:
            time.sleep(1)
            after = replica_pids(address)
        assert len(after) == 2 and victim_name not in after and victim not in after.values(), (
            before, after, log.read_text()[-3000:])
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            replies = [client.post("/v1/feedback", json={
                "run_id": run_id, "kind": "comment", "value": "after"}) for _ in range(6)]
        assert all(r.status_code == 201 for r in replies), [r.text for r in replies]
        acknowledged += [r.json()["id"] for r in replies]

        written = {record.seq for record in store.read("feedback")}
        lost = sorted(set(acknowledged) - written)
        assert not lost, f"{len(lost)} acknowledged signals are not in the store: {lost[:10]}"
        assert len(acknowledged) >= FLOOD_REQUESTS // 5
        # a request in flight on the killed replica may fail; nothing else did
        assert len(failures) < FLOOD_REQUESTS // 4, failures
    finally:
        stop(server)
        store.close()
    assert server.returncode == 0, log.read_text()[-3000:]  # Ctrl-C: a clean stop


def wait_for_ray_serving(server: subprocess.Popen[bytes], log: Path, *,
                         timeout_s: float) -> str:
    """The Ray address the command printed once its replicas were warm."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"compound serve exited: {log.read_text()[-3000:]}")
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("serving ") and " on Ray (" in line:
                return line.split(" on Ray (", 1)[1].split(")", 1)[0]
        time.sleep(0.5)
    raise RuntimeError(f"not serving in {timeout_s}s: {log.read_text()[-3000:]}")


def stop(server: subprocess.Popen[bytes]) -> None:
    """Ctrl-C, as a user would; a kill only if it does not stop in time."""
    if server.poll() is not None:
        return
    server.send_signal(signal.SIGINT)
    try:
        server.wait(timeout=90)
    except subprocess.TimeoutExpired:
        server.send_signal(signal.SIGABRT)  # faulthandler writes where each thread waits
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
