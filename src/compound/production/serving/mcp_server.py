"""`compound mcp serve`: a system's workflows (and, if asked, its retrievers) as MCP tools,
over stdio or streamable HTTP.

Each workflow is a tool of the same name, its description the workflow's, its input schema
the workflow's typed input (the same schema ``compound serve`` publishes). A call runs the
workflow as a served request does: through the :class:`~compound.production.serving.runner.
WorkflowRunner`, with its guard, time limit, trace and run record. A failed or blocked run
answers an MCP tool error (``isError``) saying why, never a traceback. A retriever is a tool
``search_<name>`` taking ``query`` and an optional ``top_k``.

Over HTTP the endpoint (``/mcp``) takes the same API keys as ``compound serve``
(``Authorization: Bearer ck_...`` or ``X-API-Key``); running a workflow needs scope
``write``, so the endpoint does. ``auth: false`` in ``serve:`` (or ``--no-auth``) turns
keys off, for local development only.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from compound.errors import UserError
from compound.json_values import NotJSONError, to_json
from compound.production.serving.schemas import input_model

if TYPE_CHECKING:
    from compound.production.serving.keys import ApiKeys
    from compound.production.serving.runner import WorkflowRunner

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class WorkflowTools:
    """The MCP tools a system offers: its workflows and, optionally, its retrievers.

    Args:
        runner: runs the workflows, as ``compound serve`` does.
        retrievers: retriever components by name, each offered as ``search_<name>``.
    """

    def __init__(self, runner: WorkflowRunner, *, retrievers: Mapping[str, Any] | None = None
                 ) -> None:
        self.runner = runner
        self.retrievers = {f"search_{n}": r for n, r in (retrievers or {}).items()}
        clash = sorted(set(self.retrievers) & set(runner.workflows))
        if clash:
            raise UserError(f"workflows {clash} have the names the retrievers' tools would "
                            "take; rename them, or serve without --retrievers")
        self.models = {n: input_model(n, flow.input_type)
                       for n, flow in runner.workflows.items()}

    def listing(self) -> list[Any]:
        """The tools, as MCP ``Tool`` objects."""
        import mcp_types as types

        tools = []
        for name, flow in self.runner.workflows.items():
            model = self.models[name]
            schema = (model.model_json_schema() if model is not None
                      else {"type": "object", "additionalProperties": True})
            schema.pop("title", None)
            tools.append(types.Tool(name=name, description=flow.description or
                                    f"Run workflow '{name}'.", input_schema=schema))
        for name in self.retrievers:
            tools.append(types.Tool(
                name=name, description=f"Search the '{name[7:]}' documents; the best "
                "passages first.",
                input_schema={"type": "object",
                              "properties": {"query": {"type": "string"},
                                             "top_k": {"type": "integer", "minimum": 1}},
                              "required": ["query"]}))
        return tools

    async def call(self, name: str, arguments: Mapping[str, Any]) -> Any:
        """A tool call's MCP result; every failure is a tool error saying what happened."""
        if name in self.retrievers:
            return await self._search(name, arguments)
        if name not in self.runner.workflows:
            known = [*self.runner.workflows, *self.retrievers]
            return _error(f"no tool '{name}'; the tools are {', '.join(known)}")
        model = self.models[name]
        data: dict[str, Any] = dict(arguments)
        if model is not None:
            from pydantic import ValidationError

            try:
                data = model.model_validate(data).model_dump()
            except ValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc']) or '(arguments)'}: {e['msg']}"
                    for e in exc.errors())
                return _error(f"invalid input for workflow '{name}': {problems}")
        from compound.production.serving.runner import client_message, failure_kind

        try:
            outcome = await self.runner.run(name, data)
        except Exception as exc:
            _, kind = failure_kind(exc)
            return _error(f"workflow '{name}' failed ({kind}): {client_message(exc, kind)}")
        if outcome.guard is not None and outcome.guard.get("action") in ("block", "escalate"):
            return _error(f"workflow '{name}' run {outcome.run_id}: the guardrails answered "
                          f"{outcome.guard.get('action')}: "
                          f"{'; '.join(outcome.guard.get('reasons', []))}")
        return _result(outcome.output, {"run_id": outcome.run_id})

    async def _search(self, name: str, arguments: Mapping[str, Any]) -> Any:
        import asyncio

        query, top_k = arguments.get("query"), arguments.get("top_k")
        if not isinstance(query, str) or not (top_k is None or isinstance(top_k, int)):
            return _error(f"'{name}' takes 'query' (a string) and optionally 'top_k' (an "
                          "integer)")
        retriever = self.retrievers[name]
        try:
            found = await asyncio.to_thread(retriever.run, query, top_k=top_k)
        except Exception as exc:
            return _error(f"'{name}' failed: {type(exc).__name__}: {exc}")
        if not found.hits and await asyncio.to_thread(_empty, retriever):
            return _error(f"'{name}' has nothing to search: its index is empty; run "
                          f"'compound ingest SPEC --retriever {name[7:]}' first")
        hits = [{"doc_id": h.doc_id, "title": h.title, "text": h.text, "score": h.score}
                for h in found.hits]
        return _result({"hits": hits}, {})


def _empty(retriever: Any) -> bool:
    index = getattr(retriever, "index", None)
    return index is not None and index.stats()["chunks"] == 0


def _result(value: Any, meta: Mapping[str, Any]) -> Any:
    import mcp_types as types

    try:
        data = to_json(value, where="the output")
    except NotJSONError as exc:
        return _error(str(exc))
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    structured = data if isinstance(data, dict) else None
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)],
                                structured_content=structured, meta=dict(meta) or None)


def _error(message: str) -> Any:
    import mcp_types as types

    return types.CallToolResult(content=[types.TextContent(type="text", text=message)],
                                is_error=True)


def build_server(tools: WorkflowTools, *, name: str) -> Any:
    """The SDK's low-level MCP ``Server`` offering ``tools``."""
    import mcp_types as types
    from mcp.server import Server

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tools.listing())

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> Any:
        return await tools.call(params.name, params.arguments or {})

    return Server(name, on_list_tools=list_tools, on_call_tool=call_tool)


async def serve_stdio(server: Any) -> None:
    """Serve ``server`` on this process's stdin and stdout until stdin closes."""
    from mcp.server.stdio import stdio_server

    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


class RequireKey:
    """ASGI middleware admitting requests with an API key of scope ``write`` (as running a
    workflow with ``compound serve`` needs); others get 401 or 403 with what to do."""

    def __init__(self, app: ASGIApp, keys: ApiKeys, *, scope: str = "write") -> None:
        self.app = app
        self.keys = keys
        self.scope = scope

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        token = headers.get("x-api-key")
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        if not token:
            await _deny(send, 401, f"this endpoint needs an API key with scope '{self.scope}':"
                        " send 'Authorization: Bearer ck_...' (or 'X-API-Key: ck_...'). "
                        f"Create one with 'compound keys create NAME --scope {self.scope}'")
            return
        import asyncio

        found = await asyncio.to_thread(self.keys.verify, token)
        if found is None:
            await _deny(send, 401, f"the API key '{token[:12]}...' is unknown or revoked")
            return
        if not found.allows(self.scope):  # type: ignore[arg-type]
            await _deny(send, 403, f"key '{found.name}' has scope '{found.scope}'; this "
                        f"endpoint needs '{self.scope}' (scopes nest: read < write < admin)")
            return
        await self.app(scope, receive, send)


async def _deny(send: Send, status: int, message: str) -> None:
    kind = "unauthorized" if status == 401 else "forbidden"
    body = json.dumps({"error": {"type": kind, "message": message}}).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def http_app(server: Any, *, keys: ApiKeys | None, host: str) -> Any:
    """The streamable HTTP app serving ``server`` at ``/mcp``, behind API keys unless
    ``keys`` is None."""
    app = server.streamable_http_app(host=host)
    if keys is None:
        return app
    return RequireKey(app, keys)  # lifespan events pass through to the app


def tools_from_system(system: Any, *, store: Any, retrievers: bool = False) -> WorkflowTools:
    """The tools of a loaded spec: its workflows (guarded, traced and recorded in ``store``
    as ``compound serve`` runs them), and its retrievers when ``retrievers`` is true."""
    from compound.intelligence.llm.versions import system_llm
    from compound.production.rails.steps import run_guard
    from compound.production.serving.runner import WorkflowRunner
    from compound.store.redacting import RedactingStore
    from compound.workflow.loader import build_workflow
    from compound.workflow.tracing import StoreSink, Tracer

    if not system.workflows and not (retrievers and system.retrievers):
        raise UserError(f"system '{system.name}' declares no workflows to offer as MCP tools"
                        + ("" if retrievers else " (--retrievers offers its retrievers)"))
    store = RedactingStore.from_spec(store, system.store.redact)
    shared: dict[str, Any] = {f"llm:{n}": system_llm(system, n, store)
                              for n in system.llms()}
    shared["store"] = store
    workflows = {n: build_workflow(system, n, shared=shared) for n in system.workflows}
    guards = {n: run_guard(system, n, store=store, shared=shared) for n in workflows}
    runner = WorkflowRunner(workflows, store=store, tracer=Tracer(StoreSink(store)),
                            timeout_s=system.serve.timeout_s,
                            guards={n: g for n, g in guards.items() if g is not None})
    found = {}
    if retrievers:
        from compound.orchestration.retrieval.build import build_retriever

        found = {n: build_retriever(system, n) for n in system.retrievers}
    return WorkflowTools(runner, retrievers=found)
