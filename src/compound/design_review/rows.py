"""What the review reads of a data file: its rows, without running a model.

Files are read through :mod:`compound.datafiles` (lines that hold no record are skipped);
a ``store:`` dataset, a Parquet file or a file that is missing is not read: the review says
nothing from it rather than guess.

Example:
    >>> from compound.system import System
    >>> system = System.from_yaml("name: d\\nloop: interaction\\ntask: Answer.")
    >>> list(records(system, "store:holdout", limit=10))
    []
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from compound.evaluation.spec import DatasetSpec
    from compound.system import System


def records(system: System, path: str, *, limit: int | None = None) -> Iterator[dict[str, Any]]:
    """The first ``limit`` records of the data file ``path`` names (all when None)."""
    from compound.datafiles import BadLine, delimited_records, jsonl_records
    from compound.errors import UserError

    if path.startswith("store:"):
        return
    try:
        file = system.resolve_path(path)
    except UserError:
        return
    suffix = file.suffix.lower()
    if not file.is_file() or suffix not in (".jsonl", ".csv", ".tsv"):
        return
    found = (jsonl_records(file) if suffix == ".jsonl"
             else delimited_records(file, delimiter="\t" if suffix == ".tsv" else ","))
    try:
        for record in islice((r for r in found if not isinstance(r, BadLine)), limit):
            yield record[1]
    except UserError:
        return  # an unreadable file is for the command that uses it to report


def column_values(system: System, path: str, column: str, *, limit: int) -> list[Any]:
    """The values of ``column`` in the first ``limit`` records of ``path`` that have it."""
    return [r[column] for r in records(system, path, limit=limit) if r.get(column) is not None]


def eval_rows(system: System, dataset: DatasetSpec, sample: int | None
              ) -> tuple[int, str] | None:
    """How many rows an eval scores, in words (``12 rows (sample: 12 of 3,080)``) and as a
    number; None when that cannot be told before running (a ``store:`` dataset without
    ``sample``, an unreadable file)."""
    if dataset.path.startswith("store:"):
        return (sample, f"at most {sample} rows (sample: {sample} of a stored dataset)"
                ) if sample else None
    count = 0
    for record in records(system, dataset.path):
        if dataset.split is None or str(record.get(dataset.split_field)) == dataset.split:
            count += 1
    if count == 0:
        return None
    if sample is not None and sample < count:
        return sample, f"{sample} rows (sample: {sample} of {count:,})"
    return count, f"{count:,} rows (all of {dataset.path})"
