"""`compound datasets fetch`: download the public datasets from their original sources,
pinned by URL and sha256, into the user cache that :mod:`compound.public_data` searches.

For each dataset: its sources are downloaded (resumable, each checked against its pinned
sha256) into ``ROOT/.downloads/NAME/``, converted into ``ROOT/.staging/NAME/``, every
converted file is checked against its pinned sha256, and only then moved to ``ROOT/NAME/``.
A failure at any point leaves no file in the datasets folder that was not verified.

``$COMPOUND_DATASETS_MIRROR`` (a base URL) replaces every source's address by
``{mirror}/{dataset}/{filename}``: for a machine without access to the original hosts, and
for tests that serve the files from 127.0.0.1.

Example:
    >>> sorted(MANIFEST)[:3]
    ['banking77', 'hotpotqa', 'prompt-injections']
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from compound.datafetch.convert import CONVERTERS, ConversionFailed
from compound.datafetch.download import ChecksumMismatch, FetchFailed, download, sha256_of
from compound.datafetch.manifest import MANIFEST, Entry, Source
from compound.errors import UserError
from compound.public_data import cache_root

MIRROR_ENV = "COMPOUND_DATASETS_MIRROR"
# (dataset, file, bytes so far, total or None)
Progress = Callable[[str, str, int, "int | None"], None]

@dataclass(frozen=True)
class FetchResult:
    """What fetching one dataset did."""

    name: str
    action: str
    path: Path
    bytes: int
    seconds: float


def resolve_names(names: Sequence[str], *, every: bool = False) -> list[str]:
    """The datasets to fetch: ``names`` checked against the manifest, or all of them.

    Raises:
        UserError: no name and no ``every``, or a name the manifest does not know.
    """
    from compound.specfile import did_you_mean

    if every:
        return list(MANIFEST)
    if not names:
        raise UserError("name the datasets to fetch (e.g. 'compound datasets fetch banking77'),"
                        f" or pass --all; known: {', '.join(MANIFEST)}")
    for name in names:
        if name not in MANIFEST:
            raise UserError(f"no public dataset '{name}'{did_you_mean(name, MANIFEST)}; known: "
                            f"{', '.join(MANIFEST)}")
    return list(dict.fromkeys(names))


def is_present(entry: Entry, root: Path) -> bool:
    """Every file of ``entry`` is under ``root`` with its pinned sha256."""
    return all((root / o.path).is_file() and (root / o.path).stat().st_size == o.size
               and sha256_of(root / o.path) == o.sha256 for o in entry.outputs)


def source_url(entry: Entry, source: Source, mirror: str | None) -> str:
    """Where ``source`` is downloaded from: the mirror's copy when a mirror is set."""
    if mirror:
        return f"{mirror.rstrip('/')}/{entry.name}/{source.filename}"
    return source.url


def fetch(names: Sequence[str], *, root: Path | None = None, mirror: str | None = None,
          progress: Progress | None = None, retries: int = 2,
          client: httpx.Client | None = None) -> list[FetchResult]:
    """Fetch each dataset of ``names`` into ``root`` (default the user cache), skipping those
    already there and verified.

    Args:
        names: dataset names of the manifest.
        root: the datasets folder to fill (default :func:`compound.public_data.cache_root`).
        mirror: a base URL serving ``{dataset}/{filename}``; default ``$COMPOUND_DATASETS_MIRROR``.
        progress: called as bytes arrive.
        retries: how many times an interrupted download is resumed before giving up.
        client: the HTTP client (default: one with generous timeouts, redirects followed).

    Raises:
        FetchFailed: a source could not be downloaded; the message names the URL and the
            three ways out (a mirror, ``COMPOUND_DATA``, or copying the files into ``root``).
        ChecksumMismatch: a source or a converted file is not the pinned one.
    """
    root = (root or cache_root()).expanduser()
    mirror = mirror if mirror is not None else os.environ.get(MIRROR_ENV) or None
    owned = client is None
    http = client or httpx.Client(follow_redirects=True,
                                  timeout=httpx.Timeout(30.0, read=120.0))
    try:
        return [_fetch_one(MANIFEST[name], root, mirror, http, progress, retries)
                for name in resolve_names(names)]
    finally:
        if owned:
            http.close()


def _fetch_one(entry: Entry, root: Path, mirror: str | None, client: httpx.Client,
               progress: Progress | None, retries: int) -> FetchResult:
    start = time.perf_counter()
    target = root / entry.name
    if is_present(entry, root):
        return FetchResult(entry.name, "already there", target, entry.size, 0.0)
    downloads, stage = root / ".downloads" / entry.name, root / ".staging" / entry.name
    for source in entry.sources:
        url = source_url(entry, source, mirror)
        dest = downloads / source.filename
        if dest.exists() and (source.sha256 is None or sha256_of(dest) == source.sha256):
            continue
        _download(entry, source, url, dest, root, client, progress, retries)
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    try:
        _convert(entry, downloads, stage)
        _verify(entry, stage, downloads, mirror)
        for output in entry.outputs:
            (root / output.path).parent.mkdir(parents=True, exist_ok=True)
            os.replace(stage / output.path, root / output.path)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    shutil.rmtree(downloads, ignore_errors=True)
    return FetchResult(entry.name, "fetched", target, entry.size, time.perf_counter() - start)


def _download(entry: Entry, source: Source, url: str, dest: Path, root: Path,
              client: httpx.Client, progress: Progress | None, retries: int) -> None:
    def report(done: int, total: int | None) -> None:
        if progress is not None:
            progress(entry.name, source.filename, done, total)

    for attempt in range(retries + 1):
        try:
            download(url, dest, client=client, sha256=source.sha256, size=source.size,
                     progress=report)
            return
        except FetchFailed as exc:
            if exc.resumable and attempt < retries:
                time.sleep(min(2.0, 0.25 * 2 ** attempt))
                continue
            raise FetchFailed(f"{exc}. {_ways_out(entry, root)}", url=url,
                              resumable=exc.resumable) from None


def _ways_out(entry: Entry, root: Path) -> str:
    files = ", ".join(o.path.split("/", 1)[1] for o in entry.outputs)
    return (f"Could not fetch '{entry.name}'. Ways out: check the network and run the command "
            f"again; or set {MIRROR_ENV} to a mirror serving "
            f"'{entry.name}/{entry.sources[0].filename}' and the other sources; or set "
            f"COMPOUND_DATA to a folder that holds '{entry.name}/'; or copy its files ({files}) "
            f"into {root / entry.name}")


def _convert(entry: Entry, downloads: Path, stage: Path) -> None:
    try:
        CONVERTERS[entry.convert](entry.name, downloads, stage)
    except ConversionFailed:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConversionFailed(
            f"converting '{entry.name}' failed ({type(exc).__name__}: {exc}); the downloaded "
            f"sources in {downloads} are not what the manifest expects. Delete that folder and "
            "run the command again") from None


def _verify(entry: Entry, stage: Path, downloads: Path, mirror: str | None) -> None:
    for output in entry.outputs:
        made = stage / output.path
        found = sha256_of(made) if made.exists() else "nothing (the file was not made)"
        if found != output.sha256:
            if any(s.sha256 is None for s in entry.sources):
                shutil.rmtree(downloads, ignore_errors=True)  # unverified sources: not kept
            where = f"the mirror {mirror}" if mirror else "the original source"
            raise ChecksumMismatch(
                f"{entry.name}: {output.path} converted from {where} has sha256 {found}, "
                f"expected the pinned {output.sha256}; nothing was installed. The source "
                "changed since it was pinned; report it, or get the file another way "
                "(COMPOUND_DATA)")
