"""Eval datasets: rows read from JSONL/CSV (or stored traces), identified by their content hash.

A :class:`Dataset` is an immutable list of rows (JSON objects). Its ``version`` is the first 12
hex digits of the sha256 of its canonical JSON, so the same rows always have the same version
and any edit gives a new one. :meth:`Dataset.examples` turns rows into :class:`Example` objects
with the fields the target sees (``inputs``) and the reference (``expected``). A row that lacks
a field, or a line that is not JSON, is kept as an example with ``problems``: the runner counts
and shows it instead of silently dropping it.

Example:
    >>> ds = Dataset([{"q": "2+2?", "a": "4"}, {"q": "Capital of France?", "a": "Paris"}],
    ...              name="arith")
    >>> len(ds), len(ds.version)
    (2, 12)
    >>> ex = ds.examples(inputs=["q"], expected="a")[1]
    >>> ex.inputs, ex.expected
    ({'q': 'Capital of France?'}, 'Paris')
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compound.datafiles import BadLine, delimited_records, jsonl_records
from compound.errors import UserError

INVALID_KEY = "_invalid"


@dataclass(frozen=True)
class Example:
    """One row as the runner sees it.

    Attributes:
        id: stable id (the id field, else a hash of the row's content).
        inputs: what the target receives.
        expected: the reference answer, or None.
        split: the row's split, if any.
        row: the whole original row (for human labels and other metadata).
        problems: why the row cannot be evaluated (a missing field, a malformed line).
    """

    id: str
    inputs: Mapping[str, Any]
    expected: Any = None
    split: str | None = None
    row: Mapping[str, Any] = field(default_factory=dict)
    problems: tuple[str, ...] = ()

    @property
    def valid(self) -> bool:
        return not self.problems


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: the form hashes are taken of."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      default=str)


def content_hash(value: Any, length: int = 12) -> str:
    """The first ``length`` hex digits of the sha256 of ``value``'s canonical JSON."""
    # surrogatepass: a JSON file may hold a lone surrogate escape ("\\ud800"), still hashable
    data = canonical_json(value).encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()[:length]


class Dataset:
    """An immutable, content-addressed list of rows.

    Args:
        rows: JSON objects (dicts).
        name: a name for humans and for the store.
        id_field: the field holding a stable id; default ``id`` when rows have it.
        split_field: the field holding the split name.
        source: where the rows came from (a path, ``store:...``, ``stream:...``).
    """

    def __init__(
        self,
        rows: Iterable[Mapping[str, Any]],
        *,
        name: str,
        id_field: str | None = None,
        split_field: str = "split",
        source: str = "",
    ) -> None:
        self.rows: tuple[dict[str, Any], ...] = tuple(dict(r) for r in rows)
        self.name = name
        self.split_field = split_field
        self.source = source
        sound = [r for r in self.rows[:200] if INVALID_KEY not in r]
        if id_field is None and sound and all("id" in r for r in sound):
            id_field = "id"
        self.id_field = id_field
        self.version = content_hash([list(self.rows), id_field, split_field])

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        return f"Dataset({self.name!r}, version={self.version!r}, rows={len(self)})"

    @property
    def ref(self) -> str:
        """``name@version``, how the store and the CLI name this dataset."""
        return f"{self.name}@{self.version}"

    # -- reading ----------------------------------------------------------------------------

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str],
        *,
        format: str = "auto",
        name: str | None = None,
        id_field: str | None = None,
        split_field: str = "split",
    ) -> Dataset:
        """Read a ``.jsonl`` or ``.csv`` file. A malformed line (not JSON, not UTF-8, a CSV
        row with the wrong number of fields) becomes an invalid row naming its line.

        Raises:
            UserError: the file does not exist, its format is unknown, or it cannot be read
                at all (a CSV that is not UTF-8); the message names the file and line.
        """
        file = Path(path)
        if not file.exists():
            raise UserError(f"dataset file {file} does not exist; check the eval's dataset.path")
        kind = format if format != "auto" else file.suffix.lower().lstrip(".")
        if kind in ("jsonl", "ndjson", "json"):
            rows = [_row(record, file) for record in jsonl_records(file)]
        elif kind in ("csv", "tsv"):
            delimiter = "\t" if kind == "tsv" else ","
            rows = [_row(record, file) for record in delimited_records(file, delimiter=delimiter)]
        else:
            raise UserError(
                f"dataset file {file}: unknown format '{kind}'; expected .jsonl or .csv "
                "(or set dataset.format: jsonl|csv)"
            )
        return cls(rows, name=name or file.stem, id_field=id_field, split_field=split_field,
                   source=str(file))

    # -- views ------------------------------------------------------------------------------

    def _derive(self, rows: Iterable[Mapping[str, Any]], suffix: str = "") -> Dataset:
        return Dataset(rows, name=self.name + suffix, id_field=self.id_field,
                       split_field=self.split_field, source=self.source)

    def splits(self) -> dict[str, int]:
        """Rows per split (``(none)`` for rows without one)."""
        counts = Counter(str(r.get(self.split_field, "(none)")) for r in self.rows)
        return dict(sorted(counts.items()))

    def select_split(self, split: str) -> Dataset:
        """Only the rows of ``split``.

        Raises:
            UserError: no row has that split, naming those that exist.
        """
        rows = [r for r in self.rows if str(r.get(self.split_field)) == split]
        if not rows:
            raise UserError(
                f"dataset '{self.name}' has no rows with {self.split_field} = '{split}'; "
                f"splits present: {', '.join(self.splits())}"
            )
        return self._derive(rows)

    def with_splits(self, fractions: Mapping[str, float], *, seed: int = 0) -> Dataset:
        """Assign each row a split by a seeded hash of its id, so a row keeps its split when
        others are added.

        Example:
            >>> ds = Dataset([{"id": str(i)} for i in range(100)], name="d")
            >>> sorted(ds.with_splits({"train": 0.8, "test": 0.2}).splits())
            ['test', 'train']
        """
        total = sum(fractions.values())
        if total <= 0 or any(v < 0 for v in fractions.values()):
            raise UserError(f"split fractions must be positive; received {dict(fractions)}")
        bounds, acc = [], 0.0
        for split, fraction in fractions.items():
            acc += fraction / total
            bounds.append((acc, split))
        out = []
        for row, row_id in zip(self.rows, self.ids(), strict=True):
            point = int(hashlib.sha256(f"{seed}:{row_id}".encode()).hexdigest()[:8], 16) / 2**32
            split = next((s for bound, s in bounds if point < bound), bounds[-1][1])
            out.append({**row, self.split_field: split})
        return self._derive(out)

    def sample(self, n: int, *, seed: int = 0) -> Dataset:
        """``n`` rows chosen with a seeded generator, kept in their original order."""
        if n >= len(self.rows):
            return self
        chosen = sorted(random.Random(seed).sample(range(len(self.rows)), n))
        return self._derive([self.rows[i] for i in chosen])

    def head(self, n: int) -> Dataset:
        """The first ``n`` rows."""
        return self if n >= len(self.rows) else self._derive(self.rows[:n])

    def ids(self) -> list[str]:
        """Each row's id; duplicates get ``#2``, ``#3``... so ids are unique."""
        seen: Counter[str] = Counter()
        out = []
        for row in self.rows:
            raw = row.get(self.id_field) if self.id_field else None
            base = str(raw) if raw not in (None, "") else content_hash(row)
            seen[base] += 1
            out.append(base if seen[base] == 1 else f"{base}#{seen[base]}")
        return out

    def fields(self) -> list[str]:
        """Every field that appears in some row, in first-seen order."""
        names: dict[str, None] = {}
        for row in self.rows:
            names.update(dict.fromkeys(row))
        names.pop(INVALID_KEY, None)
        return list(names)

    def examples(
        self,
        *,
        inputs: Sequence[str] | Mapping[str, str] | None = None,
        expected: str | None = None,
    ) -> list[Example]:
        """Rows as examples. A row missing an input or the expected field gets a problem.

        Args:
            inputs: fields passed to the target, or target name -> dataset field. Default:
                every field but the id, split and expected ones.
            expected: the field holding the reference.
        """
        if inputs is None:
            skip = {self.id_field, self.split_field, expected, INVALID_KEY}
            mapping = {f: f for f in self.fields() if f not in skip}
        elif isinstance(inputs, Mapping):
            mapping = dict(inputs)
        else:
            mapping = {f: f for f in inputs}
        out = []
        for row, row_id in zip(self.rows, self.ids(), strict=True):
            problems: list[str] = []
            if INVALID_KEY in row:
                problems.append(str(row[INVALID_KEY]))
            values: dict[str, Any] = {}
            for target_name, source in mapping.items():
                if row.get(source) is None:
                    if INVALID_KEY not in row:
                        problems.append(f"missing input field '{source}'")
                else:
                    values[target_name] = row[source]
            reference = row.get(expected) if expected else None
            if expected and reference is None and INVALID_KEY not in row:
                problems.append(f"missing expected field '{expected}'")
            split = row.get(self.split_field)
            out.append(Example(
                id=row_id, inputs=values, expected=reference,
                split=None if split is None else str(split), row=row, problems=tuple(problems),
            ))
        return out

    def to_jsonl(self) -> bytes:
        """The rows as JSONL bytes (how the store keeps them)."""
        text = "".join(canonical_json(r) + "\n" for r in self.rows)
        return text.encode("utf-8", "surrogatepass")  # as content_hash does

    @classmethod
    def from_jsonl_bytes(cls, data: bytes, **kwargs: Any) -> Dataset:
        text = data.decode("utf-8", "surrogatepass")
        # "\n" only: splitlines() would also cut at U+2028 and U+0085 inside a JSON string
        rows = [json.loads(line) for line in text.split("\n") if line]
        return cls(rows, **kwargs)


def _row(record: tuple[int, Mapping[str, Any]] | BadLine, file: Path) -> Mapping[str, Any]:
    """A record as a row; a bad line as an invalid row naming the file and line."""
    if isinstance(record, BadLine):
        return {INVALID_KEY: f"{file.name}:{record.line}: {record.problem}", "line": record.line}
    line, row = record
    if INVALID_KEY in row:  # the marker of invalid rows: data may not forge it
        return {INVALID_KEY: f"{file.name}:{line}: the field '{INVALID_KEY}' is reserved by "
                             "compound; rename it", "line": line}
    return row
