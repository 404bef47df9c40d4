"""Reading JSONL and CSV/TSV data files record by record, with the line of every problem.

Every reader of a dataset in compound (evaluation datasets, a predictor's training data, the
safety suites' prompts, BEIR folders) goes through these functions, so a file chosen by
someone else ends in a record, a :class:`BadLine` naming its line, or a
:class:`~compound.errors.UserError` naming the file and line; never in a traceback. Each
caller decides what a bad line means for it (an invalid example, a skipped document, an
error).

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "d.csv"
    >>> _ = path.write_text("q,a\\nhi,hello\\nragged,row,here\\n")
    >>> for record in delimited_records(path):
    ...     print(record)
    (2, {'q': 'hi', 'a': 'hello'})
    BadLine(line=3, problem='expected 2 fields as in the header (q, a), received 3')
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compound.errors import UserError

_BOM = "\ufeff"
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


@dataclass(frozen=True)
class BadLine:
    """A line (1-based) that holds no record, and why."""

    line: int
    problem: str


class NotJSON(ValueError):
    """Text that is not one JSON value; the message says why, without a traceback.

    Attributes:
        msg: the reason alone (``Expecting value``, ``nested too deeply``).
        pos: the character where it went wrong, when known.
        colno: its column on its line (1-based), when known.
    """

    def __init__(self, msg: str, pos: int | None = None, colno: int | None = None) -> None:
        self.msg, self.pos, self.colno = msg, pos, colno
        where = f", column {colno}" if colno is not None else ""
        super().__init__(f"not valid JSON ({msg}{where})")


def parse_json(text: str | bytes) -> Any:
    """``json.loads`` whose every failure is a :class:`NotJSON` with a short reason.

    Besides malformed text this covers nesting deep enough to exhaust the stack and integers
    longer than Python converts (both raise other exceptions from ``json.loads``). Use it for
    any JSON from outside: data files, arguments, a model's output.

    Example:
        >>> parse_json('{"a": [1, 2]}')
        {'a': [1, 2]}
        >>> try:
        ...     parse_json("[" * 100_000)
        ... except NotJSON as exc:
        ...     print(exc)
        not valid JSON (nested too deeply)
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotJSON(exc.msg, exc.pos, exc.colno) from None
    except RecursionError:
        raise NotJSON("nested too deeply") from None
    except (ValueError, TypeError) as exc:  # an integer of thousands of digits, bad bytes
        raise NotJSON(str(exc).split(";")[0]) from None


def jsonl_records(path: str | Path) -> Iterator[tuple[int, dict[str, Any]] | BadLine]:
    """Each non-blank line of a JSONL file: ``(line, object)``, or a :class:`BadLine` when the
    line is not UTF-8, not JSON, or not a JSON object.

    Raises:
        UserError: the file cannot be opened.
    """
    file = Path(path)
    with _open(file) as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield BadLine(number, f"not UTF-8 text (byte {exc.start} of the line); save "
                                      "the file as UTF-8")
                continue
            if number == 1:
                text = text.removeprefix(_BOM)
            try:
                value = parse_json(text)
            except NotJSON as exc:
                yield BadLine(number, str(exc))
                continue
            if not isinstance(value, dict):
                yield BadLine(number, f"expected a JSON object, received a "
                                      f"{type(value).__name__}")
                continue
            if _SURROGATE_ESCAPE.search(text) and not _is_text(value):
                yield BadLine(number, "holds a lone surrogate escape (such as \\ud800), which "
                                      "is not a character; remove it or write the pair")
                continue
            yield number, value


def delimited_records(
    path: str | Path, *, delimiter: str = ","
) -> Iterator[tuple[int, dict[str, str]] | BadLine]:
    """The rows of a CSV (or, with ``delimiter="\\t"``, TSV) file with a header line, as
    ``(line, {column: value})``; a row whose field count differs from the header's is a
    :class:`BadLine`. Blank lines are skipped; a byte-order mark is dropped.

    Raises:
        UserError: the file cannot be opened or is not UTF-8, its header names a column
            twice, or the CSV syntax breaks (a field above the size limit); each names the
            file and line.
    """
    file = Path(path)
    with _open(file) as handle:  # read as it goes: a file of any size streams
        text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
        reader = csv.reader(text, delimiter=delimiter)
        header: list[str] | None = None
        end = 0  # the last line of the previous record (a quoted field may span lines)
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError:
                line = first_bad_utf8_line(file)
                raise UserError(f"{file}:{line}: not UTF-8 text; save the file as "
                                "UTF-8") from None
            except csv.Error as exc:
                raise UserError(f"{file}:{end + 1}: not a readable CSV row ({exc}); check the "
                                "quoting there (an unclosed quote makes one huge field)"
                                ) from None
            start, end = end + 1, reader.line_num
            if not row:
                continue
            if header is None:
                header = row
                _check_header(header, file, start)
                continue
            if len(row) != len(header):
                shown = ", ".join(header[:10]) + (", ..." if len(header) > 10 else "")
                yield BadLine(start, f"expected {len(header)} fields as in the header "
                                     f"({shown}), received {len(row)}")
                continue
            yield start, dict(zip(header, row, strict=True))


def _is_text(value: Any) -> bool:
    """Whether every string in ``value`` is valid Unicode (JSON escapes can make one that is
    not, which later fails to encode deep inside pandas or a store)."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def first_bad_utf8_line(path: str | Path) -> int | None:
    """The first line of ``path`` that is not UTF-8, or None (for messages from other
    readers, which report only a byte offset)."""
    with _open(Path(path)) as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return None


def _check_header(header: list[str], file: Path, line: int) -> None:
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise UserError(f"{file}:{line}: the header names column '{name}' twice; rename "
                            "one of them")
        seen.add(name)


def _open(file: Path) -> io.BufferedReader:
    try:
        return file.open("rb")
    except FileNotFoundError:
        raise UserError(f"{file}: no such file; check the path") from None
    except OSError as exc:
        raise UserError(f"{file}: cannot be read ({exc.strerror})") from None
