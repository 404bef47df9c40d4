"""Rows in and out of batch files: JSONL, CSV and Parquet, in chunks, never whole.

Input goes through compound's shared readers (:mod:`compound.datafiles` for JSONL and CSV,
:mod:`compound.expansion_limits` for Parquet, bounded against decompression bombs), so a bad
line is a :class:`~compound.errors.UserError` naming the file and the line. Output is
written to ``NAME.partial`` next to the output file and renamed when every row is written:
an interrupted run never leaves a file that looks complete.

Cells CSV and Parquet cannot hold as they are (records, lists) are written as JSON text;
JSONL keeps them as they are. A missing value is an empty CSV cell and a null elsewhere.

Example:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "in.csv").write_text("q,n\\nhi,1\\nyo,2\\n")
    >>> [chunk for chunk in read_chunks(folder / "in.csv", size=1)]
    [[{'q': 'hi', 'n': '1'}], [{'q': 'yo', 'n': '2'}]]
    >>> with ChunkWriter(folder / "out.jsonl") as out:
    ...     out.write([{"q": "hi", "tags": ["a"]}])
    >>> (folder / "out.jsonl").read_text()
    '{"q": "hi", "tags": ["a"]}\\n'
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from compound.datafiles import BadLine, delimited_records, jsonl_records
from compound.errors import UserError, require

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet",
           ".pq": "parquet"}


def file_format(path: str | Path, *, role: str) -> str:
    """``jsonl``, ``csv`` or ``parquet``, by the extension of ``path``.

    Raises:
        UserError: another extension (``role`` says which file: input, output).
    """
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise UserError(f"{path}: the {role} file must end in {', '.join(FORMATS)} (the "
                        f"format follows the extension); received '{suffix or 'no extension'}'")
    return FORMATS[suffix]


def count_rows(path: str | Path) -> int:
    """How many rows ``path`` holds, for a progress bar: read from a Parquet footer; counted
    as non-blank lines (minus the header) for JSONL and CSV, which a quoted field spanning
    lines makes an upper bound."""
    kind = file_format(path, role="input")
    if kind == "parquet":
        from compound.expansion_limits import open_parquet

        return int(open_parquet(path).metadata.num_rows)
    lines = 0
    try:
        with Path(path).open("rb") as handle:
            lines = sum(1 for line in handle if line.strip())
    except OSError:
        return 0  # the reader says what is wrong with the file
    return max(0, lines - 1) if kind == "csv" else lines


def read_chunks(path: str | Path, *, size: int) -> Iterator[list[dict[str, Any]]]:
    """The rows of ``path`` in lists of ``size`` (the last one shorter).

    Raises:
        UserError: the file is missing or unreadable, or a line holds no record (naming
            the file and the line).
    """
    chunk: list[dict[str, Any]] = []
    for row in _rows(Path(path)):
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _rows(path: Path) -> Iterator[dict[str, Any]]:
    kind = file_format(path, role="input")
    if kind == "parquet":
        require("pyarrow", extra="ml", what="Reading Parquet files")
        from compound.expansion_limits import open_parquet, parquet_batches

        if not path.is_file():
            raise UserError(f"{path}: no such file; check the path")
        parquet = open_parquet(path)
        for batch in parquet_batches(parquet, path, batch_rows=1024):
            yield from batch.to_pylist()
        return
    records = jsonl_records(path) if kind == "jsonl" else delimited_records(path)
    for record in records:
        if isinstance(record, BadLine):
            what = "one JSON object" if kind == "jsonl" else "a CSV row"
            raise UserError(f"{path}:{record.line}: {record.problem}; each line of the input "
                            f"must be {what}")
        yield record[1]


class ChunkWriter:
    """Writes rows to ``path`` in its extension's format, chunk by chunk.

    Rows are written to ``path`` + ``.partial``, renamed to ``path`` when the writer closes
    without an error (and removed when it closes with one).

    Args:
        path: the output file (``.jsonl``, ``.csv`` or ``.parquet``).

    Raises:
        UserError: another extension, or a later CSV or Parquet row that does not fit the
            columns the first chunk set.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.kind = file_format(self.path, role="output")
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.rows = 0
        self._text: TextIO | None = None
        self._csv: Any = None
        self._columns: list[str] = []
        self._parquet: Any = None
        self._schema: Any = None

    def __enter__(self) -> ChunkWriter:
        if self.kind == "parquet":
            require("pyarrow", extra="ml", what="Writing Parquet files")
        else:
            self._text = self.partial.open("w", encoding="utf-8", newline="")
        return self

    def write(self, rows: list[dict[str, Any]]) -> None:
        """Append ``rows`` (in order)."""
        if not rows:
            return
        if self.kind == "jsonl":
            assert self._text is not None
            self._text.write("".join(json.dumps(r, ensure_ascii=False, default=str) + "\n"
                                     for r in rows))
        elif self.kind == "csv":
            self._write_csv(rows)
        else:
            self._write_parquet(rows)
        self.rows += len(rows)

    def _write_csv(self, rows: list[dict[str, Any]]) -> None:
        assert self._text is not None
        if self._csv is None:
            self._columns = list(dict.fromkeys(k for row in rows for k in row))
            self._csv = csv.writer(self._text)
            self._csv.writerow(self._columns)
        known = set(self._columns)
        for offset, row in enumerate(rows):
            extra = [k for k in row if k not in known]
            if extra:
                raise UserError(
                    f"input row {self.rows + offset + 1} has the field '{extra[0]}', which "
                    f"the first rows lack, and a CSV file has one header ({self.path}); "
                    "write JSONL instead, or give every row the same fields")
            self._csv.writerow([_cell(row.get(k)) for k in self._columns])

    def _write_parquet(self, rows: list[dict[str, Any]]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        plain = [{k: _json_cell(v) for k, v in row.items()} for row in rows]
        if self._parquet is None:
            table = pa.Table.from_pylist(plain)
            # a column with no value yet in the first chunk is text, not Arrow's null type
            self._schema = pa.schema([pa.field(f.name, pa.string()) if pa.types.is_null(f.type)
                                      else f for f in table.schema])
            self._parquet = pq.ParquetWriter(self.partial, self._schema)
        try:
            table = pa.Table.from_pylist(plain, schema=self._schema)
        except (pa.ArrowException, ValueError, TypeError) as exc:
            raise UserError(
                f"rows {self.rows + 1}-{self.rows + len(rows)} do not fit the Parquet columns "
                f"the first rows set ({exc}); {self.path} needs one type per column: write "
                "JSONL instead") from None
        self._parquet.write_table(table)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._text is not None:
            self._text.close()
        if self._parquet is not None:
            self._parquet.close()
        elif self.kind == "parquet" and kind is None:  # no row at all: an empty file
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.table({}), self.partial)
        if kind is None:
            os.replace(self.partial, self.path)
        else:
            self.partial.unlink(missing_ok=True)


def _json_cell(value: Any) -> Any:
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value


def _cell(value: Any) -> Any:
    return "" if value is None else _json_cell(value)
