"""Reading a predictor's dataset: JSONL, CSV or Parquet, into a pandas DataFrame.

Every problem is a :class:`~compound.errors.UserError` naming the file (and the line, for
JSONL), what was expected and what to do: a missing or empty file, a line that is not a JSON
object, a misspelt column (with a did-you-mean).

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "train.jsonl"
    >>> _ = path.write_text('{"text": "hi", "label": "greet"}\\n')
    >>> read_table(path).columns.tolist()
    ['text', 'label']
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compound.datafiles import BadLine, first_bad_utf8_line, jsonl_records
from compound.errors import UserError, require
from compound.specfile import did_you_mean

if TYPE_CHECKING:
    import pandas as pd

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet",
           ".pq": "parquet"}


def pandas_module() -> Any:
    """The pandas module, or a :class:`~compound.errors.MissingDependency` naming the extra."""
    return require("pandas", extra="ml", what="Training and serving ML models")


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a JSONL, CSV or Parquet file into a DataFrame.

    Raises:
        UserError: the file is missing, of an unknown format, empty, or malformed.
    """
    pd = pandas_module()
    source = Path(path)
    kind = FORMATS.get(source.suffix.lower())
    if kind is None:
        raise UserError(
            f"{source}: unknown data format '{source.suffix or '(no extension)'}'; expected a "
            f"file ending in {', '.join(sorted(FORMATS))}"
        )
    if not source.is_file():
        raise UserError(
            f"{source}: no such data file; check the path in the spec (relative paths are "
            "resolved against the folder of compound.yaml)"
        )
    if source.stat().st_size == 0:
        raise UserError(f"{source}: the file is empty; it needs a header or one record per line")
    if kind == "jsonl":
        frame = _read_jsonl(source)
    elif kind == "csv":
        try:
            frame = pd.read_csv(source)
        except UnicodeDecodeError:
            line = first_bad_utf8_line(source)
            raise UserError(f"{source}:{line}: not UTF-8 text; save the file as UTF-8") from None
        except (pd.errors.ParserError, ValueError, OverflowError, csv.Error) as exc:
            # ParserError names the line ("Expected 2 fields in line 3, saw 3")
            raise UserError(f"{source}: not a readable CSV file: {exc}") from None
    else:
        frame = _read_parquet(source)
    if len(frame) == 0:
        raise UserError(f"{source}: the file holds no rows; a model needs examples to learn from")
    frame.columns = [str(c) for c in frame.columns]
    return frame


def _read_parquet(source: Path) -> pd.DataFrame:
    from compound.expansion_limits import read_parquet

    require("pyarrow", extra="ml", what="Reading Parquet data")
    table = read_parquet(source)  # bounded: a small file may expand to gigabytes
    try:
        return table.to_pandas()
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise UserError(f"{source}: not a readable Parquet file: {exc}") from None


def _read_jsonl(source: Path) -> pd.DataFrame:
    pd = pandas_module()
    records = []
    for record in jsonl_records(source):
        if isinstance(record, BadLine):
            raise UserError(f"{source}:{record.line}: {record.problem}; each line must be one "
                            "JSON object")
        records.append(record[1])
    if not records:
        raise UserError(f"{source}: the file holds no records; a model needs examples")
    return pd.DataFrame.from_records(records)


def check_columns(frame: pd.DataFrame, needed: Iterable[str], *, source: str) -> None:
    """Raise a :class:`UserError` for each column the spec names that the data lacks.

    Example:
        >>> import pandas as pd
        >>> try:
        ...     check_columns(pd.DataFrame({"text": ["a"]}), ["txet"], source="d.csv")
        ... except UserError as exc:
        ...     print(exc)
        d.csv: no column 'txet' (did you mean 'text'?); columns there: text
    """
    present = [str(c) for c in frame.columns]
    missing = [name for name in needed if name not in present]
    if not missing:
        return
    problems = [f"no column '{name}'{did_you_mean(name, present)}" for name in missing]
    shown = ", ".join(present[:30]) + (" ..." if len(present) > 30 else "")
    raise UserError(f"{source}: {'; '.join(problems)}; columns there: {shown}")


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes: the data content hash a model version records."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
