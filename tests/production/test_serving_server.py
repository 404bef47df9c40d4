"""A real server (`compound serve` in its own process, uvicorn on 127.0.0.1): clients that go
away mid-stream or mid-upload, raw bad requests, and the `openai` SDK as a client."""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from serving_apps import ANSWER, ServerProcess

from compound.production.serving.keys import ApiKeys
from compound.store import SQLiteStore

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    home = tmp_path_factory.mktemp("served")
    key, _ = ApiKeys(SQLiteStore(home / "compound.db")).create("tests", scope="admin")
    # 200 tokens, 50 ms apart: a 10 s generation, on a model that runs one call at a time
    with ServerProcess(home, SERVE_TOKEN_DELAY="0.05", SERVE_LONG="1") as process:
        yield process, key


def first_tokens(response: httpx.Response, count: int) -> tuple[str, float]:
    """Read SSE until ``count`` token events; returns the run id and when the first came."""
    run_id, first, seen = "", 0.0, 0
    event = ""
    for line in response.iter_lines():
        if line.startswith("event: "):
            event = line[len("event: "):]
        elif line.startswith("data: ") and event == "run":
            run_id = json.loads(line[len("data: "):])["run_id"]
        elif line.startswith("data: ") and event == "token":
            seen += 1
            first = first or time.perf_counter()
            if seen >= count:
                break
    return run_id, first


def test_a_client_leaving_mid_stream_stops_its_generation_and_frees_the_model(
        server: tuple[ServerProcess, str]) -> None:
    process, key = server
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=process.url, headers=headers, timeout=30) as client, \
            client.stream("POST", "/v1/workflows/answer/stream",
                          json={"text": "tell me everything"}) as response:
        assert response.status_code == 200
        gone_run, _ = first_tokens(response, 3)
    # the connection is closed here, ~9.8 s of generation before the model is done
    start = time.perf_counter()
    with httpx.Client(base_url=process.url, headers=headers, timeout=30) as client, \
            client.stream("POST", "/v1/workflows/answer/stream",
                          json={"text": "and now?"}) as response:
        _, first = first_tokens(response, 1)
    # the model runs one call at a time: a leaked generation would hold it for seconds
    assert first - start < 3.0
    with httpx.Client(base_url=process.url, headers=headers, timeout=10) as client:
        deadline = time.time() + 10
        while time.time() < deadline:
            detail = client.get(f"/v1/runs/{gone_run}")
            if detail.status_code == 200 and any(s["kind"] == "step"
                                                 for s in detail.json()["spans"]):
                break
            time.sleep(0.2)
        record = detail.json()["record"]
        assert record["status"] == "failed" and "CancelledError" in record["error"]
        step = next(s for s in detail.json()["spans"] if s["kind"] == "step")
        assert step["status"] == "error" and step["name"] == "answer"
        metrics = client.get("/metrics").text
        disconnects = re.search(r"^compound_stream_disconnects_total (\S+)$", metrics, re.M)
        assert disconnects and float(disconnects.group(1)) >= 2  # both streams left early
        assert 'compound_llm_queue_waiting{model="llm"} 0.0' in metrics
        assert client.get("/healthz").status_code == 200


def raw_request(url: str, data: bytes, *, read: bool = True) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(data)
        if not read:
            return b""
        chunks = b""
        while b"\r\n\r\n" not in chunks or len(chunks) < 12:
            part = sock.recv(65536)
            if not part:
                break
            chunks += part
        return chunks


def test_raw_bad_requests_get_4xx_and_the_server_carries_on(
        server: tuple[ServerProcess, str]) -> None:
    process, key = server
    auth = f"Authorization: Bearer {key}\r\n"

    def post(body: bytes, extra: str = "", length: int | None = None) -> int:
        head = (f"POST /v1/workflows/classify HTTP/1.1\r\nHost: x\r\n{auth}{extra}"
                f"Content-Type: application/json\r\n"
                f"Content-Length: {len(body) if length is None else length}\r\n"
                "Connection: close\r\n\r\n")
        reply = raw_request(process.url, head.encode() + body)
        return int(reply[9:12])

    assert post(b'{"text": "card"}') == 200
    assert post(b'{"text": "card"') == 400
    assert post(b'{"text": ["a"]}') == 422
    assert post(b"x" * 10, length=50 * 1024 * 1024) == 413
    head = "POST /v1/workflows/classify HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"
    assert int(raw_request(process.url, head.encode() + b"{}   ")[9:12]) == 401
    # a client that sends half a body and hangs up
    raw_request(process.url, (f"POST /v1/feedback HTTP/1.1\r\nHost: x\r\n{auth}"
                              "Content-Length: 1000\r\n\r\n{\"run_id\": ").encode(), read=False)
    assert httpx.get(f"{process.url}/healthz").status_code == 200
    assert httpx.post(f"{process.url}/v1/workflows/classify", json={"text": "card"},
                      headers={"Authorization": f"Bearer {key}"}).status_code == 200


def test_the_openai_sdk_works_against_the_server(server: tuple[ServerProcess, str],
                                                 tmp_path: Path) -> None:
    openai = pytest.importorskip("openai", reason="pip install 'compound[openai]'")
    process, key = server
    client = openai.OpenAI(base_url=f"{process.url}/v1", api_key=key, max_retries=0)
    assert "classify" in {m.id for m in client.models.list()}
    answer = client.chat.completions.create(
        model="classify", messages=[{"role": "user", "content": "where is my card"}])
    assert answer.choices[0].message.content == "card_arrival"
    assert answer.id.startswith("chatcmpl-")
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{process.url}/v1", api_key="ck_nope_nope",
                      max_retries=0).models.list()
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-x", messages=[{"role": "user",
                                                                  "content": "hi"}])
    assert ANSWER  # the scripted model's usual answer is replaced by 200 words here
