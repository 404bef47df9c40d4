"""Which values may flow where: whether one type fits another, and what a record's fields are.

A workflow is checked when it is built, before any request flows through it. For each input
of each step we know the type the step declares and the type of the value that will arrive
(a field of an earlier step's output, or of the workflow's input); :func:`assignable` says
whether the second fits the first. It answers "yes" when it cannot tell (``Any``, a type
variable, an unannotated function), so a check only fails on a real mismatch. Context
templates and evaluation checks use the same answers (:func:`fields_of`, :func:`describe`).

Example:
    >>> assignable(int, float), assignable(list[int], list[str])
    (True, False)
    >>> describe(list[str] | None)
    'list[str] | None'
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any, Union

NoneType = type(None)
_NUMERIC_WIDENING = {(int, float), (bool, int), (bool, float), (int, complex), (float, complex)}


def assignable(source: Any, target: Any) -> bool:
    """Whether a value of type ``source`` may be passed where ``target`` is declared.

    Permissive where the answer is unknown (``Any``, unresolved forward references).
    """
    if source is target or target is Any or source is Any or target is object:
        return True
    if isinstance(target, typing.TypeVar) or isinstance(source, typing.TypeVar):
        return True
    if isinstance(target, str) or isinstance(source, str):  # unresolved forward reference
        return True
    t_origin, s_origin = typing.get_origin(target), typing.get_origin(source)
    if t_origin is typing.Annotated:
        return assignable(source, typing.get_args(target)[0])
    if s_origin is typing.Annotated:
        return assignable(typing.get_args(source)[0], target)
    if _is_union(source):
        return all(assignable(member, target) for member in typing.get_args(source))
    if _is_union(target):
        return any(assignable(source, member) for member in typing.get_args(target))
    if t_origin is typing.Literal:
        return s_origin is typing.Literal and set(typing.get_args(source)) <= set(
            typing.get_args(target)
        )
    if s_origin is typing.Literal:
        return all(assignable(type(v), target) for v in typing.get_args(source))
    if source is None:
        source = NoneType
    if target is None:
        target = NoneType
    if (source, target) in _NUMERIC_WIDENING:
        return True
    t_class = t_origin or target
    s_class = s_origin or source
    if not isinstance(t_class, type) or not isinstance(s_class, type):
        return True
    try:
        if not issubclass(s_class, t_class):
            return False
    except TypeError:
        return True
    t_args, s_args = typing.get_args(target), typing.get_args(source)
    if not t_args or not s_args:
        return True
    if t_class is tuple or s_class is tuple:
        return _tuple_args_fit(s_args, t_args)
    if len(t_args) != len(s_args):
        return True
    return all(assignable(s, t) for s, t in zip(s_args, t_args, strict=True))


def _tuple_args_fit(source: tuple[Any, ...], target: tuple[Any, ...]) -> bool:
    if len(target) == 2 and target[1] is Ellipsis:
        items = source[:1] if len(source) == 2 and source[1] is Ellipsis else source
        return all(assignable(s, target[0]) for s in items)
    if len(source) == 2 and source[1] is Ellipsis:
        return False
    return len(source) == len(target) and all(
        assignable(s, t) for s, t in zip(source, target, strict=True)
    )


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (Union, types.UnionType)


def allows_none(tp: Any) -> bool:
    """Whether ``tp`` accepts ``None`` (``X | None``, ``Optional[X]``, ``Any``)."""
    return tp is Any or tp is None or tp is NoneType or (
        _is_union(tp) and NoneType in typing.get_args(tp)
    )


def describe(tp: Any) -> str:
    """A short readable name of a type, for messages: ``list[str]``, ``Answer | None``."""
    if tp is Any:
        return "Any"
    if tp is None or tp is NoneType:
        return "None"
    if _is_union(tp):
        return " | ".join(describe(a) for a in typing.get_args(tp))
    origin = typing.get_origin(tp)
    if origin is not None:
        args = ", ".join("..." if a is Ellipsis else describe(a) for a in typing.get_args(tp))
        name = getattr(origin, "__name__", str(origin).replace("typing.", ""))
        return f"{name}[{args}]"
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


@cache
def fields_of(tp: Any) -> Mapping[str, Any] | None:
    """Field names and types of a dataclass, pydantic model, TypedDict or NamedTuple type.

    Returns None when ``tp`` is not a record type (its fields cannot be addressed).
    """
    if not isinstance(tp, type):
        return None
    if dataclasses.is_dataclass(tp):
        hints = _hints(tp)
        return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(tp)}
    model_fields = getattr(tp, "model_fields", None)
    if isinstance(model_fields, dict) and hasattr(tp, "model_validate"):
        return {name: info.annotation for name, info in model_fields.items()}
    if typing.is_typeddict(tp) or (issubclass(tp, tuple) and hasattr(tp, "_fields")):
        return _hints(tp)
    return None


def _hints(tp: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(tp)
    except Exception:  # an unresolvable forward reference: fall back to raw annotations
        return dict(getattr(tp, "__annotations__", {}))


def item_type(tp: Any) -> Any | None:
    """The element type of a list-like type (``list[X]`` -> ``X``), or None if not list-like."""
    if tp is Any:
        return Any
    origin = typing.get_origin(tp) or tp
    if not isinstance(origin, type) or origin in (str, bytes) or not issubclass(origin, Sequence):
        return None
    args = typing.get_args(tp)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return args[0]
    if origin is tuple and args:
        return Union[args] if len(set(args)) > 1 else args[0]  # noqa: UP007 - runtime union
    return args[0] if args else Any
