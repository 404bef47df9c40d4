"""Eval datasets from what the system recorded: workflow runs' traces, joined with feedback.

Two entry points:

* :func:`dataset_from_traces` reads the runs the workflow runtime traced into the store
  (streams ``trace:<run id>``; the ``run`` span carries the input and output) and attaches
  the latest feedback signal of each run (a stream of records with a ``run`` field), so that
  a user's correction becomes the expected answer, or a low rating selects the hard cases;
* :func:`dataset_from_stream` is the general form over any stream of JSON records.

Example:
    >>> from compound.store import MemoryStore
    >>> store = MemoryStore()
    >>> span = {"kind": "run", "parent_id": None, "trace_id": "t1", "start_ns": 1,
    ...         "attributes": {"compound.workflow": "answer", "compound.input":
    ...                        {"question": "2+2?"}, "compound.output": "5"}}
    >>> _ = store.append("trace:t1", {"spans": [span]})
    >>> _ = store.append("feedback", {"run": "t1", "rating": 1, "correction": "4"})
    >>> ds = dataset_from_traces(store, name="fixes")
    >>> ds.rows[0]["question"], ds.rows[0]["output"], ds.rows[0]["expected"]
    ('2+2?', '5', '4')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from compound.evaluation.datasets import Dataset
from compound.store import Store


def dataset_from_traces(
    store: Store,
    *,
    name: str,
    workflow: str | None = None,
    feedback_stream: str = "feedback",
    expected: str | None = "feedback.correction",
    where: Callable[[Mapping[str, Any]], bool] | None = None,
) -> Dataset:
    """One row per traced workflow run: its input fields, its output, its feedback.

    Args:
        store: where the traces and feedback are.
        name: the dataset's name.
        workflow: keep only runs of this workflow.
        feedback_stream: the stream of feedback signals (records with a ``run`` field).
        expected: dotted path, in the row, of the reference answer (None for no reference).
        where: keep only rows for which this returns True (it sees ``feedback`` too).
    """
    feedback: dict[Any, Any] = {}
    for record in store.read(feedback_stream):
        if isinstance(record.data, Mapping) and "run" in record.data:
            feedback[record.data["run"]] = record.data
    rows = []
    for stream in store.streams(prefix="trace:"):
        run_id = stream.removeprefix("trace:")
        spans = [s for r in store.read(stream) for s in (r.data or {}).get("spans", [])]
        roots = [s for s in spans if s.get("kind") == "run" and not s.get("parent_id")]
        if not roots:
            continue
        attributes = roots[0].get("attributes", {})
        if workflow is not None and attributes.get("compound.workflow") != workflow:
            continue
        given = attributes.get("compound.input")
        row: dict[str, Any] = {"id": run_id}
        row.update(given if isinstance(given, Mapping) else {"input": given})
        row["output"] = attributes.get("compound.output")
        row["workflow"] = attributes.get("compound.workflow")
        row["feedback"] = feedback.get(run_id)
        if where is not None and not where(row):
            continue
        if expected:
            row["expected"] = _dig(row, expected)
        rows.append(row)
    return Dataset(rows, name=name, id_field="id", source="traces")


def dataset_from_stream(
    store: Store,
    stream: str,
    *,
    name: str,
    inputs: Mapping[str, str],
    expected: str | None = None,
    id_path: str | None = None,
    join_stream: str | None = None,
    join_on: str = "run",
    where: Callable[[Mapping[str, Any]], bool] | None = None,
) -> Dataset:
    """Build a dataset from stored records: traces of runs, optionally joined with feedback.

    Each record's data becomes one row. With ``join_stream``, the latest record of that stream
    whose ``join_on`` field equals the record's is attached under ``feedback``, so that, e.g.,
    a user's correction becomes the expected answer. Paths are dotted (``input.question``).

    Args:
        store: where the records are.
        stream: the stream of run records (e.g. ``traces``).
        name: the dataset's name.
        inputs: dataset field -> dotted path in the (joined) record.
        expected: dotted path of the reference answer (e.g. ``feedback.correction``).
        id_path: dotted path of a stable id (default: the record's sequence number).
        join_stream: a stream of feedback signals to attach.
        join_on: the field both streams share.
        where: keep only records for which this returns True (after the join).

    Example:
        >>> from compound.store import MemoryStore
        >>> s = MemoryStore()
        >>> _ = s.append("runs", {"run": "r1", "input": {"question": "2+2?"}, "output": "5"})
        >>> _ = s.append("feedback", {"run": "r1", "correction": "4"})
        >>> ds = dataset_from_stream(s, "runs", name="fixes", inputs={"question":
        ...     "input.question"}, expected="feedback.correction", join_stream="feedback")
        >>> ds.rows[0]["question"], ds.rows[0]["expected"]
        ('2+2?', '4')
    """
    feedback: dict[Any, Any] = {}
    if join_stream:
        for record in store.read(join_stream):
            if isinstance(record.data, Mapping) and join_on in record.data:
                feedback[record.data[join_on]] = record.data
    rows = []
    for record in store.read(stream):
        data = dict(record.data) if isinstance(record.data, Mapping) else {"value": record.data}
        if join_stream:
            data["feedback"] = feedback.get(data.get(join_on))
        if where is not None and not where(data):
            continue
        row: dict[str, Any] = {"id": str(_dig(data, id_path) if id_path else record.seq)}
        row.update({key: _dig(data, path) for key, path in inputs.items()})
        if expected:
            row["expected"] = _dig(data, expected)
        rows.append(row)
    return Dataset(rows, name=name, id_field="id", source=f"stream:{stream}")


def _dig(data: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(data, Mapping):
            return None
        data = data.get(part)
    return data
