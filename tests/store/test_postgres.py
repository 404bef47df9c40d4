"""What only the PostgreSQL store has: opening by URL, pool and PgBouncer options, several
processes sharing one database, and kill -9 of a server under a feedback flood."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx
import pytest

from compound.errors import MissingDependency, UserError
from compound.store import RedactingStore, open_store
from compound.store.postgres import PostgresStore
from compound.system import System

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def system(tmp_path: Path, store: str = "") -> System:
    spec = tmp_path / "compound.yaml"
    spec.write_text(f"name: pg\nloop: interaction\ntask: answer\n{store}", encoding="utf-8")
    return System.load(spec)


def test_store_url_in_the_spec_opens_postgres_behind_redaction(pg_url: str,
                                                              tmp_path: Path) -> None:
    with open_store(system(tmp_path, f"store:\n  url: '{pg_url}'\n")) as store:
        assert isinstance(store, RedactingStore)
        assert isinstance(store.inner, PostgresStore)
        store.put("runs", "r1", {"input": "mail ada@example.com"})
        raw = store.inner.get("runs", "r1")
    assert raw == {"input": "mail <EMAIL_ADDRESS>"}


def test_compound_store_url_opens_postgres_without_a_spec(
        pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPOUND_STORE_URL", pg_url)
    with open_store() as store:
        assert isinstance(store.inner, PostgresStore)  # type: ignore[attr-defined]
    with open_store(path=Path(os.environ["COMPOUND_HOME"]) / "c.db") as store:
        assert store.inner.path.name == "c.db"  # type: ignore[attr-defined]  # explicit wins


def test_pool_size_and_pgbouncer_come_from_the_url(pg_url: str) -> None:
    store = PostgresStore(f"{pg_url}&pool_size=3&pgbouncer=true")
    assert (store.pool_size, store.pgbouncer) == (3, True)
    with store._pool.connection() as conn:
        assert conn.prepare_threshold is None  # no server-side prepared statements
    for i in range(10):  # what psycopg would otherwise prepare after 5 runs
        store.put("c", str(i), {"i": i})
    assert len(list(store.items("c"))) == 10
    store.close()
    store = PostgresStore(pg_url, pool_size=2)
    with store._pool.connection() as conn:
        assert conn.prepare_threshold == 5
    assert store._pool.max_size == 2
    store.close()


def test_libpq_options_pass_through_exactly(pg_url: str) -> None:
    """compound's options leave the URL; libpq's stay as written (a space as %20, two
    settings in one 'options')."""
    url = f"{pg_url}%20-cstatement_timeout%3D1234&pool_size=2&application_name=a+b"
    store = PostgresStore(url)
    assert store._read("SHOW statement_timeout", ()) == [("1234ms",)]
    assert store._read("SHOW application_name", ()) == [("a+b",)]
    store.close()


@pytest.mark.parametrize(("url", "message"), [
    ("mysql://u@h/db", "must be a PostgreSQL URL"),
    ("postgresql://u@h/db?pool_size=many", "pool_size must be a whole number"),
    ("postgresql://u@h/db?pool_size=0", "pool_size must be at least 1"),
    ("postgresql://u@h/db?pgbouncer=maybe", "pgbouncer must be true or false"),
])
def test_a_wrong_url_says_what_is_wrong(url: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        PostgresStore(url)


def test_an_unreachable_server_is_a_store_error_without_the_password() -> None:
    from compound.errors import StoreError

    with pytest.raises(StoreError, match=r"cannot connect.*refused") as caught:
        PostgresStore("postgresql://u:s3cret@127.0.0.1:1/db", connect_timeout_s=1)
    assert "s3cret" not in str(caught.value)


def test_a_wrong_password_says_so_at_once(pg_server: str) -> None:
    from compound.errors import StoreError

    wrong = pg_server.replace("compound:compound@", "compound:wrong@", 1)
    started = time.time()
    with pytest.raises(StoreError, match="password authentication failed") as caught:
        PostgresStore(wrong)
    assert time.time() - started < 5
    assert ":wrong@" not in str(caught.value)


def test_without_the_extra_the_error_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg_pool", None)  # as if not installed
    with pytest.raises(MissingDependency, match=r"pip install 'compound\[postgres\]'"):
        PostgresStore("postgresql://u@127.0.0.1/db")


WRITER = textwrap.dedent("""
    import sys
    from compound.store.postgres import PostgresStore
    store = PostgresStore(sys.argv[1])
    for i in range(200):
        with store.transaction():
            store.append("events", {"writer": sys.argv[2], "i": i})
            store.put("latest", sys.argv[2], {"i": i})
    store.close()
""")


@pytest.mark.integration
def test_several_processes_share_one_database(pg_url: str) -> None:
    """Three processes open (and migrate) the same empty schema at once, write together,
    and a reader tailing the stream sees every record once, in order."""
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, pg_url, f"w{n}"],
                                env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
               for n in range(3)]
    deadline = time.time() + 60
    store = None
    while store is None and time.time() < deadline:
        try:
            store = PostgresStore(pg_url)
        except Exception:
            time.sleep(0.05)
    assert store is not None
    seen: list[int] = []
    while True:
        finished = all(w.poll() is not None for w in writers)
        seen.extend(r.seq for r in store.read("events", after=seen[-1] if seen else 0))
        if finished:
            break
        time.sleep(0.001)
    assert [w.returncode for w in writers] == [0, 0, 0]
    assert len(seen) == 600 == len(set(seen))
    assert {key: value["i"] for key, value in store.items("latest")} == {
        "w0": 199, "w1": 199, "w2": 199}
    store.close()


@pytest.mark.integration
def test_kill_9_during_a_feedback_flood_loses_no_acknowledged_signal(
        pg_url: str, tmp_path: Path) -> None:
    """`compound serve` on PostgreSQL, four clients sending feedback as fast as it takes it,
    SIGKILL mid-flood: every signal acknowledged with 201 is in the database."""
    from compound.production.serving.keys import ApiKeys

    seed = PostgresStore(pg_url)
    key, _ = ApiKeys(seed).create("writer", scope="write")
    seed.close()
    headers = {"Authorization": f"Bearer {key}"}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    env = {**os.environ, "COMPOUND_STORE_URL": pg_url, "PYTHONPATH": os.pathsep.join(
        [str(HERE), str(ROOT / "tests" / "production"), str(ROOT / "src")])}
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "compound", "serve", "flood_app:app", "--port", str(port)],
            env=env, stdout=out, stderr=subprocess.STDOUT, cwd=HERE)
    try:
        wait_ready(server, url, log)
        run_id = httpx.post(f"{url}/v1/workflows/classify", json={"text": "card"},
                            headers=headers).json()["run_id"]
        acked: dict[int, str] = {}
        errors: list[str] = []
        stop = threading.Event()

        def writer(worker: int) -> None:
            with httpx.Client(base_url=url, headers=headers, timeout=5.0) as http:
                for i in range(100_000):
                    if stop.is_set():
                        return
                    text = f"w{worker}-{i}"
                    try:
                        response = http.post("/v1/feedback", json={
                            "run_id": run_id, "kind": "comment", "value": text})
                    except httpx.HTTPError as exc:  # the server died under us
                        errors.append(type(exc).__name__)
                        return
                    if response.status_code == 201:
                        acked[response.json()["id"]] = text

        workers = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
        for worker in workers:
            worker.start()
        deadline = time.time() + 60
        while len(acked) < 300 and time.time() < deadline:
            time.sleep(0.01)
        server.send_signal(signal.SIGKILL)  # mid-flood: requests are in flight
        server.wait(timeout=10)
        stop.set()
        for worker in workers:
            worker.join(10)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=10)
    assert len(acked) >= 300, f"only {len(acked)} acknowledged: {log.read_text()[-2000:]}"
    assert errors, "the writers should have seen the server die mid-flood"
    store = PostgresStore(pg_url)
    stored = {r.seq: r.data["value"] for r in store.read("feedback")}
    missing = {seq: text for seq, text in acked.items() if stored.get(seq) != text}
    assert not missing, f"{len(missing)} acknowledged signals lost: {list(missing.items())[:5]}"
    assert set(acked) <= {r.data["id"] for r in store.read(f"feedback:{run_id}")}
    store.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(server: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.time() + 90
    while time.time() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server not ready in 90 s: {log.read_text()[-2000:]}")
