"""A connection to one MCP server, spoken to over stdio (a command) or streamable HTTP (a URL).

The official MCP SDK is asynchronous and its sessions are bound to the task that opened
them, while tools are called from sync code, from other event loops and from worker threads.
So each :class:`McpConnection` keeps its session on a thread of its own, with its own event
loop; calls are handed to that loop and waited for with a time limit. The server is started
on first use, and started again on the next call after it died.

Every call is bounded in time (``timeout_s``; starting and connecting by
``connect_timeout_s``). What the server answers is checked: a tool listing that is not valid
MCP, a tool whose input schema is not a JSON schema, an answer too long to show a model, all
give an error saying which server and tool, not a traceback.

Example:
    >>> conn = McpConnection("files", command=["no-such-mcp-server"], connect_timeout_s=5)
    >>> conn.list_tools()
    Traceback (most recent call last):
    ...
    compound.orchestration.mcp_client.McpServerError: MCP server 'files' could not be started: ...
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import threading
import weakref
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from compound.errors import RuntimeFailure, require

if TYPE_CHECKING:
    from mcp import Client

T = TypeVar("T")


class McpServerError(RuntimeFailure):
    """An MCP server could not be started or reached, or answered something that is not MCP."""


class McpCallTimeout(McpServerError):
    """An MCP call did not finish within its time limit."""

    def __init__(self, message: str, timeout_s: float) -> None:
        super().__init__(message)
        self.timeout_s = timeout_s


@dataclass(frozen=True)
class McpToolInfo:
    """One tool a server lists: its name, description and input schema, or what is wrong
    with them (``problem``; such a tool is not offered to models)."""

    name: str
    description: str
    input_schema: dict[str, Any]
    problem: str | None = None


@dataclass(frozen=True)
class McpAnswer:
    """What a tool call answered: a JSON value (the structured content when the server gave
    one, else the text), and whether the server flagged it as an error."""

    value: Any
    is_error: bool
    truncated_from: int | None = None


def _schema_problem(schema: Any) -> str | None:
    """Why ``schema`` cannot be a tool's input schema, or None."""
    from jsonschema import SchemaError
    from jsonschema.validators import validator_for

    if not isinstance(schema, Mapping):
        return f"its input schema is a {type(schema).__name__}, not a JSON object"
    if schema.get("type", "object") != "object":
        return f"its input schema has type {schema.get('type')!r}; a tool takes an object"
    try:
        validator_for(schema).check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        return f"its input schema is not a valid JSON schema at {where}: {exc.message}"
    return None


class McpConnection:
    """One MCP server, started (or connected to) on first use.

    Args:
        name: the server's name in the spec, for messages.
        command: argv of a stdio server (no shell).
        url: a streamable HTTP endpoint (instead of ``command``).
        env: environment variables for the command, over a minimal default environment.
        cwd: the command's working folder.
        headers: HTTP headers sent to ``url``.
        headers_env: HTTP header -> the environment variable holding its value (read when
            connecting).
        timeout_s: default time limit of one call.
        connect_timeout_s: time limit for starting and connecting.
        max_output_chars: longer answers are cut to this many characters.
    """

    def __init__(self, name: str, *, command: Sequence[str] | None = None,
                 url: str | None = None, env: Mapping[str, str] | None = None,
                 cwd: str | Path | None = None, headers: Mapping[str, str] | None = None,
                 headers_env: Mapping[str, str] | None = None,
                 timeout_s: float = 30.0, connect_timeout_s: float = 20.0,
                 max_output_chars: int = 100_000) -> None:
        if (command is None) == (url is None):
            raise ValueError("give exactly one of command or url")
        self.name = name
        self.command = list(command) if command is not None else None
        self.url = url
        self.env = dict(env or {})
        self.cwd = cwd
        self.headers = dict(headers or {})
        self.headers_env = dict(headers_env or {})
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.max_output_chars = max_output_chars
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._session = _Session()
        self._tools: list[McpToolInfo] | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None

    @property
    def where(self) -> str:
        return self.url if self.url is not None else " ".join(self.command or [])

    # -- the loop thread and the session ----------------------------------------------------

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None or self._loop.is_closed():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, daemon=True,
                                      name=f"mcp-{self.name}")
            thread.start()
            self._loop = loop
            self._finalizer = weakref.finalize(self, _shutdown, loop, self._session)
        return self._loop

    def _transport(self) -> Any:
        from mcp import StdioServerParameters

        if self.command is not None:
            return StdioServerParameters(command=self.command[0], args=self.command[1:],
                                         env=self.env or None,
                                         cwd=str(self.cwd) if self.cwd is not None else None)
        headers = dict(self.headers)
        for header, variable in self.headers_env.items():
            if variable not in os.environ:
                raise McpServerError(
                    f"MCP server '{self.name}': header '{header}' takes its value from the "
                    f"environment variable {variable}, which is not set; set it")
            headers[header] = os.environ[variable]
        if not headers:
            return self.url
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        assert self.url is not None
        http = httpx2.AsyncClient(headers=headers, timeout=self.timeout_s)
        return streamable_http_client(self.url, http_client=http)

    async def _hold(self, ready: asyncio.Future[None]) -> None:
        """Open the session, report it ready, and keep it open until asked to stop: the
        SDK's session must be closed by the task that opened it."""
        from mcp import Client

        stop = asyncio.Event()
        try:
            async with Client(self._transport(), read_timeout_seconds=self.timeout_s) as client:
                self._session.client, self._session.stop = client, stop
                if not ready.done():
                    ready.set_result(None)
                await stop.wait()
        except BaseException as exc:  # the starter reports it
            if not ready.done():
                ready.set_exception(exc)
        finally:
            self._session.client = self._session.stop = None

    async def _connect(self) -> Client:
        session = self._session
        if session.starting is None:
            session.starting = asyncio.Lock()
        async with session.starting:  # concurrent first calls start one server, not several
            if session.client is not None:
                return session.client
            return await self._start()

    async def _start(self) -> Client:
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        holder = asyncio.ensure_future(self._hold(ready))
        try:
            await asyncio.wait_for(asyncio.shield(ready), self.connect_timeout_s)
        except TimeoutError:
            holder.cancel()
            raise McpServerError(
                f"MCP server '{self.name}' ({self.where}) did not start and answer within "
                f"{self.connect_timeout_s:g}s; check the command or URL, or raise "
                f"connect_timeout_s") from None
        except Exception as exc:
            raise McpServerError(
                f"MCP server '{self.name}' could not be started: ({self.where}): "
                f"{_describe(exc)}") from None
        assert self._session.client is not None
        return self._session.client

    def _submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        with self._lock:
            loop = self._ensure_loop()
        return asyncio.run_coroutine_threadsafe(coro, loop)

    def _wait(self, coro: Coroutine[Any, Any, T], limit_s: float) -> T:
        future = self._submit(coro)
        try:
            # the coroutine bounds itself; this margin only guards against a stuck loop
            return future.result(limit_s + 5.0)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise McpCallTimeout(f"MCP server '{self.name}' did not answer within "
                                 f"{limit_s:g}s", limit_s) from None

    async def _await(self, coro: Coroutine[Any, Any, T], limit_s: float) -> T:
        future = self._submit(coro)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), limit_s + 5.0)
        except TimeoutError:
            raise McpCallTimeout(f"MCP server '{self.name}' did not answer within "
                                 f"{limit_s:g}s", limit_s) from None

    async def _reset(self) -> None:
        """Close the session (after the server died), so that the next call starts anew."""
        if self._session.stop is not None:
            self._session.stop.set()
        self._session.client = None

    # -- listing and calling ----------------------------------------------------------------

    async def _list(self) -> list[McpToolInfo]:
        from pydantic import ValidationError

        client = await self._connect()
        found: list[McpToolInfo] = []
        cursor: str | None = None
        try:
            for _ in range(100):  # a server that pages forever cannot hang us
                page = await asyncio.wait_for(client.list_tools(cursor=cursor),
                                              self.timeout_s)
                for tool in page.tools:
                    schema = tool.input_schema
                    found.append(McpToolInfo(tool.name, tool.description or "",
                                             dict(schema) if isinstance(schema, Mapping)
                                             else {}, _schema_problem(schema)))
                cursor = page.next_cursor
                if cursor is None:
                    break
        except TimeoutError:
            raise McpCallTimeout(f"MCP server '{self.name}' did not list its tools within "
                                 f"{self.timeout_s:g}s", self.timeout_s) from None
        except ValidationError as exc:
            raise McpServerError(
                f"MCP server '{self.name}' answered the tool listing with something that is "
                f"not a valid MCP tool list: {_first_problem(exc)}") from None
        except Exception as exc:
            await self._reset()
            raise McpServerError(f"MCP server '{self.name}' failed to list its tools: "
                                 f"{_describe(exc)}") from None
        return found

    def list_tools(self) -> list[McpToolInfo]:
        """The server's tools (listed once, then remembered).

        Raises:
            McpServerError: the server could not be started, or its listing is not MCP.
        """
        if self._tools is None:
            self._not_while_checking()
            limit = self.connect_timeout_s + self.timeout_s
            self._tools = self._wait(self._bounded(self._list(), limit), limit)
        return self._tools

    async def alist_tools(self) -> list[McpToolInfo]:
        """Like :meth:`list_tools`, awaited."""
        if self._tools is None:
            self._not_while_checking()
            limit = self.connect_timeout_s + self.timeout_s
            self._tools = await self._await(self._bounded(self._list(), limit), limit)
        return self._tools

    async def _bounded(self, coro: Coroutine[Any, Any, T], limit_s: float) -> T:
        try:
            return await asyncio.wait_for(coro, limit_s)
        except TimeoutError:
            raise McpCallTimeout(f"MCP server '{self.name}' did not answer within "
                                 f"{limit_s:g}s", limit_s) from None

    async def _call(self, tool: str, arguments: dict[str, Any], timeout_s: float
                    ) -> McpAnswer:
        from mcp import MCPError
        from mcp_types import CONNECTION_CLOSED
        from pydantic import ValidationError

        client = await self._connect()
        try:
            result = await asyncio.wait_for(
                client.call_tool(tool, arguments, read_timeout_seconds=timeout_s), timeout_s)
        except TimeoutError:
            raise McpCallTimeout(f"tool '{tool}' of MCP server '{self.name}' did not answer "
                                 f"within {timeout_s:g}s", timeout_s) from None
        except MCPError as exc:
            if exc.code == CONNECTION_CLOSED:
                await self._reset()
                raise McpServerError(
                    f"MCP server '{self.name}' closed the connection (it may have died); it "
                    "will be started again on the next call") from None
            if "timed out" in str(exc):
                raise McpCallTimeout(f"tool '{tool}' of MCP server '{self.name}' did not "
                                     f"answer within {timeout_s:g}s", timeout_s) from None
            raise McpServerError(f"MCP server '{self.name}' answered an error for tool "
                                 f"'{tool}': {exc}") from None
        except ValidationError as exc:
            raise McpServerError(f"MCP server '{self.name}' answered tool '{tool}' with "
                                 f"something that is not MCP: {_first_problem(exc)}") from None
        except Exception as exc:
            await self._reset()
            raise McpServerError(f"calling tool '{tool}' of MCP server '{self.name}' failed: "
                                 f"{_describe(exc)}") from None
        return self._answer(result)

    def _answer(self, result: Any) -> McpAnswer:
        import json

        value: Any
        if result.structured_content is not None and not result.is_error:
            value = result.structured_content
            text = json.dumps(value, ensure_ascii=False, default=str)
        else:
            parts = [_content_text(block) for block in result.content]
            value = text = "\n".join(parts)
        if len(text) > self.max_output_chars:
            return McpAnswer(
                f"{text[:self.max_output_chars]}\n[cut: the answer had {len(text)} characters; "
                f"the first {self.max_output_chars} are shown]", bool(result.is_error),
                len(text))
        return McpAnswer(value, bool(result.is_error))

    def call(self, tool: str, arguments: Mapping[str, Any], *, timeout_s: float | None = None
             ) -> McpAnswer:
        """Call ``tool``; starts the server if needed.

        Raises:
            McpCallTimeout: no answer within ``timeout_s`` (the connection's by default).
            McpServerError: the server could not be reached or answered something not MCP.
        """
        self._not_while_checking()
        limit = timeout_s or self.timeout_s
        total = limit + (self.connect_timeout_s if self._session.client is None else 0.0)
        return self._wait(self._call(tool, dict(arguments), limit), total)

    async def acall(self, tool: str, arguments: Mapping[str, Any], *,
                    timeout_s: float | None = None) -> McpAnswer:
        """Like :meth:`call`, awaited (on any event loop)."""
        self._not_while_checking()
        limit = timeout_s or self.timeout_s
        total = limit + (self.connect_timeout_s if self._session.client is None else 0.0)
        return await self._await(self._call(tool, dict(arguments), limit), total)

    def _not_while_checking(self) -> None:
        """``compound check`` reads a spec without running anything it names: a server is
        not started (or called) while a check reads code (``compound check --import`` opts
        in), and what needed it becomes a note of what the check could not verify."""
        from compound.code.guard import UnverifiedReference, active

        if self._session.client is None and active() is not None:
            raise UnverifiedReference(
                f"MCP server '{self.name}' was not started ({self.where}): compound check "
                "does not run what a spec names; its tools are checked when the system "
                "runs, or by compound check --import")

    def close(self) -> None:
        """Stop the server (or close the HTTP session) and the loop thread."""
        if self._finalizer is not None:
            self._finalizer()
        self._loop = None

    def __repr__(self) -> str:
        return f"McpConnection({self.name!r}, {self.where!r})"


class _Session:
    """The open session, kept apart from the connection so that the connection's finalizer
    (which holds it) does not keep the connection alive."""

    def __init__(self) -> None:
        self.client: Client | None = None
        self.stop: asyncio.Event | None = None
        self.starting: asyncio.Lock | None = None


def _shutdown(loop: asyncio.AbstractEventLoop, session: _Session) -> None:
    """Close the session on its loop, then stop the loop (also at interpreter exit)."""
    if loop.is_closed():
        return

    async def stop() -> None:
        stop_event = session.stop
        if stop_event is not None:
            stop_event.set()
            await asyncio.sleep(0)
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        if pending:
            await asyncio.wait(pending, timeout=5.0)

    with contextlib.suppress(Exception):  # best effort, at shutdown
        asyncio.run_coroutine_threadsafe(stop(), loop).result(10.0)
    loop.call_soon_threadsafe(loop.stop)


def _content_text(block: Any) -> str:
    kind = getattr(block, "type", "")
    if kind == "text":
        return str(block.text)
    if kind in ("image", "audio"):
        size = len(getattr(block, "data", "") or "") * 3 // 4
        return f"[{kind} {getattr(block, 'mime_type', '')}, about {size} bytes, not shown]"
    if kind == "resource_link":
        return f"[resource {getattr(block, 'uri', '')}]"
    if kind == "resource":
        resource = block.resource
        return str(getattr(resource, "text", None) or f"[resource {resource.uri}]")
    return f"[{kind or type(block).__name__} content, not shown]"


def _first_problem(exc: Any) -> str:
    errors = exc.errors()
    if not errors:
        return str(exc)
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "(answer)"
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    return f"{where}: {first.get('msg')}{more}"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        leaves = exc.exceptions
        if leaves:
            return _describe(leaves[0])
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if str(exc) else text


def environment_for(names: Sequence[str], env: Mapping[str, str]) -> dict[str, str]:
    """The environment a stdio server gets: ``env`` over the named variables of ours."""
    passed = {n: os.environ[n] for n in names if n in os.environ}
    return {**passed, **env}


def require_mcp() -> None:
    """Import the MCP SDK, or say which extra installs it."""
    require("mcp", extra="mcp", what="MCP servers and 'compound mcp serve'")
