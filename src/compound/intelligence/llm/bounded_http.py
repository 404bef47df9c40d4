"""HTTP for the hosted providers, every request bounded by the call's :class:`Deadline`.

The provider SDKs take an ``httpx``-style client (``httpx`` or its fork ``httpx2``) whose
timeouts bound each read, not the whole response. :func:`bounded_client` wraps the client's
transport so that, under the current :class:`~compound.intelligence.llm.deadline.Deadline`:

* the connect, write, pool and read timeouts of a request are cut to the time left, so a
  server that stalls before its headers is given up at the deadline;
* the response is checked between chunks, so a server that trickles bytes is given up too;
* when the deadline passes or the call is cancelled, the connection's socket is shut at
  once, which wakes a read blocked on it and leaves no connection open behind the call.

A request sent outside any deadline goes through unchanged.

Example:
    >>> import httpx
    >>> client = bounded_client(httpx, timeout_s=5.0)
    >>> type(client._transport).__name__
    'DeadlineTransport'
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

from compound.intelligence.llm.deadline import Deadline
from compound.intelligence.llm.errors import LLMError

_CLASSES: dict[str, type] = {}


def bounded_client(module: Any, client: Any = None, *, timeout_s: float,
                   **settings: Any) -> Any:
    """``client`` (or a new ``module.Client``) with its transports bounded by deadlines.

    Args:
        module: the ``httpx`` or ``httpx2`` module the SDK speaks.
        client: a client the user gave (its settings are kept); None makes one.
        timeout_s: the per-read timeout of a new client (the deadline bounds the total).
        settings: more arguments for a new client (``base_url``, ``headers``).
    """
    transport = transport_class(module)
    if client is None:  # the settings the SDKs give their own clients
        limits = module.Limits(max_connections=1000, max_keepalive_connections=100)
        settings.setdefault("follow_redirects", True)
        return module.Client(timeout=timeout_s,
                             transport=transport(module.HTTPTransport(limits=limits)),
                             **settings)
    # the SDKs take a client, not a transport: wrap the one the given client holds
    if not isinstance(client._transport, transport):
        client._transport = transport(client._transport)
    mounts = getattr(client, "_mounts", None)
    if isinstance(mounts, dict):
        for pattern, inner in list(mounts.items()):
            if inner is not None and not isinstance(inner, transport):
                mounts[pattern] = transport(inner)
    return client


def transport_class(module: Any) -> type:
    """The deadline-bound transport class for ``module`` (``httpx`` or ``httpx2``)."""
    name = module.__name__
    if name not in _CLASSES:
        _CLASSES[name] = _make_transport(module)
    return _CLASSES[name]


def _make_transport(module: Any) -> type:
    class BoundedStream(module.SyncByteStream):  # type: ignore[misc, name-defined]
        """A response body checked against the deadline between chunks."""

        def __init__(self, inner: Any, deadline: Deadline,
                     unregister: list[Callable[[], None]]) -> None:
            self.inner, self.deadline, self.unregister = inner, deadline, unregister

        def __iter__(self) -> Iterator[bytes]:
            deadline = self.deadline
            try:
                for chunk in self.inner:
                    if deadline.done():
                        raise deadline.error()
                    yield chunk
            except LLMError:
                raise
            except Exception as exc:
                if deadline.done():
                    raise deadline.error() from exc
                raise

        def close(self) -> None:
            _release(self.unregister)
            close = getattr(self.inner, "close", None)
            if close is not None:
                close()

    class DeadlineTransport(module.BaseTransport):  # type: ignore[misc, name-defined]
        """Wraps a transport; see the module docstring."""

        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def handle_request(self, request: Any) -> Any:
            deadline = Deadline.current()
            if deadline is None:
                return self.inner.handle_request(request)
            deadline.check()
            left = deadline.remaining()
            timeout = dict(request.extensions.get("timeout") or {})
            for key in ("connect", "read", "write", "pool"):
                value = timeout.get(key)
                timeout[key] = left if value is None else min(float(value), left)
            unregister: list[Callable[[], None]] = []
            previous = request.extensions.get("trace")

            def trace(event: str, info: dict[str, Any]) -> None:
                if event == "connection.connect_tcp.complete":  # a new connection: its socket
                    unregister.append(_on_stop_shut(deadline, info.get("return_value")))
                if previous is not None:
                    previous(event, info)

            request.extensions = {**request.extensions, "timeout": timeout, "trace": trace}
            try:
                response = self.inner.handle_request(request)
            except LLMError:
                raise
            except Exception as exc:
                _release(unregister)
                if deadline.done():
                    raise deadline.error() from exc
                raise
            stream = response.extensions.get("network_stream")
            if stream is not None:
                unregister.append(_on_stop_shut(deadline, stream))
            response.stream = BoundedStream(response.stream, deadline, unregister)
            return response

        def close(self) -> None:
            self.inner.close()

    return DeadlineTransport


def _on_stop_shut(deadline: Deadline, stream: Any) -> Callable[[], None]:
    """Shut ``stream``'s socket when ``deadline`` stops; returns the unregistration."""
    get = getattr(stream, "get_extra_info", None)
    sock = get("socket") if get is not None else None
    if not isinstance(sock, socket.socket):
        return _nothing

    def shut() -> None:
        # shutdown, not close: the reading thread still owns the descriptor; it wakes with
        # end-of-file and its client closes the connection
        sock.shutdown(socket.SHUT_RDWR)

    return deadline.on_stop(shut)


def _release(unregister: list[Callable[[], None]]) -> None:
    for function in unregister:
        function()
    unregister.clear()


def _nothing() -> None:
    return None
