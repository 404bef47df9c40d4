"""`compound mcp serve`, driven by the official MCP SDK's own client over stdio and HTTP."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("mcp")

from mcp import Client, StdioServerParameters

from compound.production.serving.keys import ApiKeys
from compound.store import open_store

SPEC = """
name: shouty
loop: interaction
task: Shout.
models:
  llm: {kind: llm, provider: scripted}
workflows:
  shout:
    description: Upper-case a text.
    input: {text: str, times: int}
    steps:
      - name: up
        uses: shouting:shout
        inputs: {text: input.text, times: input.times}
"""
CODE = '''
def shout(text: str, times: int) -> str:
    """Upper-case."""
    if text == "boom":
        raise RuntimeError("exploded")
    return text.upper() * times
'''


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError("the server did not start listening")


def _system(tmp_path: Path) -> Path:
    (tmp_path / "compound.yaml").write_text(SPEC)
    (tmp_path / "shouting.py").write_text(CODE)
    (tmp_path / ".compound").mkdir()
    return tmp_path / "compound.yaml"


async def _use(client: Client) -> None:
    listed = await client.list_tools()
    (tool,) = listed.tools
    assert (tool.name, tool.description) == ("shout", "Upper-case a text.")
    assert tool.input_schema["required"] == ["text", "times"]
    assert tool.input_schema["properties"]["times"]["type"] == "integer"
    done = await client.call_tool("shout", {"text": "hi", "times": 2})
    assert not done.is_error and done.content[0].text == "HIHI"
    wrong = await client.call_tool("shout", {"text": "hi"})
    assert wrong.is_error and "times: Field required" in wrong.content[0].text
    failed = await client.call_tool("shout", {"text": "boom", "times": 1})
    assert failed.is_error and "workflow 'shout' failed" in failed.content[0].text


def test_stdio(tmp_path: Path) -> None:
    spec = _system(tmp_path)
    params = StdioServerParameters(command=sys.executable,
                                   args=["-m", "compound", "mcp", "serve", str(spec)],
                                   env={"PYTHONPATH": str(Path(__file__).parents[2] / "src")},
                                   cwd=str(tmp_path))

    async def main() -> None:
        async with Client(params, read_timeout_seconds=60) as client:
            await _use(client)

    asyncio.run(main())


def test_http_with_api_keys(tmp_path: Path) -> None:
    import httpx

    spec = _system(tmp_path)
    store = open_store(path=tmp_path / ".compound" / "compound.db")
    writer, _ = ApiKeys(store).create("agent", scope="write")
    reader, _ = ApiKeys(store).create("dash", scope="read")
    store.close()
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "compound", "mcp", "serve", str(spec), "--transport", "http",
         "--port", str(port), "--home", str(tmp_path / ".compound")], cwd=tmp_path,
        env={"PYTHONPATH": str(Path(__file__).parents[2] / "src"), "PATH": "/usr/bin:/bin"})
    try:
        wait_for_port(port, process)
        url = f"http://127.0.0.1:{port}/mcp"
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        refused = httpx.post(url, json=body)
        assert refused.status_code == 401 and "needs an API key" in refused.text
        assert httpx.post(url, json=body, headers={"X-API-Key": "ck_nope_x"}).status_code == 401
        assert httpx.post(url, json=body,
                          headers={"Authorization": f"Bearer {reader}"}).status_code == 403

        async def main() -> None:
            import httpx2
            from mcp.client.streamable_http import streamable_http_client

            http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {writer}"})
            async with Client(streamable_http_client(url, http_client=http),
                              read_timeout_seconds=60) as client:
                await _use(client)

        asyncio.run(main())
    finally:
        process.terminate()
        process.wait(10)


RETRIEVING = SPEC + """
retrievers:
  docs:
    kind: bm25
    documents: [docs/]
    top_k: 2
"""


def test_stdio_offers_retrievers_when_asked(tmp_path: Path) -> None:
    (tmp_path / "compound.yaml").write_text(RETRIEVING)
    (tmp_path / "shouting.py").write_text(CODE)
    (tmp_path / ".compound").mkdir()
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "cards.md").write_text("# Cards\n\nA new card arrives within ten working days.\n")
    (docs / "fees.md").write_text("# Fees\n\nTransfers abroad cost one euro each.\n")

    def params(*extra: str) -> StdioServerParameters:
        return StdioServerParameters(
            command=sys.executable,
            args=["-m", "compound", "mcp", "serve", str(tmp_path / "compound.yaml"), *extra],
            env={"PYTHONPATH": str(Path(__file__).parents[2] / "src")}, cwd=str(tmp_path))

    async def main() -> None:
        async with Client(params(), read_timeout_seconds=60) as client:
            assert [t.name for t in (await client.list_tools()).tools] == ["shout"]
        async with Client(params("--retrievers"), read_timeout_seconds=60) as client:
            empty = await client.call_tool("search_docs", {"query": "card"})
            assert empty.is_error and "run 'compound ingest SPEC --retriever docs'" in (
                empty.content[0].text)
        ingested = subprocess.run(
            [sys.executable, "-m", "compound", "ingest", str(tmp_path / "compound.yaml")],
            cwd=tmp_path, capture_output=True, text=True, timeout=120,
            env={"PYTHONPATH": str(Path(__file__).parents[2] / "src"), "PATH": "/usr/bin:/bin"})
        assert ingested.returncode == 0, ingested.stderr
        async with Client(params("--retrievers"), read_timeout_seconds=60) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            assert sorted(tools) == ["search_docs", "shout"]
            assert tools["search_docs"].input_schema["required"] == ["query"]
            found = await client.call_tool("search_docs", {"query": "when does my card arrive",
                                                           "top_k": 1})
            assert not found.is_error
            hits = found.structured_content["hits"]
            assert len(hits) == 1 and "ten working days" in hits[0]["text"]
            wrong = await client.call_tool("search_docs", {"query": 3})
            assert wrong.is_error and "takes 'query' (a string)" in wrong.content[0].text
            shouted = await client.call_tool("shout", {"text": "ok", "times": 1})
            assert shouted.content[0].text == "OK"

    asyncio.run(main())
