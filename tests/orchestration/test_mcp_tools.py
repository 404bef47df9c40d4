"""compound as an MCP client: a real MCP server (tests/orchestration/mcp_server_fixture.py,
written with the official SDK) over stdio and over streamable HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("mcp")

from compound.errors import SpecError
from compound.intelligence.llm import ScriptedLLM, ToolCall
from compound.orchestration.mcp_client import McpConnection, McpServerError
from compound.orchestration.mcp_tools import McpTool
from compound.system import System
from compound.workflow import Agent
from compound.workflow.loader import build_workflow

FIXTURE = Path(__file__).with_name("mcp_server_fixture.py")


@pytest.fixture(scope="module")
def stdio() -> Iterator[McpConnection]:
    conn = McpConnection("fx", command=[sys.executable, str(FIXTURE), "stdio", "--bad-schema"],
                         timeout_s=3, max_output_chars=1000)
    yield conn
    conn.close()


def test_tools_are_typed_from_the_servers_schemas(stdio: McpConnection) -> None:
    add = McpTool(stdio, "add")
    assert add.definition.parameters["required"] == ["a", "b"]
    assert add.description == "Add two integers."
    assert add.call({"a": 2, "b": 3}).value == {"sum": 5}
    assert McpTool(stdio, "lookup").call({"country": "Norway"}).observation() == "Oslo"
    wrong = add.call({"a": "two"})
    assert wrong.outcome == "invalid_arguments"
    assert "'b' is a required property" in (wrong.error or "")


def test_failures_are_observations_not_exceptions(stdio: McpConnection) -> None:
    failed = McpTool(stdio, "fail").call({})
    assert (failed.outcome, failed.error) == ("error", "tool 'fail' failed: disk full")
    slow = McpTool(stdio, "slow", timeout_s=0.5)
    start = time.perf_counter()
    result = slow.call({"seconds": 10})
    assert result.outcome == "timeout" and time.perf_counter() - start < 5
    assert "did not answer within 0.5s" in result.observation()
    bad = McpTool(stdio, "bad").call({})
    assert "not a valid JSON schema at properties/x/type" in (bad.error or "")
    missing = McpTool(stdio, "lokup").call({})
    assert "has no tool 'lokup' (did you mean 'lookup'?)" in (missing.error or "")


def test_hostile_answers_give_clear_results(stdio: McpConnection) -> None:
    huge = McpTool(stdio, "huge").call({})
    assert huge.ok and len(huge.value) < 1200
    assert "the answer had 1000000 characters; the first 1000 are shown" in huge.value
    # a line on stdout that is not JSON-RPC does not break the session
    assert McpTool(stdio, "garbage").call({}).value == "after garbage"
    assert McpTool(stdio, "add").call({"a": 1, "b": 1}).value == {"sum": 2}


def test_a_dead_server_is_an_observation_then_restarted() -> None:
    conn = McpConnection("fx", command=[sys.executable, str(FIXTURE), "stdio"], timeout_s=5)
    try:
        died = McpTool(conn, "die").call({})
        assert died.outcome == "error" and "closed the connection" in (died.error or "")
        assert asyncio.run(McpTool(conn, "add").acall({"a": 1, "b": 2})).value == {"sum": 3}
    finally:
        conn.close()


def test_a_command_that_does_not_exist_is_an_observation() -> None:
    conn = McpConnection("nothing", command=["no-such-mcp-server-x"], connect_timeout_s=5)
    result = McpTool(conn, "t").call({})
    assert result.outcome == "error" and "could not be started" in (result.error or "")
    with pytest.raises(McpServerError, match="could not be started"):
        conn.list_tools()


def test_an_agent_calls_an_mcp_tool(stdio: McpConnection) -> None:
    llm = ScriptedLLM([ToolCall("add", {"a": 20, "b": 22}, id="c1"),
                       ToolCall("fail", {}, id="c2"), "It is 42."])
    result = Agent(llm=llm, tools=[McpTool(stdio, "add"), McpTool(stdio, "fail")]).run("20+22?")
    assert result.answer == "It is 42."
    assert [r.outcome for r in result.tool_results] == ["ok", "error"]
    assert llm.calls[0][1].tools[0].parameters["properties"]["a"]["type"] == "integer"
    assert llm.calls[2][0][-1].content == "error: tool 'fail' failed: disk full"


SPEC = """
name: mcp-demo
loop: interaction
task: Answer with the help of an MCP server.
models:
  llm: {{kind: llm, provider: scripted}}
mcp_servers:
  fx:
    command: [{python}, {fixture}, stdio]
    tools: [add, lookup, fail]
    timeout_s: 5
workflows:
  assistant:
    input: {{task: str}}
    steps:
      - name: act
        uses: llm
        inputs: {{task: input.task}}
        agent: {{tools: [fx], max_steps: 4}}
  capital:
    input: {{country: str}}
    steps:
      - name: look
        uses: fx.lookup
        inputs: {{country: input.country}}
"""


def _spec(tmp_path: Path, text: str = SPEC) -> System:
    path = tmp_path / "compound.yaml"
    path.write_text(text.format(python=sys.executable, fixture=FIXTURE))
    return System.load(path)


def test_a_spec_declares_mcp_tools_for_agents_and_steps(tmp_path: Path) -> None:
    system = _spec(tmp_path)
    llm = ScriptedLLM([ToolCall("lookup", {"country": "France"}, id="c1"), "Paris."])
    shared = {"llm:llm": llm}
    try:
        flow = build_workflow(system, "assistant", shared=shared)
        result = flow.run({"task": "Capital of France?"})
        assert [t.name for t in llm.calls[0][1].tools] == ["add", "lookup", "fail"]
        assert llm.calls[1][0][-1].content == "Paris"
        assert result.output.answer == "Paris."
        step = build_workflow(system, "capital", shared=shared)
        assert step.run({"country": "Norway"}).output == "Oslo"
    finally:
        shared["mcp:fx"].close()  # type: ignore[attr-defined]


def test_spec_mistakes_are_reported(tmp_path: Path) -> None:
    bad = SPEC.replace("uses: fx.lookup", "uses: fx.lokup")
    with pytest.raises(SpecError, match=r"'fx\.lokup': tool 'lokup' is not in mcp_servers\.fx"):
        _spec(tmp_path, bad)
    both = SPEC.replace("    command: [{python}, {fixture}, stdio]\n",
                        "    command: [{python}, {fixture}, stdio]\n    url: http://x/mcp\n")
    with pytest.raises(SpecError, match="set exactly one of 'command'"):
        _spec(tmp_path, both)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError("the server did not start listening")


def test_a_server_over_streamable_http() -> None:
    port = _free_port()
    process = subprocess.Popen([sys.executable, str(FIXTURE), "http", str(port)])
    try:
        wait_for_port(port, process)
        conn = McpConnection("web", url=f"http://127.0.0.1:{port}/mcp", timeout_s=5)
        try:
            assert McpTool(conn, "add").call({"a": 4, "b": 5}).value == {"sum": 9}
            assert McpTool(conn, "fail").call({}).error == "tool 'fail' failed: disk full"
            assert McpTool(conn, "slow", timeout_s=0.5).call({"seconds": 5}).outcome == "timeout"
        finally:
            conn.close()
    finally:
        process.terminate()
        process.wait(10)


def test_compound_check_never_starts_a_declared_server(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A spec downloaded from elsewhere is checked without running what it names: a server
    command would run code, so the check notes what it could not verify instead; ``--import``
    opts in, as it does for the folder's Python."""
    from compound.cli import main

    marker = tmp_path / "server-ran"
    spy = tmp_path / "spy.py"
    spy.write_text("import pathlib, runpy, sys\n"
                   f"pathlib.Path({str(marker)!r}).write_text('ran')\n"
                   f"sys.argv = [{str(FIXTURE)!r}, 'stdio']\n"
                   f"runpy.run_path({str(FIXTURE)!r}, run_name='__main__')\n")
    text = SPEC.replace("{fixture}", str(spy)).replace("    tools: [add, lookup, fail]\n", "")
    (tmp_path / "compound.yaml").write_text(text.format(python=sys.executable))
    def check(*extra: str) -> int:
        try:
            main(["check", str(tmp_path), *extra])
        except SystemExit as exc:
            return int(exc.code or 0)
        return 0

    code = check()
    captured = capsys.readouterr()
    out = " ".join((captured.out + captured.err).split())
    assert code == 0, out
    assert not marker.exists()
    assert "MCP server 'fx' was not started" in out and "--import" in out
    assert check("--import") == 0, capsys.readouterr()
    assert marker.exists()  # opted in: started, its tools listed and typed
