"""Compressed inputs read with a bound on what they expand to (issue 14).

A Parquet file or a zip member of a few kilobytes can declare, or decompress to, gigabytes
(a decompression bomb). Every compressed input compound reads from outside (a predictor's
Parquet training data, a model artifact's zip, a fetched dataset's zip) goes through these
functions: the declared sizes are read first and refused past the limit, then the data is
read in bounded pieces with a running total, so a file whose metadata lies is stopped too.
Each refusal is a :class:`~compound.errors.UserError` naming the file, the size, the limit
and what to do.

The limits: :data:`MAX_EXPANDED_BYTES` (1 GiB) of uncompressed data, :data:`MAX_ROWS`
(20 million) rows and :data:`MAX_CELLS` (100 million rows times columns: an all-null column
takes no bytes on disk but 8 per row once loaded) per file.

Example:
    >>> import io, zipfile
    >>> buffer = io.BytesIO()
    >>> with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
    ...     zf.writestr("big.txt", b"0" * 10_000)
    >>> try:
    ...     read_zip_member(zipfile.ZipFile(buffer), "big.txt", source="d.zip", limit=1_000)
    ... except UserError as exc:
    ...     print(str(exc)[:62])
    d.zip: big.txt expands to 10,000 bytes, more than the 1,000 al
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from compound.errors import UserError

MAX_EXPANDED_BYTES = 1 << 30
MAX_ROWS = 20_000_000
MAX_CELLS = 100_000_000
_CHUNK = 1 << 20
_BATCH_ROWS = 65_536


def _too_big(source: str, what: str, size: int, limit: int, unit: str = "bytes") -> UserError:
    return UserError(
        f"{source}: {what} expands to {size:,} {unit}, more than the {limit:,} allowed for one "
        "input (a decompression bomb, or data too large to load at once); split the data into "
        "smaller files"
    )


def read_zip_member(archive: zipfile.ZipFile, name: str, *, source: str,
                    limit: int | None = None) -> bytes:
    """One member of a zip, refused when it declares or decompresses past ``limit`` bytes.

    Raises:
        UserError: the member is missing, damaged, or larger than ``limit`` (default
            :data:`MAX_EXPANDED_BYTES`) once decompressed.
    """
    limit = MAX_EXPANDED_BYTES if limit is None else limit
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise UserError(f"{source}: the archive has no member '{name}'") from None
    if info.file_size > limit:
        raise _too_big(source, name, info.file_size, limit)
    pieces: list[bytes] = []
    total = 0
    try:
        with archive.open(info) as member:
            while piece := member.read(_CHUNK):
                total += len(piece)
                if total > limit:  # zipfile stops at the declared size; this guards the rest
                    raise _too_big(source, name, total, limit)
                pieces.append(piece)
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error, NotImplementedError) as exc:
        raise UserError(f"{source}: {name} cannot be read from the archive ({exc}); "
                        "download it again") from None
    return b"".join(pieces)


def read_zip(archive: zipfile.ZipFile, *, source: str,
             limit: int | None = None) -> dict[str, bytes]:
    """Every file member of a zip, refused when together they expand past ``limit`` bytes.

    Raises:
        UserError: the members together are larger than ``limit`` (default
            :data:`MAX_EXPANDED_BYTES`) once decompressed, or one is damaged.
    """
    limit = MAX_EXPANDED_BYTES if limit is None else limit
    infos = [info for info in archive.infolist() if not info.is_dir()]
    declared = sum(info.file_size for info in infos)
    if declared > limit:
        raise _too_big(source, "the archive", declared, limit)
    parts: dict[str, bytes] = {}
    left = limit
    for info in infos:
        parts[info.filename] = data = read_zip_member(archive, info.filename, source=source,
                                                      limit=left)
        left -= len(data)
    return parts


def read_parquet(path: str | Path, *, limit: int | None = None, max_rows: int | None = None,
                 columns: list[str] | None = None) -> Any:
    """A Parquet file as a pyarrow Table, refused past ``limit`` bytes or ``max_rows`` rows.

    The footer's row count and uncompressed sizes are checked before any data is read; the
    data is then read in batches, with a running total of rows and bytes.

    Raises:
        UserError: the file is larger than the limits (default :data:`MAX_EXPANDED_BYTES`
            and :data:`MAX_ROWS`), or not readable Parquet.
    """
    import pyarrow as pa

    parquet = open_parquet(path, limit=limit, max_rows=max_rows, columns=columns)
    batches = list(parquet_batches(parquet, path, limit=limit, max_rows=max_rows,
                                   columns=columns))
    if not batches:
        empty = parquet.schema_arrow.empty_table()
        return empty if columns is None else empty.select(columns)
    return pa.Table.from_batches(batches)


def open_parquet(path: str | Path, *, limit: int | None = None, max_rows: int | None = None,
                 columns: list[str] | None = None) -> Any:
    """A ``pyarrow.parquet.ParquetFile`` whose footer declares no more than the limits (its
    ``metadata.num_rows`` is then the row count); no data is read yet.

    Raises:
        UserError: the footer declares more than the limits, or the file is not Parquet.
    """
    limit = MAX_EXPANDED_BYTES if limit is None else limit
    max_rows = MAX_ROWS if max_rows is None else max_rows
    import pyarrow as pa
    import pyarrow.parquet as pq

    source = str(path)
    try:
        parquet = pq.ParquetFile(path)
        meta = parquet.metadata
        declared = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        rows_declared = meta.num_rows
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise UserError(f"{source}: not a readable Parquet file: {exc}") from None
    width = max(1, len(columns) if columns is not None else meta.num_columns)
    if rows_declared > max_rows:
        raise _too_big(source, "the file", rows_declared, max_rows, unit="rows")
    if rows_declared * width > MAX_CELLS:
        raise _too_big(source, "the file", rows_declared * width, MAX_CELLS,
                       unit="cells (rows times columns)")
    if declared > limit:
        raise _too_big(source, "the file", declared, limit)
    return parquet


def parquet_batches(parquet: Any, path: str | Path, *, limit: int | None = None,
                    max_rows: int | None = None, columns: list[str] | None = None,
                    batch_rows: int = _BATCH_ROWS) -> Iterator[Any]:
    """The record batches of a file :func:`open_parquet` opened, with a running total of rows
    and bytes that stops a file whose footer lied (for streaming: nothing is kept).

    Raises:
        UserError: the data runs past the limits, or cannot be read.
    """
    limit = MAX_EXPANDED_BYTES if limit is None else limit
    max_rows = MAX_ROWS if max_rows is None else max_rows
    import pyarrow as pa

    source = str(path)
    rows = size = 0
    try:
        for batch in parquet.iter_batches(batch_size=batch_rows, columns=columns):
            rows += batch.num_rows
            size += batch.nbytes
            if rows > max_rows:
                raise _too_big(source, "the file", rows, max_rows, unit="rows")
            if rows * batch.num_columns > MAX_CELLS:
                raise _too_big(source, "the file", rows * batch.num_columns, MAX_CELLS,
                               unit="cells (rows times columns)")
            if size > limit:
                raise _too_big(source, "the file", size, limit)
            yield batch
    except UserError:
        raise
    except (OSError, ValueError, KeyError, pa.ArrowException) as exc:
        raise UserError(f"{source}: not a readable Parquet file: {exc}") from None
