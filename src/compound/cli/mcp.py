"""`compound mcp serve` and `compound tools list`: MCP both ways.

`compound mcp serve SPEC` offers the system's workflows (and with --retrievers its
retrievers) as MCP tools, over stdio or streamable HTTP; `compound tools list SPEC` shows the
tools a spec declares, Python functions and MCP servers' tools alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from compound.cli import app
from compound.console import console, console_err, styled

mcp_app = typer.Typer(help="MCP (Model Context Protocol): serve a system's workflows as "
                           "MCP tools.", no_args_is_help=True)
app.add_typer(mcp_app, name="mcp")
tools_app = typer.Typer(help="The tools a system declares.", no_args_is_help=True)
app.add_typer(tools_app, name="tools")

SPEC_ARG = Annotated[
    Path, typer.Argument(help="a compound.yaml, or a folder holding one", show_default=False)
]


@mcp_app.command("serve")
def mcp_serve(
    spec: SPEC_ARG,
    transport: Annotated[str, typer.Option(
        help="'stdio' (the client starts this command) or 'http' (streamable HTTP at "
             "/mcp)")] = "stdio",
    host: Annotated[str | None, typer.Option(
        help="with --transport http: address to bind (default: serve.host)")] = None,
    port: Annotated[int | None, typer.Option(
        help="with --transport http: port (default: serve.port)")] = None,
    no_auth: Annotated[bool, typer.Option(
        "--no-auth", help="with --transport http: no API keys (local development only)")
    ] = False,
    retrievers: Annotated[bool, typer.Option(
        "--retrievers", help="also offer each retriever as a tool search_<name>")] = False,
    home: Annotated[Path | None, typer.Option(
        "--home", help="folder of the store (DIR/compound.db) holding runs and API keys; "
        "default: the spec's store")] = None,
) -> None:
    """Serve a system's workflows as MCP tools: each workflow a tool of its name, its input
    schema the workflow's typed input. Runs are guarded, traced and recorded as with
    'compound serve'. Over HTTP the same API keys apply (scope 'write')."""
    import anyio

    from compound.errors import UserError, require
    from compound.production.serving.mcp_server import (
        build_server,
        http_app,
        serve_stdio,
        tools_from_system,
    )
    from compound.store import open_store
    from compound.system import System

    require("mcp", extra="mcp", what="compound mcp serve")
    if transport not in ("stdio", "http"):
        raise UserError(f"--transport takes 'stdio' or 'http', not {transport!r}")
    system = System.load(spec)
    store = (open_store(path=home.expanduser() / "compound.db") if home is not None
             else open_store(system))
    tools = tools_from_system(system, store=store, retrievers=retrievers)
    server = build_server(tools, name=system.name)
    if transport == "stdio":
        anyio.run(serve_stdio, server)
        return
    require("uvicorn", extra="serve", what="compound mcp serve --transport http")
    from compound.production.serving import serve
    from compound.production.serving.keys import ApiKeys

    bind_host = host or system.serve.host
    bind_port = port if port is not None else system.serve.port
    auth = system.serve.auth and not no_auth
    keys = ApiKeys(store) if auth else None
    if not auth and bind_host not in ("127.0.0.1", "localhost", "::1"):
        console_err.print(styled("[bold yellow]warning:[/] serving without API keys on {host}",
                                 host=bind_host))
    if keys is not None and keys.count_active() == 0:
        console_err.print("no API key exists yet; create one with 'compound keys create NAME "
                          "--scope write'", markup=False)
    console_err.print(styled("serving [bold]{name}[/] over MCP at http://{host}:{port}/mcp",
                             name=system.name, host=bind_host, port=bind_port))
    serve(http_app(server, keys=keys, host=bind_host), host=bind_host, port=bind_port)


@tools_app.command("list")
def tools_list(
    spec: SPEC_ARG,
    connect: Annotated[bool, typer.Option(
        "--connect/--no-connect", help="start (or connect to) each MCP server to list its "
        "tools and schemas")] = True,
) -> None:
    """List a system's tools: Python functions under 'tools:' and MCP servers' tools under
    'mcp_servers:' (with the name models see, and each one's arguments)."""
    from rich.table import Table
    from rich.text import Text

    from compound.errors import RuntimeFailure
    from compound.system import System

    system = System.load(spec)
    table = Table(title=f"{system.name}: tools", title_justify="left")
    for column in ("tool", "from", "model sees", "arguments", "description"):
        table.add_column(column)

    def add_row(*cells: str | Text) -> None:
        # names and descriptions come from servers: shown as text, never read as markup
        table.add_row(*(c if isinstance(c, Text) else Text(c) for c in cells))
    for name, tool in system.tools.items():
        from compound.workflow.adapters import tool_from_spec

        built = tool_from_spec(name, tool)
        add_row(name, tool.function, built.name, _arguments(built.parameters),
                      built.description)
    for server, server_spec in system.mcp_servers.items():
        where = server_spec.url or " ".join(server_spec.command or [])
        if not connect:
            for tool_name in server_spec.tools or ["*"]:
                add_row(f"{server}.{tool_name}", f"mcp: {where}", "", "", "")
            continue
        from compound.orchestration.mcp_tools import mcp_server_tools, shared_connection

        shared: dict[str, object] = {}
        try:
            listed = {i.name: i for i in shared_connection(system, server, shared).list_tools()}
            for built_tool in mcp_server_tools(system, server, shared):
                info = listed.get(built_tool.tool)
                if info is None or info.problem:
                    problem = "not listed by the server" if info is None else info.problem
                    add_row(f"{server}.{built_tool.tool}", f"mcp: {where}", "",
                                  "", Text(f"unusable: {problem}", style="red"))
                    continue
                add_row(f"{server}.{built_tool.tool}", f"mcp: {where}", built_tool.name,
                              _arguments(built_tool.parameters), built_tool.description)
            for info in listed.values():
                if info.problem and server_spec.tools is None:
                    add_row(f"{server}.{info.name}", f"mcp: {where}", "", "",
                                  Text(f"left out: {info.problem}", style="red"))
        except RuntimeFailure as exc:
            add_row(f"{server}.*", f"mcp: {where}", "", "", Text(str(exc), style="red"))
        finally:
            for conn in shared.values():
                conn.close()  # type: ignore[attr-defined]
    console.print(table)


def _arguments(schema: dict[str, object]) -> str:
    props = schema.get("properties") or {}
    required = set(schema.get("required") or [])  # type: ignore[call-overload]
    parts = []
    for name, prop in props.items():  # type: ignore[attr-defined]
        kind = prop.get("type", "any") if isinstance(prop, dict) else "any"
        parts.append(f"{name}: {kind}" + ("" if name in required else "?"))
    return ", ".join(parts)
