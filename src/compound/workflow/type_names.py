"""Type names a workflow's ``input:`` may use, read by a small parser (never by ``eval``).

The grammar, over an allow-list of names::

    type    := primary ("|" primary)*
    primary := "str" | "int" | "float" | "bool" | "any" | "Any" | "None"
             | "list" ["[" type "]"] | "dict" ["[" type "," type "]"]

Anything else (a call, an attribute, a name outside the list, a stray character) is an error
naming the field, so a downloaded spec cannot make ``compound check`` run code.

Example:
    >>> parse_type("list[str] | None", where="input.tags")
    list[str] | None
    >>> try:
    ...     parse_type("__import__('os')", where="input.q")
    ... except ValueError as exc:
    ...     print(exc)
    input.q: unknown type "__import__('os')" (unexpected '_' at column 1); use str, int, \
float, bool, list[...], dict[...], any, and 'X | None'
"""

from __future__ import annotations

import functools
import operator
import re
import typing
from typing import Any

TYPE_NAMES = "str, int, float, bool, list[...], dict[...], any, and 'X | None'"
MAX_LENGTH = 200
MAX_DEPTH = 8

_SIMPLE: dict[str, Any] = {"str": str, "int": int, "float": float, "bool": bool,
                           "any": typing.Any, "Any": typing.Any, "None": type(None)}
_GENERIC: dict[str, tuple[type, int]] = {"list": (list, 1), "dict": (dict, 2)}
_TOKEN = re.compile(r"[A-Za-z]+|[\[\],|]")


class _Invalid(Exception):
    pass


def parse_type(text: str, *, where: str) -> Any:
    """A type from its name in a spec (``str``, ``list[str]``, ``int | None``, ``any``).

    Raises:
        ValueError: ``text`` is not a type of the grammar above; the message names ``where``.
    """
    try:
        if len(text) > MAX_LENGTH:
            raise _Invalid(f"longer than {MAX_LENGTH} characters")
        parser = _Parser(text)
        value = parser.union(0)
        parser.expect_end()
    except _Invalid as exc:
        shown = text if len(text) <= 80 else text[:80] + "..."
        raise ValueError(f"{where}: unknown type {shown!r} ({exc}); use {TYPE_NAMES}") from None
    return None if value is type(None) else value


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, int]] = []  # (token, column)
        position = 0
        while True:
            while position < len(text) and text[position].isspace():
                position += 1
            if position == len(text):
                break
            match = _TOKEN.match(text, position)
            if match is None:
                raise _Invalid(f"unexpected {text[position]!r} at column {position + 1}")
            self.tokens.append((match.group(), position + 1))
            position = match.end()
        self.index = 0

    def peek(self) -> str | None:
        return self.tokens[self.index][0] if self.index < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise _Invalid("it ends too early")
        self.index += 1
        return token

    def expect(self, token: str) -> None:
        if self.peek() != token:
            found = self.peek()
            raise _Invalid(f"expected '{token}', found " + (f"'{found}'" if found else "the end"))
        self.index += 1

    def expect_end(self) -> None:
        if self.peek() is not None:
            raise _Invalid(f"unexpected '{self.peek()}' at column {self.tokens[self.index][1]}")

    def union(self, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise _Invalid(f"nested more than {MAX_DEPTH} levels deep")
        parts = [self.primary(depth)]
        while self.peek() == "|":
            self.index += 1
            parts.append(self.primary(depth))
        if len(parts) == 1:
            return parts[0]
        if any(part is typing.Any for part in parts):
            return typing.Union[tuple(parts)]  # noqa: UP007 (Any | int is not a runtime union)
        return functools.reduce(operator.or_, parts)

    def primary(self, depth: int) -> Any:
        name = self.take()
        if name in _SIMPLE:
            return _SIMPLE[name]
        if name not in _GENERIC:
            raise _Invalid(f"'{name}' is not a type name" if name.isalpha()
                           else f"expected a type name, found '{name}'")
        origin, arity = _GENERIC[name]
        if self.peek() != "[":
            return origin
        self.index += 1
        args = [self.union(depth + 1)]
        while len(args) < arity:
            self.expect(",")
            args.append(self.union(depth + 1))
        self.expect("]")
        return origin[tuple(args)] if arity > 1 else origin[args[0]]
