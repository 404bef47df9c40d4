"""A real HTTP mirror on 127.0.0.1 for `compound datasets fetch` tests: serves files, honours
Range, can drop the connection mid-file, and records what it was asked."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from compound import datafetch


@dataclass
class Mirror:
    """What the test server serves and what it was asked."""

    files: dict[str, bytes] = field(default_factory=dict)
    drop_after: dict[str, int] = field(default_factory=dict)  # path -> bytes, once
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    url: str = ""


class _Handler(BaseHTTPRequestHandler):
    mirror: Mirror

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        mirror = self.server.mirror  # type: ignore[attr-defined]
        path = self.path.lstrip("/")
        wanted = self.headers.get("Range")
        mirror.requests.append((path, wanted))
        body = mirror.files.get(path)
        if body is None:
            self.send_error(404)
            return
        start = int(wanted.removeprefix("bytes=").split("-")[0]) if wanted else 0
        if start >= len(body):
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(body)}")
            self.end_headers()
            return
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.send_header("Content-Length", str(len(body) - start))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        cut = mirror.drop_after.pop(path, None)
        if cut is not None:  # send part of the body, then drop the connection
            self.wfile.write(body[start:start + cut])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(body[start:])


@pytest.fixture
def mirror(monkeypatch: pytest.MonkeyPatch) -> Iterator[Mirror]:
    state = Mirror()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.mirror = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv(datafetch.MIRROR_ENV, state.url)
    yield state
    server.shutdown()
    server.server_close()
