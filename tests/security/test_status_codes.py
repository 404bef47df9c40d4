"""Right status codes and honest results, over a real server on 127.0.0.1: a request a client
can make badly is a 4xx with a JSON error naming the field, a full store is a typed 507 that
acknowledges nothing, failed authentication is rate-limited per address, a run whose trace was
not recorded says so, and a failing ``when:`` names its step and expression."""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compound.intelligence.llm import ScriptedLLM
from compound.intelligence.llm.errors import ContextOverflow
from compound.production.serving import create_app
from compound.production.serving.app import served_llm
from compound.production.serving.keys import ApiKeys
from compound.production.serving_spec import ServeSpec
from compound.store import MemoryStore, SQLiteStore
from compound.workflow import Step, Workflow

CONTEXT = 100  # the scripted model's context window, in tokens


@dataclass(frozen=True)
class Query:
    question: str


@dataclass(frozen=True)
class Transaction:
    amount: float
    country: str


def echo(question: str) -> dict[str, Any]:
    return {"question": question}


def score(amount: float, country: str) -> dict[str, Any]:
    return {"risk": min(1.0, amount / 1000), "country": country}


def reply(messages: Any, params: Any) -> Any:
    """A model with a 100-token context: asking for more overflows it, as llama.cpp does."""
    if params.max_tokens is not None and params.max_tokens > CONTEXT:
        return ContextOverflow(f"{params.max_tokens} tokens asked for, over the context window "
                               f"of {CONTEXT}", limit=CONTEXT)
    return "Paris."


class CappedStore(SQLiteStore):
    """A real SQLite store whose file may not grow past ``pages`` pages (``max_page_count``):
    writes past it fail with SQLite's own 'database or disk is full', as on a full disk."""

    pages: int | None = None

    def _connect(self) -> sqlite3.Connection:
        conn = super()._connect()
        if self.pages is not None:
            conn.execute(f"PRAGMA max_page_count={self.pages}")
        return conn

    def fill(self) -> None:
        """From now on no write needs a new page: what the file holds is all it may hold."""
        self.pages = int(self._connect().execute("PRAGMA page_count").fetchone()[0])
        for conn in self._connections:  # the connections of other threads too
            conn.execute(f"PRAGMA max_page_count={self.pages}")


class Server:
    """``app`` under uvicorn on 127.0.0.1, in a thread of this process."""

    def __init__(self, app: Any) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", access_log=False))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError("the server did not get ready in 30 s")

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)


def take(question: Any) -> Any:
    return question


def make_app(store: SQLiteStore, spec: ServeSpec) -> Any:
    llm = served_llm("llm", ScriptedLLM(reply), spec)
    flows = [
        Workflow([echo], name="echo", input=Query),
        Workflow([take], name="raw"),  # untyped: any JSON object
        Workflow([score], name="score", input=Transaction),
        Workflow([Step(score, name="score"),
                  Step(echo, name="judge", needs=["score"], when="score.risk > 'high'",
                       inputs={"question": "input.country"})],
                 name="judged", input=Transaction),
    ]
    return create_app({f.name: f for f in flows}, store=store, spec=spec, llms={"llm": llm},
                      name="status-tests")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str, CappedStore]]:
    store = CappedStore(tmp_path_factory.mktemp("served") / "compound.db")
    key, _ = ApiKeys(store).create("tests", scope="admin")
    spec = ServeSpec(rate_limit=None, flush_every_s=3600)
    with Server(make_app(store, spec)) as server:
        yield server, key, store


def post(served: tuple[Server, str, Any], path: str, body: Any = None, *,
         content: bytes | None = None) -> httpx.Response:
    server, key, _ = served
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    data = content if content is not None else json.dumps(body).encode()
    return httpx.post(f"{server.url}{path}", content=data, headers=headers, timeout=30)


def assert_client_error(response: httpx.Response, status: int | None = None) -> dict[str, Any]:
    """A 4xx (``status`` when given) with compound's JSON error body and no traceback."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:500])
    if status is not None:
        assert response.status_code == status, response.text[:500]
    assert "Traceback" not in response.text
    error = response.json()["error"]
    assert error["status"] == response.status_code and error["message"]
    return error


# -- the cases the issue names ---------------------------------------------------------------

def test_a_lone_surrogate_in_a_workflow_input_is_a_422_naming_the_field(served: Any) -> None:
    response = post(served, "/v1/workflows/echo", content=b'{"question": "why \\ud800?"}')
    error = assert_client_error(response, 422)
    assert error["type"] == "invalid_input" and "question" in error["message"]
    assert "surrogate" in error["message"]
    # a valid surrogate pair is a character like any other
    ok = post(served, "/v1/workflows/echo", content=b'{"question": "\\ud83d\\ude00"}')
    assert ok.status_code == 200 and ok.json()["output"]["question"] == "😀"


@pytest.mark.parametrize("body", [b'{"amount": NaN, "country": "FR"}',
                                  b'{"amount": Infinity, "country": "FR"}',
                                  b'{"amount": 1e999, "country": "FR"}',
                                  b'{"amount": "\xff\xfe", "country": "FR"}'])
def test_numbers_json_has_not_and_bytes_that_are_not_utf8_are_400s(served: Any,
                                                                   body: bytes) -> None:
    error = assert_client_error(post(served, "/v1/workflows/score", content=body), 400)
    assert error["type"] == "malformed_json"


@pytest.mark.parametrize("since", ["nan", "inf", "-1e999"])
def test_a_time_that_is_not_a_number_is_a_422(served: Any, since: str) -> None:
    server, key, _ = served
    response = httpx.get(f"{server.url}/v1/feedback", params={"since": since},
                         headers={"Authorization": f"Bearer {key}"}, timeout=30)
    error = assert_client_error(response, 422)
    assert "since" in json.dumps(error)


def test_a_field_missing_from_an_untyped_input_is_a_422_naming_it(served: Any) -> None:
    error = assert_client_error(post(served, "/v1/workflows/raw", {"other": 1}), 422)
    assert "input.question" in error["message"] and "step 'take'" in error["message"], error
    assert post(served, "/v1/workflows/raw", {"question": [1]}).json()["output"] == [1]


def test_deep_nesting_is_a_4xx(served: Any) -> None:
    deep = b'{"question": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert_client_error(post(served, "/v1/workflows/echo", content=deep))
    assert_client_error(post(served, "/v1/feedback", content=b"[" * 150 + b"]" * 150), 422)


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_an_over_large_max_tokens_is_a_422_naming_the_field(served: Any, field: str) -> None:
    messages = [{"role": "user", "content": "Capital of France?"}]
    for asked in (10**30, 2 * CONTEXT):  # past any model's context; past this model's
        response = post(served, "/v1/chat/completions",
                        {"model": "llm", "messages": messages, field: asked})
        error = assert_client_error(response, 422)
        assert field in json.dumps(error), error
    fits = post(served, "/v1/chat/completions", {"model": "llm", "messages": messages,
                                                 field: CONTEXT})
    assert fits.status_code == 200, fits.text


def test_a_runtime_error_in_when_names_the_step_and_the_expression(served: Any) -> None:
    response = post(served, "/v1/workflows/judged", {"amount": 10.0, "country": "FR"})
    assert response.status_code == 500, response.text  # the system's fault, not the client's
    message = response.json()["error"]["message"]  # the detail is in the server's log
    assert "step 'judge'" in message and "'?'" not in message, message
    from compound.workflow.engine import StepFailed

    flow = make_app(MemoryStore(), ServeSpec()).state.compound.runner.workflows["judged"]
    with pytest.raises(StepFailed) as failed:
        flow.run({"amount": 10.0, "country": "FR"})
    assert failed.value.step == "judge"
    assert "step 'judge'" in str(failed.value) and "when: \"score.risk > 'high'\"" in str(
        failed.value) and "TypeError" in str(failed.value)


def test_feedback_on_a_full_store_is_a_507_and_nothing_is_acknowledged(
        tmp_path: Path) -> None:
    store = CappedStore(tmp_path / "compound.db")
    key, _ = ApiKeys(store).create("tests", scope="admin")
    with Server(make_app(store, ServeSpec(rate_limit=None, flush_every_s=3600))) as server:
        headers = {"Authorization": f"Bearer {key}"}
        ran = httpx.post(f"{server.url}/v1/workflows/echo", json={"question": "hi"},
                         headers=headers, timeout=30)
        run_id = ran.json()["run_id"]
        store.fill()
        signal = {"run_id": run_id, "kind": "comment", "value": "x" * 9_000}
        response = httpx.post(f"{server.url}/v1/feedback", json=signal, headers=headers,
                              timeout=30)
        assert response.status_code == 507, response.text
        error = response.json()["error"]
        assert error["type"] == "store_full" and "full" in error["message"]
        assert "Traceback" not in response.text
        store.pages = None  # room again: what is there is all that was acknowledged
        for conn in store._connections:
            conn.execute("PRAGMA max_page_count=1073741823")
        listed = httpx.get(f"{server.url}/v1/feedback", params={"run_id": run_id},
                           headers=headers, timeout=30)
        assert listed.status_code == 200 and listed.json() == []


def test_runs_the_full_store_could_not_record_are_said_in_the_log(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A served run is answered before its record and spans are committed (group commit off
    the request path); when those writes fail the server must say so, not stay silent."""
    import logging

    from compound.production.serving import recorder

    recorder._last_said.clear()
    store = CappedStore(tmp_path / "compound.db")
    key, _ = ApiKeys(store).create("tests", scope="admin")
    with caplog.at_level(logging.WARNING, logger="compound.serve"), \
            Server(make_app(store, ServeSpec(rate_limit=None, flush_every_s=3600))) as server:
        store.fill()
        ran = httpx.post(f"{server.url}/v1/workflows/echo", json={"question": "x" * 3000},
                         headers={"Authorization": f"Bearer {key}"}, timeout=30)
        assert ran.status_code == 200  # the answer itself is honest
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "not being written" not in caplog.text:
            time.sleep(0.1)
    assert "run records are not being written" in caplog.text or \
        "spans are not being written" in caplog.text, caplog.text
    assert "is full" in caplog.text


def test_failed_authentication_is_rate_limited_per_address(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "compound.db")
    key, _ = ApiKeys(store).create("tests", scope="admin")
    spec = ServeSpec(rate_limit={"requests_per_s": 0.01, "burst": 3}, flush_every_s=3600)
    with Server(make_app(store, spec)) as server:
        def attempt(token: str) -> httpx.Response:
            return httpx.post(f"{server.url}/v1/workflows/echo", json={"question": "hi"},
                              headers={"Authorization": f"Bearer {token}"}, timeout=30)

        codes = [attempt(f"ck_guess{i}_wrong").status_code for i in range(3)]
        assert codes == [401, 401, 401]
        refused = attempt("ck_guess9_wrong")
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        error = refused.json()["error"]
        assert error["type"] == "rate_limited" and "127.0.0.1" in error["message"]
        # the address is refused whatever it sends, so a guess cannot tell right from wrong
        assert attempt(key).status_code == 429


def test_a_run_whose_trace_was_not_recorded_says_so_and_exits_1(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The run record fits the full store, its spans (larger) do not: `compound run` used to
    print "'compound trace' shows its spans" and exit 0."""
    (tmp_path / "wide.py").write_text(
        "from compound.workflow import Step, Workflow\n\n"
        "def size(question: str) -> int:\n    return len(question)\n\n"
        "flow = Workflow([Step(size, name=f'size{i}', needs=[], inputs={'question': "
        "'input.question'}) for i in range(5)], name='wide')\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    # a fresh store holds 8 pages; capped there, a small run record still fits in them
    connect = SQLiteStore._connect

    def capped(self: SQLiteStore) -> sqlite3.Connection:
        conn = connect(self)
        conn.execute("PRAGMA max_page_count=8")
        return conn

    monkeypatch.setattr(SQLiteStore, "_connect", capped)
    from compound.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["run", "wide:flow", "-i", json.dumps({"question": "x" * 600}),
              "--home", str(tmp_path / "home")])
    err = capsys.readouterr().err
    assert exited.value.code == 1, err
    assert "trace was not recorded" in err and "is full" in err, err
    assert "shows its spans" not in err


# -- the same class elsewhere: fuzzing the JSON bodies ---------------------------------------

texts = st.one_of(st.text(max_size=40),
                  st.sampled_from(["\ud800", "\udfff x", "a\x00b", "[/x]", "\u202e", "é" * 50,
                                   "x" * 5000]))
numbers = st.one_of(st.integers(min_value=-(10**40), max_value=10**40),
                    st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([10**400, -(10**400)]))
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=4)), max_leaves=12)


def encode(value: Any) -> bytes:
    # allow_nan writes NaN/Infinity; ensure_ascii writes lone surrogates as \udXXX escapes
    return json.dumps(value, allow_nan=True).encode()


raw_bodies = st.one_of(
    st.binary(max_size=64),
    st.integers(min_value=1, max_value=3000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(min_value=1, max_value=3000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    st.sampled_from([b"", b"{", b'{"question": "\xff"}', b"\xef\xbb\xbf{}", b"nul\x00",
                     b'{"question": "' + b"9" * 5000 + b'"}', b"9" * 5000]),
)

# mostly the right shape with hostile content (what gets past validation), sometimes anything
def field(typed: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(typed, typed, typed, values)


messages = st.lists(st.fixed_dictionaries({"role": st.sampled_from(["user", "system", "tool"]),
                                           "content": field(texts)}), min_size=1, max_size=3)
ENDPOINTS = {
    "/v1/workflows/echo": st.fixed_dictionaries({"question": field(texts)}),
    "/v1/workflows/raw": st.one_of(st.fixed_dictionaries({"question": values}), values),
    "/v1/workflows/score": st.fixed_dictionaries({"amount": field(numbers),
                                                  "country": field(texts)}),
    "/v1/workflows/echo/stream": st.fixed_dictionaries({"question": field(texts)}),
    "/v1/keys": st.fixed_dictionaries({"name": field(texts), "scope": field(
        st.sampled_from(["read", "write", "admin", "root"]))}),
    "/v1/drift/reference": st.fixed_dictionaries({
        "workflow": field(st.sampled_from(["echo", "score", "nope"])),
        "since": field(numbers), "until": field(numbers)}),
    "/v1/feedback": st.fixed_dictionaries({"run_id": field(texts), "kind": st.sampled_from(
        ["thumbs", "rating", "comment", "edit", "nope"]), "value": values}),
    "/v1/chat/completions": st.fixed_dictionaries({
        "model": st.sampled_from(["llm", "echo"]), "messages": field(messages),
        "max_tokens": field(numbers), "temperature": field(numbers),
        "stream": field(st.booleans())}),
}


@pytest.mark.parametrize("path", sorted(ENDPOINTS))
def test_fuzzed_bodies_get_a_4xx_with_a_json_error_never_a_500(served: Any, path: str) -> None:
    bodies = st.one_of(ENDPOINTS[path].map(encode), values.map(encode), raw_bodies)

    @settings(max_examples=80, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(bodies)
    def check(body: bytes) -> None:
        response = post(served, path, content=body)
        if response.status_code < 400:  # some are valid requests: they must really be
            assert response.status_code in (200, 201), response.text[:300]
            if not response.headers["content-type"].startswith("text/event-stream"):
                response.json()
            return
        assert_client_error(response)

    check()


def test_a_full_store_raises_store_full_and_keeps_nothing_of_the_transaction(
        tmp_path: Path) -> None:
    from compound.errors import StoreFull

    store = CappedStore(tmp_path / "compound.db")
    store.put("docs", "small", {"ok": True})
    store.fill()
    with pytest.raises(StoreFull, match="is full"), store.transaction():
        store.append("events", {"n": 1})
        store.append("events", {"blob": "x" * 50_000})
    assert list(store.read("events")) == [] and store.get("docs", "small") == {"ok": True}


def test_an_argument_that_is_not_text_is_a_clear_error_not_a_traceback() -> None:
    import os
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "compound", "trace", b"\xff\xfe"],
                         capture_output=True, env={**os.environ, "NO_COLOR": "1"}, timeout=120)
    err = out.stderr.decode("utf-8", "replace")
    assert out.returncode == 2 and "Traceback" not in err and "no run" in err, err
