"""A tiny MCP server for compound's tests, written with the official SDK.

Run as ``python mcp_server_fixture.py stdio`` or ``python mcp_server_fixture.py http PORT``.
Besides well-behaved tools it has hostile ones: one that never answers in time, one that
kills the server, one that writes a line that is not JSON-RPC onto stdout, one whose answer
is huge, and (with ``--bad-schema``) one whose input schema is not a JSON schema.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import mcp_types as types
from mcp.server import Server
from mcp.server.lowlevel.server import NotificationOptions  # noqa: F401 (keeps the import path known)

TOOLS = [
    types.Tool(name="add", description="Add two integers.",
               input_schema={"type": "object",
                             "properties": {"a": {"type": "integer", "description": "first"},
                                            "b": {"type": "integer", "description": "second"}},
                             "required": ["a", "b"]}),
    types.Tool(name="lookup", description="The capital of a country.",
               input_schema={"type": "object", "properties": {"country": {"type": "string"}},
                             "required": ["country"]}),
    types.Tool(name="fail", description="Always fails.",
               input_schema={"type": "object", "properties": {}}),
    types.Tool(name="slow", description="Sleeps.",
               input_schema={"type": "object", "properties": {"seconds": {"type": "number"}},
                             "required": ["seconds"]}),
    types.Tool(name="die", description="Kills the server.",
               input_schema={"type": "object", "properties": {}}),
    types.Tool(name="garbage", description="Writes a line that is not JSON-RPC.",
               input_schema={"type": "object", "properties": {}}),
    types.Tool(name="huge", description="Answers a million characters.",
               input_schema={"type": "object", "properties": {}}),
]
BAD = types.Tool(name="bad", description="Its schema is not a JSON schema.",
                 input_schema={"type": "object", "properties": {"x": {"type": 12}}})
CAPITALS = {"France": "Paris", "Norway": "Oslo"}


def _text(value: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=value)])


async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
    tools = [*TOOLS, BAD] if "--bad-schema" in sys.argv else TOOLS
    return types.ListToolsResult(tools=tools)


async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
    args = params.arguments or {}
    if params.name == "add":
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=str(args["a"] + args["b"]))],
            structured_content={"sum": args["a"] + args["b"]})
    if params.name == "lookup":
        return _text(CAPITALS.get(args["country"], "unknown"))
    if params.name == "fail":
        return types.CallToolResult(content=[types.TextContent(type="text", text="disk full")],
                                    is_error=True)
    if params.name == "slow":
        import anyio

        await anyio.sleep(float(args["seconds"]))
        return _text("awake")
    if params.name == "die":
        os._exit(3)
    if params.name == "garbage":
        sys.stdout.write("this is not json\n")
        sys.stdout.flush()
        time.sleep(0.1)
        return _text("after garbage")
    if params.name == "huge":
        return _text("x" * 1_000_000)
    raise ValueError(f"no tool {params.name}")


server = Server("fixture", on_list_tools=list_tools, on_call_tool=call_tool)


def main() -> None:
    import anyio

    if sys.argv[1] == "stdio":
        from mcp.server.stdio import stdio_server

        async def run_stdio() -> None:
            async with stdio_server() as (read, write):
                await server.run(read, write, server.create_initialization_options())

        anyio.run(run_stdio)
    else:
        import uvicorn

        app = server.streamable_http_app()
        uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")


if __name__ == "__main__":
    main()
