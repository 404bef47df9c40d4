"""`compound datasets fetch` end to end against a real HTTP mirror on 127.0.0.1: download,
checksums, an interrupted transfer resumed with Range, and no network."""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest

from compound import datafetch
from compound.datafetch import (
    ChecksumMismatch,
    Entry,
    FetchFailed,
    Output,
    Source,
    fetch,
)
from compound.datafetch.download import download

SPLITS = ("train", "valid", "test")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def demo_entry(monkeypatch: pytest.MonkeyPatch, mirror: Any, *, rows: int = 2000,
               pin_sources: bool = True, wrong_output: bool = False) -> Entry:
    """A small intent dataset 'demo' in the Few-Shot-Intent layout, served by the mirror and
    added to the manifest."""
    sources, outputs = [], []
    for split in SPLITS:
        texts = "".join(f"how do I do thing {i} in {split} \n" for i in range(rows)).encode()
        labels = "".join(f"intent_{i % 7}\n" for i in range(rows)).encode()
        for kind, data in (("seq.in", texts), ("label", labels)):
            name = f"{split}.{kind}"
            mirror.files[f"demo/{name}"] = data
            sources.append(Source(name, f"https://example.invalid/{name}",
                                  sha(data) if pin_sources else None, len(data)))
        converted = "".join(json.dumps({"text": f"how do I do thing {i} in {split}",
                                        "label": f"intent_{i % 7}"}) + "\n"
                            for i in range(rows)).encode()
        digest = "0" * 64 if wrong_output else sha(converted)
        outputs.append(Output(f"demo/{split}.jsonl", digest, len(converted)))
    entry = Entry("demo", "a demo intent set", "CC0", tuple(sources), "intent_lines",
                  tuple(outputs))
    monkeypatch.setitem(datafetch.MANIFEST, "demo", entry)
    return entry


def test_fetch_downloads_converts_verifies_and_installs(
    mirror: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    demo_entry(monkeypatch, mirror)
    seen: list[tuple[str, int]] = []
    [result] = fetch(["demo"], root=tmp_path,
                     progress=lambda d, f, done, total: seen.append((f, done)))
    assert result.action == "fetched"
    first = json.loads((tmp_path / "demo" / "train.jsonl").read_text().splitlines()[0])
    assert first == {"text": "how do I do thing 0 in train", "label": "intent_0"}
    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == [
        "test.jsonl", "train.jsonl", "valid.jsonl"]
    assert not (tmp_path / ".downloads" / "demo").exists()
    assert not (tmp_path / ".staging" / "demo").exists()
    assert {f for f, _ in seen} == {f"{s}.{k}" for s in SPLITS for k in ("seq.in", "label")}
    asked = len(mirror.requests)
    [again] = fetch(["demo"], root=tmp_path)
    assert again.action == "already there" and len(mirror.requests) == asked


def test_a_corrupted_source_is_refused_and_not_left_in_place(
    mirror: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    demo_entry(monkeypatch, mirror)
    good = mirror.files["demo/valid.label"]
    mirror.files["demo/valid.label"] = good.replace(b"intent_3", b"intent_X", 1)
    with pytest.raises(ChecksumMismatch, match=r"valid\.label.*expected the pinned"):
        fetch(["demo"], root=tmp_path)
    assert not (tmp_path / "demo").exists()
    downloads = tmp_path / ".downloads" / "demo"
    assert not (downloads / "valid.label").exists()
    assert not (downloads / "valid.label.part").exists()
    mirror.files["demo/valid.label"] = good  # the mirror is fixed: the next run completes
    assert fetch(["demo"], root=tmp_path)[0].action == "fetched"


def test_a_converted_file_that_is_not_the_pinned_one_installs_nothing(
    mirror: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    demo_entry(monkeypatch, mirror, pin_sources=False, wrong_output=True)
    with pytest.raises(ChecksumMismatch, match=r"demo/train\.jsonl converted from the mirror"):
        fetch(["demo"], root=tmp_path)
    assert not (tmp_path / "demo").exists()
    assert not (tmp_path / ".downloads" / "demo").exists()  # unverified sources not kept


def test_an_interrupted_download_resumes_with_range_on_the_next_run(
    mirror: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    demo_entry(monkeypatch, mirror)
    size = len(mirror.files["demo/train.seq.in"])
    mirror.drop_after["demo/train.seq.in"] = 10_000
    with pytest.raises(FetchFailed, match="run the same command again to resume") as caught:
        fetch(["demo"], root=tmp_path, retries=0)
    assert caught.value.resumable
    part = tmp_path / ".downloads" / "demo" / "train.seq.in.part"
    assert part.stat().st_size == 10_000 < size
    assert not (tmp_path / "demo").exists()
    fetch(["demo"], root=tmp_path, retries=0)
    assert ("demo/train.seq.in", "bytes=10000-") in mirror.requests
    assert (tmp_path / "demo" / "train.jsonl").exists()


def test_a_dropped_connection_is_resumed_within_the_same_run(
    mirror: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    demo_entry(monkeypatch, mirror)
    mirror.drop_after["demo/test.label"] = 3_000
    assert fetch(["demo"], root=tmp_path, retries=2)[0].action == "fetched"
    assert ("demo/test.label", "bytes=3000-") in mirror.requests


def test_without_network_the_error_names_the_url_and_the_ways_out(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv(datafetch.MIRROR_ENV, f"http://127.0.0.1:{port}/")
    with pytest.raises(FetchFailed) as caught:
        fetch(["pubmedqa"], root=tmp_path)
    message = str(caught.value)
    assert f"http://127.0.0.1:{port}/pubmedqa/ori_pqal.json" in message
    assert "COMPOUND_DATASETS_MIRROR" in message and "COMPOUND_DATA" in message
    assert str(tmp_path / "pubmedqa") in message
    assert not (tmp_path / "pubmedqa").exists()


def test_a_server_error_is_reported_with_its_status(
    mirror: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    demo_entry(monkeypatch, mirror)
    del mirror.files["demo/test.seq.in"]
    with pytest.raises(FetchFailed, match=r"demo/test\.seq\.in: the server answered HTTP 404"):
        fetch(["demo"], root=tmp_path)


def test_a_server_ignoring_range_sends_the_whole_file_again(tmp_path: Path) -> None:
    body = bytes(range(256)) * 100
    part = tmp_path / "f.bin.part"
    part.write_bytes(b"garbage-prefix")
    client = httpx.Client(transport=httpx.MockTransport(
        lambda request: httpx.Response(200, stream=httpx.ByteStream(body))))
    assert download("https://x.invalid/f.bin", tmp_path / "f.bin", client=client,
                    sha256=sha(body)).read_bytes() == body


def test_the_cli_fetches_lists_and_explains(
    mirror: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    capsys: pytest.CaptureFixture[str]
) -> None:
    from compound.cli import main

    demo_entry(monkeypatch, mirror, rows=50)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    main(["datasets", "fetch", "demo"])
    out = capsys.readouterr().out
    assert "fetched" in out
    assert (tmp_path / "cache" / "compound" / "datasets" / "demo" / "test.jsonl").exists()
    main(["datasets", "fetch", "--list"])
    listing = capsys.readouterr().out
    assert "banking77" in listing and "CC BY-NC" in listing
    demo = next(row for row in listing.splitlines() if "a demo intent set" in row)
    assert str(tmp_path / "cache" / "compound" / "datasets") in demo  # where it was found
    with pytest.raises(SystemExit) as exit_:
        main(["datasets", "fetch", "bankin77"])
    assert exit_.value.code == 2
    assert "did you mean 'banking77'" in capsys.readouterr().err
    with contextlib.suppress(SystemExit):
        main(["datasets", "fetch", "--help"])
    shown = capsys.readouterr().out
    assert "COMPOUND_DATASETS_MIRROR" in shown and "--all" in shown
