"""Values as plain JSON data and back: step outputs in checkpoints, traces and responses.

:func:`to_json` writes dataclasses, pydantic models, enums, tuples and sets as plain JSON data
(what lets a killed run resume in another process, and a tool's result reach the model);
:func:`from_json` rebuilds a typed value from it with pydantic. Nothing is ever evaluated.

Example:
    >>> import dataclasses
    >>> @dataclasses.dataclass
    ... class Answer:
    ...     text: str
    ...     sources: tuple[str, ...]
    >>> to_json(Answer("Paris", ("wiki",)))
    {'text': 'Paris', 'sources': ['wiki']}
    >>> from_json({'text': 'Paris', 'sources': ['wiki']}, Answer)
    Answer(text='Paris', sources=('wiki',))
    >>> try:
    ...     to_json({"when": object()}, where="output")
    ... except NotJSONError as exc:
    ...     print(str(exc).split(",")[0])
    output.when is a builtins.object
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from functools import cache
from typing import Any


class NotJSONError(TypeError):
    """A value cannot be written as JSON; the message names its type and where it sits."""


_ATOMS = (str, bool, int, type(None))


def to_json(value: Any, *, where: str = "value") -> Any:
    """Plain JSON data for ``value`` (dataclasses, pydantic models, enums, tuples included).

    Raises:
        NotJSONError: naming the path of the first part that cannot be written.
    """
    try:
        return _plain(value)
    except _NotPlain:
        return _located(value, where)  # again, slowly, to say where the problem is


class _NotPlain(Exception):
    pass


def _plain(value: Any) -> Any:
    if isinstance(value, _ATOMS):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise _NotPlain
        return value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise _NotPlain
            out[key] = item if isinstance(item, _ATOMS) else _plain(item)
        return out
    if isinstance(value, list | tuple | set | frozenset):
        return [item if isinstance(item, _ATOMS) else _plain(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    raise _NotPlain


def _located(value: Any, where: str) -> Any:
    """:func:`to_json` that keeps track of the path, for the error message."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise NotJSONError(f"{where} is {value}, which JSON cannot hold")
        return value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise NotJSONError(f"{where} has a key {key!r} of type {type(key).__name__}; "
                                   "JSON keys must be strings")
            out[key] = _located(item, f"{where}.{key}")
        return out
    if isinstance(value, list | tuple | set | frozenset):
        return [_located(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _located(getattr(value, f.name), f"{where}.{f.name}")
                for f in dataclasses.fields(value)}
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if isinstance(value, enum.Enum):
        return _located(value.value, where)
    raise NotJSONError(
        f"{where} is a {type(value).__module__}.{type(value).__qualname__}, which cannot be "
        "written as JSON; return a dataclass, a pydantic model or plain data instead"
    )


def from_json(data: Any, tp: Any) -> Any:
    """Rebuild a value of type ``tp`` from :func:`to_json` output (uses pydantic)."""
    if tp is Any or data is None:
        return data
    return _adapter(tp).validate_python(data)


@cache
def _adapter(tp: Any) -> Any:
    from pydantic import TypeAdapter

    return TypeAdapter(tp)
