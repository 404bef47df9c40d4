"""MCP servers' tools as compound tools: declared under ``mcp_servers:``, typed from the
server's JSON schemas, called like any tool.

A server's tool is named ``SERVER.TOOL`` in the spec (an agent's ``tools:`` list may also
name the server alone: all of its tools). Models see the tool's own name, after the server's
``prefix``. Its description and argument schema are the server's; arguments a model sends are
checked against that schema before the call. As with Python tools, whatever goes wrong in a
call (a server error, the time limit, a dead server, an answer that is not MCP) goes back to
the model as an observation; a workflow step that uses an MCP tool fails instead, like any
step.

The server is started (or connected to) on first use: building an agent does not start it,
a step using one of its tools does (its inputs are the tool's schema).

Example:
    >>> from compound.orchestration.mcp_client import McpConnection
    >>> conn = McpConnection("files", command=["no-such-mcp-server"], connect_timeout_s=5)
    >>> read = McpTool(conn, "read_file")
    >>> read.name, read.call({"path": "a.txt"}).observation()[:60]
    ('read_file', "error: MCP server 'files' could not be started: (no-such-mcp")
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

from compound.errors import RuntimeFailure, UserError
from compound.orchestration.mcp_client import (
    McpAnswer,
    McpCallTimeout,
    McpConnection,
    McpServerError,
    McpToolInfo,
    environment_for,
)
from compound.orchestration.tools import SchemaTool, ToolArgumentsError, ToolResult
from compound.specfile import did_you_mean

if TYPE_CHECKING:
    from compound.orchestration.spec import McpServerSpec
    from compound.system import System


class McpTool(SchemaTool):
    """A tool of an MCP server, offered to models like a Python :class:`Tool`.

    Args:
        connection: the server.
        tool: the tool's name on the server.
        name: the name models call it by; ``tool`` by default.
        description: shown to models; the server's description by default.
        side_effects: True when a call changes the world.
        timeout_s: the longest one call may take; the connection's by default.
    """

    def __init__(self, connection: McpConnection, tool: str, *, name: str | None = None,
                 description: str | None = None, side_effects: bool = False,
                 timeout_s: float | None = None) -> None:
        self.connection = connection
        self.tool = tool
        super().__init__(self._invoke, name=name or tool, description=description,
                         side_effects=side_effects,
                         timeout_s=timeout_s or connection.timeout_s)

    @cached_property
    def info(self) -> McpToolInfo:
        """The server's listing of this tool (starts the server).

        Raises:
            McpServerError: the server cannot be reached, lists no such tool, or lists it
                with an input schema that is not a JSON schema.
        """
        listed = self.connection.list_tools()
        for info in listed:
            if info.name == self.tool:
                if info.problem:
                    raise McpServerError(f"tool '{self.tool}' of MCP server "
                                         f"'{self.connection.name}' cannot be offered to a "
                                         f"model: {info.problem}")
                return info
        names = [i.name for i in listed]
        raise McpServerError(
            f"MCP server '{self.connection.name}' has no tool '{self.tool}'"
            f"{did_you_mean(self.tool, names)}; it lists: {', '.join(names) or 'none'}")

    @property
    def description(self) -> str:
        if self._description is not None:
            return self._description
        return self.info.description or self.name

    @cached_property
    def parameters(self) -> dict[str, Any]:
        schema = dict(self.info.input_schema)
        schema.setdefault("type", "object")
        schema.setdefault("properties", {})
        return schema

    def _checked(self, arguments: Mapping[str, Any], call_id: str) -> dict[str, Any] | ToolResult:
        try:
            return self.validate(arguments)
        except ToolArgumentsError as exc:
            return ToolResult(self.name, "invalid_arguments", call_id=call_id,
                              error=f"invalid arguments for tool '{self.name}': {exc}. "
                                    f"Expected arguments: {self._expected()}")
        except McpServerError as exc:
            return ToolResult(self.name, "error", call_id=call_id, error=str(exc))

    def _result(self, answer: McpAnswer, start: float, call_id: str) -> ToolResult:
        took = time.perf_counter() - start
        if answer.is_error:
            return ToolResult(self.name, "error", call_id=call_id, duration_s=took,
                              error=f"tool '{self.name}' failed: {answer.value}")
        return self._finish(answer.value, start, call_id)

    def _mcp_failed(self, exc: McpServerError, start: float, call_id: str) -> ToolResult:
        took = time.perf_counter() - start
        if isinstance(exc, McpCallTimeout):
            return self._timed_out(exc.timeout_s, took, call_id)
        return ToolResult(self.name, "error", call_id=call_id, duration_s=took,
                          error=str(exc))

    def call(self, arguments: Mapping[str, Any], *, ctx: Any = None, call_id: str = ""
             ) -> ToolResult:
        """Validate, call the server within the time limit, and report; never raises for the
        server's faults."""
        checked = self._checked(arguments, call_id)
        if isinstance(checked, ToolResult):
            return checked
        start = time.perf_counter()
        try:
            answer = self.connection.call(self.tool, checked, timeout_s=self.timeout_s)
        except McpServerError as exc:
            return self._mcp_failed(exc, start, call_id)
        return self._result(answer, start, call_id)

    async def acall(self, arguments: Mapping[str, Any], *, ctx: Any = None, call_id: str = ""
                    ) -> ToolResult:
        """Like :meth:`call`, awaited."""
        checked = self._checked(arguments, call_id)
        if isinstance(checked, ToolResult):
            return checked
        start = time.perf_counter()
        try:
            answer = await self.connection.acall(self.tool, checked, timeout_s=self.timeout_s)
        except McpServerError as exc:
            return self._mcp_failed(exc, start, call_id)
        return self._result(answer, start, call_id)

    def _invoke(self, **arguments: Any) -> Any:
        """Call the tool directly: its value, or an exception for a failure."""
        result = self.call(arguments)
        if not result.ok:
            raise RuntimeFailure(result.error or result.outcome)
        return result.value

    def __repr__(self) -> str:
        return f"McpTool({self.connection.name}.{self.tool}, name={self.name!r})"


_JSON_TYPES: dict[str, Any] = {"string": str, "integer": int, "number": float,
                               "boolean": bool, "array": list, "object": dict}


class McpToolStep:
    """An MCP tool as a workflow step: its required arguments are the step's inputs (typed
    from the tool's schema), the tool's answer its output. A failure fails the step."""

    output_type: Any = Any

    def __init__(self, tool: McpTool) -> None:
        self.tool = tool
        schema = tool.parameters  # starts the server: the step's inputs are the schema's
        required = set(schema.get("required", []))
        self.input_types: dict[str, Any] = {}
        for name, prop in schema.get("properties", {}).items():
            if name in required:
                kind = prop.get("type") if isinstance(prop, Mapping) else None
                self.input_types[name] = _JSON_TYPES.get(kind, Any) if isinstance(
                    kind, str) else Any

    def _value(self, result: ToolResult) -> Any:
        if not result.ok:
            raise RuntimeFailure(result.error or result.outcome)
        return result.value

    def run(self, ctx: Any, **inputs: Any) -> Any:
        return self._value(self.tool.call(inputs))

    async def arun(self, ctx: Any, **inputs: Any) -> Any:
        return self._value(await self.tool.acall(inputs))


# -- from the spec --------------------------------------------------------------------------


def connection_from_spec(name: str, spec: McpServerSpec, *, base_dir: Any = None
                         ) -> McpConnection:
    """The connection a ``mcp_servers:`` entry declares (nothing is started, no environment
    variable read)."""
    from pathlib import Path

    base = Path(base_dir) if base_dir is not None else Path.cwd()
    cwd = None
    if spec.command is not None:
        cwd = (base / spec.cwd) if spec.cwd is not None else base
    return McpConnection(
        name, command=spec.command, url=spec.url,
        env=environment_for(spec.pass_env, spec.env) if spec.command is not None else None,
        cwd=cwd, headers=spec.headers, headers_env=spec.headers_env, timeout_s=spec.timeout_s,
        connect_timeout_s=spec.connect_timeout_s, max_output_chars=spec.max_output_chars)


def shared_connection(system: System, server: str, shared: dict[str, Any] | None = None
                      ) -> McpConnection:
    """One connection per server across the tools and steps built with ``shared``."""
    key = f"mcp:{server}"
    if shared is not None and key in shared:
        found: McpConnection = shared[key]
        return found
    if server not in system.mcp_servers:
        raise UserError(f"no MCP server '{server}'{did_you_mean(server, system.mcp_servers)}"
                        f"; declared under 'mcp_servers': "
                        f"{', '.join(system.mcp_servers) or 'none'}")
    base = system.source.parent if system.source is not None else None
    conn = connection_from_spec(server, system.mcp_servers[server], base_dir=base)
    if shared is not None:
        shared[key] = conn
    return conn


def is_mcp_reference(system: System, name: str) -> bool:
    """Whether ``name`` is ``SERVER.TOOL`` (or, for an agent's tools, ``SERVER``)."""
    return name.split(".", 1)[0] in system.mcp_servers and name not in system.tools


def mcp_tool(system: System, reference: str, shared: dict[str, Any] | None = None
             ) -> McpTool:
    """The tool ``SERVER.TOOL`` names (nothing is started).

    Raises:
        UserError: no such server, or a tool its allow-list leaves out.
    """
    server, _, tool = reference.partition(".")
    conn = shared_connection(system, server, shared)
    spec = system.mcp_servers[server]
    if not tool:
        raise UserError(f"'{reference}' names MCP server '{server}'; name one of its tools "
                        f"as '{server}.TOOL'")
    if spec.tools is not None and tool not in spec.tools:
        raise UserError(f"'{reference}': tool '{tool}' is not in mcp_servers.{server}.tools"
                        f"{did_you_mean(tool, spec.tools)}; allowed: {', '.join(spec.tools)}")
    return McpTool(conn, tool, name=f"{spec.prefix}{tool}",
                   side_effects=spec.has_side_effects(tool), timeout_s=spec.timeout_s)


def mcp_server_tools(system: System, server: str, shared: dict[str, Any] | None = None
                     ) -> list[McpTool]:
    """Every tool of ``server`` its allow-list admits. Without an allow-list the server is
    started to list them; a tool whose schema is not a JSON schema is left out then."""
    spec = system.mcp_servers[server]
    names = spec.tools
    if names is None:
        conn = shared_connection(system, server, shared)
        names = [info.name for info in conn.list_tools() if not info.problem]
    return [mcp_tool(system, f"{server}.{name}", shared) for name in names]
