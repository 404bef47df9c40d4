"""A small OpenAI-compatible HTTP server on 127.0.0.1 in front of any compound :class:`LLM`.

It lets tests (ours and users') exercise the OpenAI-compatible provider over real HTTP, with
the scripted model or the embedded one behind it, and inject the failures real servers show:

* ``"status:429"`` / ``"status:500"`` / ``"status:503"``: answer with that status;
* ``"malformed"``: a 200 whose body is not JSON; ``"no-choices"``: JSON without choices;
* ``"drop-stream"``: a stream cut after its first piece, with no finish;
* ``"slow:2.5"``: wait that many seconds before answering;
* ``"stall:60"``: read the request, then send nothing (not even headers) for that long;
* ``"trickle:2"``: send the headers at once, then the answer one byte every 2 seconds
  (after a few hundred bytes of padding: whitespace for JSON, a comment line for SSE), the
  way a client's per-read timeout never notices;
* ``"garbage:utf8"``, ``"garbage:binary"``, ``"garbage:truncated"``, ``"garbage:sse"``: a
  200 whose body is invalid UTF-8, random bytes, JSON cut short, or SSE events of garbage.

The stall, trickle and garbage faults answer on any other route (GET or POST), so it stands in
for other APIs (Anthropic's ``/v1/messages``, a Qdrant server) when the bytes are the point.

While it waits or trickles, the server notices a client that hung up and stops; it counts the
connections it has open in :attr:`LocalOpenAIServer.open_connections`, so tests can check that
a client gave a slow call up rather than leaving it running.

Example:
    >>> from compound.intelligence.llm import ScriptedLLM
    >>> with LocalOpenAIServer(ScriptedLLM(["hi"])) as server:
    ...     server.base_url.startswith("http://127.0.0.1:")
    True
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from compound.errors import UserError
from compound.intelligence.llm.base import LLM
from compound.intelligence.llm.errors import LLMError
from compound.intelligence.llm.types import (
    Completion,
    Message,
    TextDelta,
    ToolCall,
    ToolDefinition,
    Usage,
)


class LocalOpenAIServer:
    """Serve ``llm`` at ``/v1/chat/completions`` on 127.0.0.1 in a background thread.

    Args:
        llm: the model answering requests.
        port: 0 picks a free port.
        fault: a failure to inject into every request (see the module docstring); may be
            changed between requests through the attribute.
    """

    def __init__(self, llm: LLM, *, port: int = 0, fault: str | None = None) -> None:
        self.llm = llm
        self.port = port
        self.fault = fault
        self.requests: list[dict[str, Any]] = []
        self.open_connections = 0
        self.connections = 0  # accepted since start
        self._count = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """The ``/v1`` URL to give the OpenAI-compatible provider."""
        assert self._server is not None, "start the server first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> LocalOpenAIServer:
        handler = type("Handler", (_Handler,), {"owner": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> LocalOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    owner: LocalOpenAIServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def setup(self) -> None:
        super().setup()
        with self.owner._count:
            self.owner.open_connections += 1
            self.owner.connections += 1

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.owner._count:
                self.owner.open_connections -= 1

    def _client_gone(self, seconds: float) -> bool:
        """Wait up to ``seconds``; True as soon as the client has hung up."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            readable, _, _ = select.select([self.connection], [], [], left)
            if readable:
                try:
                    if self.connection.recv(1, socket.MSG_PEEK) == b"":
                        return True
                except OSError:
                    return True
                time.sleep(min(left, 0.05))  # pipelined bytes: not a hang-up; keep waiting
        return False

    def _trickle(self, body: bytes, interval: float, content_type: str) -> None:
        """Headers now, then ``body`` one byte every ``interval`` seconds."""
        self.close_connection = True
        try:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.flush()
            for index in range(len(body)):
                if self._client_gone(interval):
                    return
                self.wfile.write(body[index:index + 1])
                self.wfile.flush()
        except OSError:  # the client gave up
            return

    def _any_route(self, fault: str, request: dict[str, Any]) -> None:
        """A stall, trickle or garbage fault on another API's route (Anthropic's, say): the
        bytes are the fault, whatever the API."""
        kind, _, value = fault.partition(":")
        if kind == "stall":
            self.close_connection = True
            self._client_gone(float(value))
        elif kind == "trickle":
            self._trickle(b" " * 300 + b"{}", float(value), "application/json")
        else:
            self._garbage(value, bool(request.get("stream")))

    def _garbage(self, kind: str, stream: bool) -> None:
        if kind == "sse" or (stream and kind != "utf8"):
            body = (b"data: {\"id\": \"x\", \"choices\": [{\"delta\": \x00\xff}]}\n\n"
                    b"data: \x89PNG\r\n\x1a\n\n\ndata: [DONE]\n\n")
            self._send(200, body, "text/event-stream")
        elif kind == "utf8":
            self._send(200, b'{"choices": [{"message": {"content": "caf\xe9 \xff\xfe"}}]}')
        elif kind == "binary":
            self._send(200, bytes(range(256)) * 4, "application/json")
        else:  # truncated
            self._send(200, json.dumps(_completion_body(_GARBAGE_COMPLETION)).encode()[:37])

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
            self.close_connection = True

    def _error(self, status: int, message: str, code: str = "error") -> None:
        body = {"error": {"message": message, "type": code, "code": code}}
        self._send(status, json.dumps(body).encode())

    def do_GET(self) -> None:
        fault = self.owner.fault or ""
        if self.path.rstrip("/") != "/v1/models" and fault.startswith(
                ("stall:", "trickle:", "garbage:")):
            self._any_route(fault, {})
            return
        if self.path.rstrip("/") == "/v1/models":
            data = {"object": "list", "data": [{"id": self.owner.llm.model, "object": "model"}]}
            self._send(200, json.dumps(data).encode())
        else:
            self._error(404, f"no route {self.path}", "not_found")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            request = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError:
            self._error(400, "body is not JSON", "invalid_request_error")
            return
        self.owner.requests.append(request)
        fault = self.owner.fault or ""
        if self.path.rstrip("/") != "/v1/chat/completions":
            if fault.startswith(("stall:", "trickle:", "garbage:")):  # on any API's route
                self._any_route(fault, request)
                return
            self._error(404, f"no route {self.path}", "not_found")
            return
        if fault.startswith("slow:"):
            time.sleep(float(fault.split(":", 1)[1]))
        if fault.startswith("stall:"):
            self.close_connection = True
            self._client_gone(float(fault.split(":", 1)[1]))
            return
        if fault.startswith("garbage:"):
            self._garbage(fault.split(":", 1)[1], bool(request.get("stream")))
            return
        if fault.startswith("status:"):
            status = int(fault.split(":", 1)[1])
            self._error(status, f"injected HTTP {status}", "injected")
            return
        if fault == "malformed":
            self._send(200, b"{this is not json")
            return
        if fault == "no-choices":
            self._send(200, json.dumps({"id": "x", "object": "chat.completion",
                                        "created": 0, "model": "m", "choices": []}).encode())
            return
        try:
            messages, kwargs = _parse(request)
        except (KeyError, TypeError, ValueError) as exc:
            self._error(400, f"bad request: {exc}", "invalid_request_error")
            return
        try:
            if fault.startswith("trickle:"):
                interval = float(fault.split(":", 1)[1])
                if request.get("stream"):
                    events = self._events(messages, kwargs)
                    self._trickle(b":" + b" " * 300 + b"\n\n" + events, interval,
                                  "text/event-stream")
                else:
                    completion = self.owner.llm.complete(messages, **kwargs)
                    body = json.dumps(_completion_body(completion)).encode()
                    self._trickle(b" " * 300 + body, interval, "application/json")
            elif request.get("stream"):
                self._stream(messages, kwargs, drop=fault == "drop-stream")
            else:
                completion = self.owner.llm.complete(messages, **kwargs)
                self._send(200, json.dumps(_completion_body(completion)).encode())
        except LLMError as exc:
            code = "context_length_exceeded" if exc.reason == "context_overflow" else exc.reason
            self._error(400 if code == "context_length_exceeded" else 500, str(exc), code)
        except UserError as exc:  # the request's own mistake (a schema pattern not in RE2)
            self._error(400, str(exc), "invalid_request_error")

    def _stream(self, messages: list[Message], kwargs: dict[str, Any], *, drop: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()

        def event(payload: dict[str, Any]) -> None:
            self.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())
            self.wfile.flush()

        base = {"id": "chatcmpl-local", "object": "chat.completion.chunk", "created": 0,
                "model": self.owner.llm.model}
        for count, item in enumerate(self.owner.llm.stream(messages, **kwargs)):
            if drop and count >= 1:
                self.close_connection = True
                return
            if isinstance(item, TextDelta):
                event({**base, "choices": [{"index": 0, "delta": {"content": item.text},
                                            "finish_reason": None}]})
            elif isinstance(item, Completion):
                delta: dict[str, Any] = {}
                if item.tool_calls:
                    delta["tool_calls"] = [_tool_call_body(c, i) for i, c in
                                           enumerate(item.tool_calls)]
                event({**base, "choices": [{"index": 0, "delta": delta,
                                            "finish_reason": item.finish_reason}]})
                event({**base, "choices": [], "usage": _usage_body(item)})
        self.wfile.write(b"data: [DONE]\n\n")
        self.close_connection = True


    def _events(self, messages: list[Message], kwargs: dict[str, Any]) -> bytes:
        """A whole stream's SSE bytes, for trickling."""
        base = {"id": "chatcmpl-local", "object": "chat.completion.chunk", "created": 0,
                "model": self.owner.llm.model}
        out = []
        for item in self.owner.llm.stream(messages, **kwargs):
            if isinstance(item, TextDelta):
                choice = {"index": 0, "delta": {"content": item.text}, "finish_reason": None}
                out.append({**base, "choices": [choice]})
            elif isinstance(item, Completion):
                out.append({**base, "choices": [{"index": 0, "delta": {},
                                                 "finish_reason": item.finish_reason}]})
        return b"".join(f"data: {json.dumps(e)}\n\n".encode() for e in out) + b"data: [DONE]\n\n"


_GARBAGE_COMPLETION = Completion("a truncated answer", "local", "m", Usage(1, 3), 0.0)


def _parse(request: dict[str, Any]) -> tuple[list[Message], dict[str, Any]]:
    messages = []
    for raw in request["messages"]:
        calls = tuple(
            ToolCall(c["function"]["name"], json.loads(c["function"].get("arguments") or "{}"),
                     id=c.get("id", ""))
            for c in raw.get("tool_calls") or ()
        )
        messages.append(Message(raw["role"], raw.get("content") or "", tool_calls=calls,
                                tool_call_id=raw.get("tool_call_id")))
    kwargs: dict[str, Any] = {
        "max_tokens": request.get("max_tokens"),
        "temperature": request.get("temperature"),
        "top_p": request.get("top_p"),
        "seed": request.get("seed"),
        "stop": request.get("stop"),
    }
    if request.get("tools"):
        kwargs["tools"] = [
            ToolDefinition(t["function"]["name"], t["function"].get("description", ""),
                           t["function"].get("parameters") or {"type": "object"})
            for t in request["tools"]
        ]
    format_ = request.get("response_format") or {}
    if format_.get("type") == "json_schema":
        kwargs["json_schema"] = format_["json_schema"]["schema"]
    return messages, kwargs


def _usage_body(completion: Completion) -> dict[str, int]:
    return {"prompt_tokens": completion.usage.prompt_tokens,
            "completion_tokens": completion.usage.completion_tokens,
            "total_tokens": completion.usage.total_tokens}


def _tool_call_body(call: ToolCall, index: int) -> dict[str, Any]:
    return {"index": index, "id": call.id or f"call_{index}", "type": "function",
            "function": {"name": call.name, "arguments": json.dumps(dict(call.arguments))}}


def _completion_body(completion: Completion) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": completion.text}
    if completion.tool_calls:
        message["tool_calls"] = [_tool_call_body(c, i) for i, c in
                                 enumerate(completion.tool_calls)]
    return {
        "id": "chatcmpl-local", "object": "chat.completion", "created": 0,
        "model": completion.model,
        "choices": [{"index": 0, "message": message, "finish_reason": completion.finish_reason}],
        "usage": _usage_body(completion),
    }
