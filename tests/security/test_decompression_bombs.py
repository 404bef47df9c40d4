"""Small compressed inputs that expand to gigabytes are refused, not loaded (issue 14).

Parquet training data (through ``read_table``, as ``compound train`` and the classifier rail
read it), model artifacts (zips in the registry) and fetched datasets' zips go through
:mod:`compound.expansion_limits`. Each bomb ends in a UserError (an ArtifactError for an
artifact) naming the file and the limit, quickly; never a MemoryError, a traceback or a hang.
"""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compound import expansion_limits
from compound.datafetch.convert import beir
from compound.errors import UserError
from compound.expansion_limits import read_parquet, read_zip_member

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pytest.importorskip("pandas")

from compound.intelligence.ml.artifact import ArtifactError, pack, unpack  # noqa: E402
from compound.intelligence.ml.data import read_table  # noqa: E402


def test_a_parquet_file_declaring_millions_of_rows_is_refused_from_its_footer(
        tmp_path: Path) -> None:
    path = tmp_path / "train.parquet"  # 58 kB on disk; 30 million rows once loaded
    pq.write_table(pa.table({"text": pa.nulls(30_000_000, pa.string())}), path)
    assert path.stat().st_size < 1_000_000
    start = time.perf_counter()
    with pytest.raises(UserError, match=r"train\.parquet: the file expands to 30,000,000 rows"):
        read_table(path)
    assert time.perf_counter() - start < 10


def test_a_parquet_file_expanding_past_the_byte_limit_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "train.parquet"  # 5 MB of text compressed to a few kB
    pq.write_table(pa.table({"text": ["a" * 1000] * 5000, "label": [1] * 5000}), path)
    monkeypatch.setattr(expansion_limits, "MAX_EXPANDED_BYTES", 1_000_000)
    with pytest.raises(UserError, match=r"more than the 1,000,000 allowed.*smaller files"):
        read_table(path)
    monkeypatch.setattr(expansion_limits, "MAX_EXPANDED_BYTES", 50_000_000)
    assert len(read_table(path)) == 5000


def test_the_running_limit_stops_a_file_whose_footer_is_under_it(tmp_path: Path) -> None:
    path = tmp_path / "rows.parquet"  # one repeated value: 802 bytes encoded, 1.6 MB loaded
    pq.write_table(pa.table({"x": [7] * 200_000}), path, row_group_size=200_000)
    declared = pq.ParquetFile(path).metadata.row_group(0).total_byte_size
    assert declared < 100_000
    with pytest.raises(UserError, match=r"expands to [\d,]+ bytes, more than the 100,000"):
        read_parquet(path, limit=100_000)
    assert read_parquet(path).num_rows == 200_000


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(min_size=0, max_size=400), tail=st.booleans())
def test_any_bytes_named_parquet_end_in_a_user_error(tmp_path: Path, data: bytes,
                                                     tail: bool) -> None:
    path = tmp_path / "fuzz.parquet"
    path.write_bytes(data + (b"PAR1" if tail else b""))
    with pytest.raises(UserError):
        read_parquet(path)


def bomb_zip(member: str, size: int) -> bytes:
    buffer = io.BytesIO()
    chunk = b"0" * (1 << 20)
    with (zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf,
          zf.open(member, "w", force_zip64=True) as out):
        for _ in range(size // len(chunk)):
            out.write(chunk)
    return buffer.getvalue()


def test_a_zip_member_past_the_limit_is_refused_from_its_header(
        monkeypatch: pytest.MonkeyPatch) -> None:
    data = bomb_zip("scifact/corpus.jsonl", 8 << 20)
    assert len(data) < 100_000
    monkeypatch.setattr(expansion_limits, "MAX_EXPANDED_BYTES", 1 << 20)
    with pytest.raises(UserError, match=r"d\.zip: scifact/corpus\.jsonl expands to 8,388,608"):
        read_zip_member(zipfile.ZipFile(io.BytesIO(data)), "scifact/corpus.jsonl",
                        source="d.zip")


def test_a_zip_whose_header_lies_about_its_size_is_refused() -> None:
    data = bytearray(bomb_zip("m.txt", 2 << 20))
    archive = zipfile.ZipFile(io.BytesIO(bytes(data)))
    info = archive.getinfo("m.txt")
    info.file_size = 1000  # the central directory says 1 kB; the stream holds 2 MB
    with pytest.raises(UserError, match=r"cannot be read from the archive|expands to"):
        read_zip_member(archive, "m.txt", source="lie.zip", limit=10_000)


def test_a_fetched_beir_zip_bomb_is_refused(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "scifact.zip").write_bytes(bomb_zip("scifact/qrels/test.tsv", 4 << 20))
    monkeypatch.setattr(expansion_limits, "MAX_EXPANDED_BYTES", 1 << 20)
    with pytest.raises(UserError, match=r"scifact\.zip: scifact/qrels/test\.tsv expands to"):
        beir("scifact", tmp_path, tmp_path / "stage")


def test_a_model_artifact_that_is_a_zip_bomb_is_an_artifact_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    data = pack({"format": "compound-model/1"}, {"weights": b"0" * (4 << 20)})
    assert unpack(data, what="m@1")[1]["weights"][:1] == b"0"
    monkeypatch.setattr(expansion_limits, "MAX_EXPANDED_BYTES", 1 << 20)
    with pytest.raises(ArtifactError, match=r"artifact of m@1: the archive expands to .*retrain"):
        unpack(data, what="m@1")
