"""A resumable, checksummed HTTP download.

The file grows as ``NAME.part`` next to its destination; a later call sends
``Range: bytes=N-`` and appends what is missing (a server that ignores ranges sends the whole
file again, which is fine). Only a file whose sha256 matches (when one is pinned) is renamed
to its destination; a mismatching one is deleted, never left in place as if valid.

Example:
    >>> import hashlib, tempfile
    >>> import httpx
    >>> from pathlib import Path
    >>> body = b"hello"
    >>> client = httpx.Client(transport=httpx.MockTransport(
    ...     lambda request: httpx.Response(200, stream=httpx.ByteStream(body))))
    >>> dest = Path(tempfile.mkdtemp()) / "hello.txt"
    >>> download("https://example.org/hello.txt", dest, client=client,
    ...          sha256=hashlib.sha256(body).hexdigest()).read_bytes()
    b'hello'
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from compound.errors import RuntimeFailure

CHUNK = 1 << 16
Progress = Callable[[int, int | None], None]  # (bytes so far, total or None)


# A download is bounded in total, not only per read (a server trickling a byte a minute
# never trips the client's read timeout), and in size (an unhashed source has no pinned size).
DOWNLOAD_TIMEOUT_S = 3600.0
MAX_DOWNLOAD_BYTES = 8 << 30


class FetchFailed(RuntimeFailure):
    """A download could not be completed (no network, an HTTP error, a dropped connection)."""

    def __init__(self, message: str, *, url: str, resumable: bool = False) -> None:
        self.url = url
        self.resumable = resumable
        super().__init__(message)


class ChecksumMismatch(RuntimeFailure):
    """A downloaded or converted file is not the pinned one."""


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def download(url: str, dest: Path, *, client: httpx.Client, sha256: str | None = None,
             size: int | None = None, progress: Progress | None = None) -> Path:
    """Download ``url`` to ``dest``, resuming a ``dest.part`` left by an interrupted call.

    Args:
        url: the file's address.
        dest: where it ends up.
        client: the HTTP client (redirects followed).
        sha256: the pinned digest; the file is checked against it before it is kept.
        size: the expected size, for progress before the server tells.
        progress: called with (bytes so far, total) as the file arrives.

    Raises:
        FetchFailed: the server could not be reached, answered an error, or the connection
            dropped (``resumable``: the part is kept and the next call continues it).
        ChecksumMismatch: the complete file does not have the pinned sha256 (it is deleted).
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    # identity: byte ranges must count the file's bytes, not a compressed stream's
    headers = {"Accept-Encoding": "identity", **({"Range": f"bytes={have}-"} if have else {})}
    try:
        with client.stream("GET", url, headers=headers) as response:
            if response.status_code == 416 and have:  # the part is already whole
                pass
            elif response.status_code in (200, 206):
                if response.status_code == 200 or not _starts_at(response, have):
                    have = 0  # the server sent the whole file: start over
                total = _total(response, have) or size
                until = time.monotonic() + DOWNLOAD_TIMEOUT_S
                with part.open("ab" if have else "wb") as out:
                    for chunk in response.iter_raw():  # as it arrives: a drop loses nothing
                        out.write(chunk)
                        have += len(chunk)
                        if progress is not None:
                            progress(have, total)
                        _check_bounds(url, part, have, until)
                if total is not None and have < total:
                    raise FetchFailed(
                        f"{url}: the connection closed after {have:,} of {total:,} bytes; run "
                        "the same command again to resume", url=url, resumable=True)
            else:
                raise FetchFailed(f"{url}: the server answered HTTP {response.status_code}",
                                  url=url)
    except httpx.HTTPError as exc:
        kept = part.stat().st_size if part.exists() else 0
        more = (f" ({kept:,} bytes kept in {part}; run the same command again to resume)"
                if kept else "")
        raise FetchFailed(f"{url}: {type(exc).__name__}: {exc or 'no detail'}{more}", url=url,
                          resumable=bool(kept)) from None
    if sha256 is not None:
        found = sha256_of(part)
        if found != sha256:
            part.unlink()
            raise ChecksumMismatch(
                f"{url}: the downloaded file has sha256 {found}, expected the pinned {sha256}; "
                "it was deleted. The source changed or the transfer was corrupted: run the "
                "command again, or use a mirror you trust (COMPOUND_DATASETS_MIRROR)")
    part.replace(dest)
    return dest


def _check_bounds(url: str, part: Path, have: int, until: float) -> None:
    """Stop a download past :data:`MAX_DOWNLOAD_BYTES` (the part is deleted) or past
    :data:`DOWNLOAD_TIMEOUT_S` in total (the part is kept, to resume)."""
    if have > MAX_DOWNLOAD_BYTES:
        part.unlink(missing_ok=True)
        raise FetchFailed(f"{url}: the download passed {MAX_DOWNLOAD_BYTES:,} bytes, more than "
                          "any dataset compound fetches; it was stopped and deleted. Check the "
                          "source, or use a mirror you trust (COMPOUND_DATASETS_MIRROR)", url=url)
    if time.monotonic() > until:
        raise FetchFailed(f"{url}: the download took more than {DOWNLOAD_TIMEOUT_S:g}s in total "
                          f"(a slow or trickling server); {have:,} bytes kept in {part}: run the "
                          "same command again to resume, or use a mirror", url=url,
                          resumable=True)


def _starts_at(response: httpx.Response, offset: int) -> bool:
    """Whether a 206 answer continues the part at ``offset`` (``Content-Range: bytes N-...``)."""
    text = response.headers.get("content-range", "")
    try:
        return int(text.split()[1].split("-")[0]) == offset
    except (IndexError, ValueError):
        return False


def _total(response: httpx.Response, offset: int) -> int | None:
    """The full size of the file, from Content-Range or Content-Length."""
    text = response.headers.get("content-range", "")
    if "/" in text and not text.endswith("/*"):
        try:
            return int(text.rsplit("/", 1)[1])
        except ValueError:
            return None
    length = response.headers.get("content-length")
    return offset + int(length) if length and length.isdigit() else None
