"""Request bodies that a JSON parser accepts but nothing after it can hold, refused up front.

Python's ``json`` reads more than JSON: ``NaN`` and ``Infinity``, numbers like ``1e999`` (which
become infinite floats), and ``"\\ud800"`` (a lone surrogate: not text, so it can be neither
stored as UTF-8 nor sent back). Bodies nested hundreds of levels deep parse, then exhaust the
stack of whatever walks them. Each of these used to surface deep inside a run as a 500; this
middleware answers them with a 4xx naming the field, before any endpoint runs:

====  ===================  ================================================================
code  type                 when
====  ===================  ================================================================
400   ``malformed_json``   bytes that are not UTF-8; ``NaN``/``Infinity``; a number too large
422   ``invalid_input``    a lone surrogate in a string; nesting past `MAX_DEPTH` levels
====  ===================  ================================================================

Each JSON body is parsed here once more by the C parser (microseconds: a 23 kB body takes
about 30 µs); only one holding a ``\\uD...`` escape or more brackets than `MAX_DEPTH` is also
walked. A request goes on with its body untouched.

Example:
    >>> problem(b'{"question": "\\\\ud800"}')[:2]
    (422, 'invalid_input')
    >>> problem(b'{"question": "fine"}') is None
    True
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from compound.production.serving.limits import (
    ASGIApp,
    BodyTooLarge,
    Message,
    Receive,
    Scope,
    Send,
    _reply,
)

#: The deepest nesting of arrays and objects a request body may have.
MAX_DEPTH = 100

_SURROGATE = re.compile("[\ud800-\udfff]")


class JsonBodyCheck:
    """ASGI middleware refusing JSON request bodies that are not text or not finite (above).

    Args:
        app: the wrapped application.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH") \
                or not _json_content(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        try:
            while True:
                message = await receive()
                if message["type"] != "http.request":  # the client went away
                    return
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
        except BodyTooLarge as exc:  # raised by BodyLimit's counting receive
            await _reply(send, 413, "body_too_large", str(exc.detail))
            return
        body = b"".join(chunks)
        found = problem(body)
        if found is not None:
            status, kind, text = found
            await _reply(send, status, kind, text)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # later calls wait for the disconnect, as before

        await self.app(scope, replay, send)


def _json_content(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            kind = value.split(b";", 1)[0].strip().lower()
            return kind == b"application/json" or kind.endswith(b"+json")
    return True  # FastAPI reads a body without a Content-Type as JSON


def problem(body: bytes) -> tuple[int, str, str] | None:
    """``(status, type, message)`` when ``body`` must be refused, else None."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return 400, "malformed_json", (
            f"the request body is not UTF-8: byte {body[exc.start]:#04x} at offset {exc.start} "
            "is not valid there; send JSON encoded as UTF-8")
    try:  # the C parser: a few microseconds for a usual body, far less than a request costs
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except _NotJSON as exc:
        return 400, "malformed_json", str(exc)
    except RecursionError:
        return 422, "invalid_input", (
            f"the request body nests too deeply; at most {MAX_DEPTH} levels of arrays and "
            "objects are accepted")
    except ValueError:
        return None  # not JSON at all: FastAPI answers it with its own 400
    # only a \uD800-\uDFFF escape makes a lone surrogate, only brackets make depth
    if b"\\ud" in body or b"\\uD" in body or body.count(b"[") + body.count(b"{") > MAX_DEPTH:
        return _walk(value)
    return None


class _NotJSON(ValueError):
    pass


def _no_constant(name: str) -> Any:
    raise _NotJSON(f"the request body uses {name}, which is not JSON; send a number, or null")


def _finite(literal: str) -> float:
    number = float(literal)
    if not math.isfinite(number):
        raise _NotJSON(f"the request body holds the number {literal[:40]}, too large for a "
                       "64-bit float; send a smaller number")
    return number


def _walk(value: Any) -> tuple[int, str, str] | None:
    stack: list[tuple[Any, str, int]] = [(value, "", 1)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, dict | list) and depth > MAX_DEPTH:
            return 422, "invalid_input", (
                f"{where or '(the body)'}: nests {depth} levels deep; at most {MAX_DEPTH} levels "
                "of arrays and objects are accepted")
        if isinstance(item, str):
            if (bad := _surrogate(item, where)) is not None:
                return bad
        elif isinstance(item, float) and not math.isfinite(item):
            return 400, "malformed_json", (
                f"{where or '(the body)'}: the number is too large for a 64-bit float; "
                "send a smaller number")
        elif isinstance(item, dict):
            for key, child in item.items():
                path = f"{where}.{key}" if where else str(key)
                if (bad := _surrogate(key, f"{path} (the key)")) is not None:
                    return bad
                stack.append((child, path, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, f"{where}[{i}]", depth + 1) for i, child in enumerate(item))
    return None


def _surrogate(text: str, where: str) -> tuple[int, str, str] | None:
    match = _SURROGATE.search(text)
    if match is None:
        return None
    shown = where.encode("utf-8", "backslashreplace").decode() or "(the body)"
    return 422, "invalid_input", (
        f"{shown}: a lone UTF-16 surrogate (\\u{ord(match.group()):04x}) at character "
        f"{match.start()} is not text; send the character itself, or a valid surrogate pair")
