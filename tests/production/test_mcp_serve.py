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
