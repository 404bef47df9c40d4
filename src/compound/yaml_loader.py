"""The one YAML reader of compound: plain data with the line of every key, within limits.

Every YAML compound reads (a `compound.yaml`, Markdown front matter) goes through
:func:`load_yaml`. It builds plain Python values (dicts, lists, str, int, float, bool, None,
dates) from PyYAML's event stream in one loop, without recursion, so that a document chosen
by someone else cannot make it run code, run out of stack or run for minutes:

* no tag builds an object: ``!!python/object`` and every other unknown tag is an error;
* nesting deeper than :attr:`YAMLLimits.max_depth` is an error (500 or 5,000 levels end in a
  message, not a ``RecursionError``);
* an alias (``*name``) copies its anchor's value and counts every value it copies, so a
  "billion laughs" document stops at :attr:`YAMLLimits.max_values`, and an alias inside the
  value it names (``&a [*a]``) is an error;
* a document larger than :attr:`YAMLLimits.max_bytes` is refused before it is parsed.

Every error is a :class:`~compound.errors.SpecError` naming the file and the line. Merge keys
(``<<: *defaults``) work as in YAML 1.1: keys written in the mapping win over merged ones.

Example:
    >>> doc = load_yaml("base: &b {x: 1}\\nother:\\n  <<: *b\\n  y: 2\\n", source="c.yaml")
    >>> doc.data["other"], doc.line_of(("other", "y"))
    ({'y': 2, 'x': 1}, 4)
    >>> try:
    ...     load_yaml("a: &a [*a]\\n", source="c.yaml")
    ... except SpecError as exc:
    ...     print(exc.problems[0])
    c.yaml:1: the alias '*a' is inside the value it names (a value cannot contain itself); \
write the value out instead
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from compound.errors import SpecError

Path_ = tuple[str | int, ...]

# libyaml's parser when PyYAML was built with it (about 8x faster); PyYAML's own otherwise.
# Only the parser is used: the values are built below, never by a PyYAML constructor.
_PARSER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TAG = "tag:yaml.org,2002:"
_MERGE = _TAG + "merge"
_STR = _TAG + "str"
_BOOL = _TAG + "bool"
# scalar tags and the types they build; every other tag is refused
_SCALAR_TAGS = {_TAG + name for name in ("str", "int", "float", "bool", "null", "timestamp")}
_COLLECTION_TAGS = {yaml.MappingStartEvent: (None, "!", _TAG + "map"),
                    yaml.SequenceStartEvent: (None, "!", _TAG + "seq")}


@dataclass(frozen=True)
class YAMLLimits:
    """How large a YAML document may be. The defaults are far above any real spec.

    Attributes:
        max_bytes: the size of the text, in UTF-8 bytes (characters when checked on text).
        max_depth: how deeply lists and mappings may nest.
        max_values: how many values (scalars, lists, mappings) the document may hold once its
            aliases and merge keys are expanded.
    """

    max_bytes: int = 2 * 2**20
    max_depth: int = 64
    max_values: int = 100_000


DEFAULT_LIMITS = YAMLLimits()


@dataclass
class PositionedYAML:
    """A parsed YAML document and the line (1-based) of every key path in it."""

    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, loc: Iterable[str | int]) -> int | None:
        """The line of the longest prefix of ``loc`` that exists in the document."""
        parts = tuple(loc)
        while True:
            if parts in self.lines:
                return self.lines[parts]
            if not parts:
                return None
            parts = parts[:-1]


def load_yaml(
    text: str, *, source: str, limits: YAMLLimits = DEFAULT_LIMITS
) -> PositionedYAML:
    """Parse ``text`` into plain Python data, recording lines and rejecting duplicate keys.

    Args:
        text: the YAML document.
        source: the file it came from, for messages.
        limits: bounds on size, depth and expansion.

    Raises:
        SpecError: the text is not valid YAML, breaks a limit, uses a tag, an undefined or
            self-containing alias, or repeats a key. Each problem names ``source`` and a line.
    """
    if len(text) > limits.max_bytes:
        raise SpecError([_too_large(source, len(text), limits)], path=source)
    builder = _Builder(source, limits)
    try:
        for event in yaml.parse(text, Loader=_PARSER):
            builder.feed(event)
    except yaml.reader.ReaderError as exc:  # a control character: no mark, a position
        line = text.count("\n", 0, max(exc.position, 0)) + 1
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise SpecError([f"{source}:{line}: not valid YAML: the character U+{char:04X} is not "
                         "allowed in YAML (a control character); remove it"],
                        path=source) from None
    except UnicodeEncodeError as exc:  # a lone surrogate in text handed in directly
        line = text.count("\n", 0, exc.start) + 1
        raise SpecError([f"{source}:{line}: not valid text ({exc.reason}); save the file as "
                         "UTF-8"], path=source) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(
            [f"{where}: not valid YAML: {problem}. Check indentation, colons and quoting there."],
            path=source,
        ) from None
    except _Fatal as exc:
        raise SpecError([*builder.problems, f"{source}:{exc.line}: {exc}"], path=source) from None
    if builder.problems:
        raise SpecError(builder.problems, path=source)
    return PositionedYAML(builder.data, builder.lines)


def check_size(size: int, *, source: str, limits: YAMLLimits = DEFAULT_LIMITS) -> None:
    """Refuse a file of ``size`` bytes before reading it, when it is above ``max_bytes``."""
    if size > limits.max_bytes:
        raise SpecError([_too_large(source, size, limits)], path=source)


def _too_large(source: str, size: int, limits: YAMLLimits) -> str:
    return (f"{source}: the document is {size / 2**20:.1f} MiB, above the "
            f"{limits.max_bytes / 2**20:.1f} MiB a YAML file may hold; keep data in dataset "
            "files and name them from the spec")


class _Fatal(Exception):
    """A problem that stops reading, raised with the line it is on."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


_KEY = object()  # a mapping frame waiting for its next key
_MERGE_KEY = object()  # a mapping frame whose next value is merged (``<<:``)


@dataclass
class _Frame:
    """A list or mapping being built."""

    path: Path_
    value: dict[str, Any] | list[Any]
    anchor: str | None
    line: int
    first_value: int  # the value count when it opened (its size is the count minus this)
    key: Any = _KEY
    key_line: int = 0
    height: int = 1  # levels of nesting, itself included
    merges: list[tuple[Any, int]] = field(default_factory=list)


@dataclass
class _Anchor:
    value: Any
    size: int
    height: int  # how many levels of nesting the value holds (0 for a scalar)


class _Builder:
    """Turns PyYAML events into plain values, lines and problems, one event at a time."""

    def __init__(self, source: str, limits: YAMLLimits) -> None:
        self.source = source
        self.limits = limits
        self.data: Any = None
        self.lines: dict[Path_, int] = {}
        self.problems: list[str] = []
        self.stack: list[_Frame] = []
        self.anchors: dict[str, _Anchor] = {}
        self.open_anchors: set[str] = set()
        self.count = 0
        self.documents = 0
        self.resolver = Resolver()
        self.constructor = SafeConstructor()

    def feed(self, event: yaml.Event) -> None:
        line = event.start_mark.line + 1 if event.start_mark is not None else 0
        if isinstance(event, yaml.DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                raise _Fatal(line, "a second YAML document starts here; a file holds one "
                                   "document, so remove this '---' and what follows")
        elif isinstance(event, yaml.ScalarEvent):
            self._scalar(event, line)
        elif isinstance(event, yaml.AliasEvent):
            self._alias(event.anchor, line)
        elif isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            self._open(event, line)
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            self._close()

    # -- values -----------------------------------------------------------------------------

    def _scalar(self, event: yaml.ScalarEvent, line: int) -> None:
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.resolver.resolve(yaml.ScalarNode, event.value, event.implicit)
        if tag == _MERGE and self._awaiting_key():
            self._set_key(_MERGE_KEY, line)
            return
        if tag == _STR or (tag == _BOOL and self._awaiting_key()):
            # a key is text: YAML 1.1 reads a bare `on:`, `yes:` or `no:` as a boolean, which
            # would make a fallback chain's `on:` the key True ("unknown key 'True'")
            value: Any = event.value
        elif tag in _SCALAR_TAGS:
            node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark)
            try:
                value = self.constructor.yaml_constructors[tag](self.constructor, node)
            except Exception as exc:  # PyYAML's constructors raise several types ('!!int ')
                shown = event.value if len(event.value) <= 40 else event.value[:40] + "..."
                # a ValueError's reason helps ("month must be in 1..12"); others are internals
                reason = f" ({str(exc).split(';')[0]})" if type(exc) is ValueError else ""
                raise _Fatal(line, f"{shown!r} is not a valid {tag.removeprefix(_TAG)}{reason};"
                                   " quote it to keep it as text") from None
        else:
            raise _Fatal(line, _tag_problem(tag))
        self._count(1, line)
        self._add(value, line, event.anchor, size=1, height=0)

    def _alias(self, name: str, line: int) -> None:
        anchor = self.anchors.get(name)
        if anchor is None:
            if name in self.open_anchors:
                raise _Fatal(line, f"the alias '*{name}' is inside the value it names (a value "
                                   "cannot contain itself); write the value out instead")
            raise _Fatal(line, f"the alias '*{name}' names no anchor defined above it; define "
                               f"'&{name}' before using it")
        self._count(anchor.size, line)
        self._check_depth(len(self.stack) + anchor.height, line)
        if self._awaiting_key():
            if isinstance(anchor.value, dict | list):
                raise _Fatal(line, f"the alias '*{name}' is used as a key but names a "
                                   f"{type(anchor.value).__name__}; a key must be text")
            self._set_key(anchor.value, line)
            return
        value = _copy(anchor.value)
        self._add(value, line, None, size=anchor.size, height=anchor.height, stamp=True)

    def _open(self, event: yaml.MappingStartEvent | yaml.SequenceStartEvent, line: int) -> None:
        if event.tag not in _COLLECTION_TAGS[type(event)]:
            raise _Fatal(line, _tag_problem(event.tag))
        if self._awaiting_key():
            raise _Fatal(line, "a key here is a list or a mapping; a key must be text (quote it "
                               "if it holds brackets or braces)")
        self._check_depth(len(self.stack) + 1, line)
        self._count(1, line)
        path = self._child_path()
        value: dict[str, Any] | list[Any] = (
            {} if isinstance(event, yaml.MappingStartEvent) else [])
        if event.anchor is not None:
            self.open_anchors.add(event.anchor)
        self.lines[path] = line
        self.stack.append(_Frame(path, value, event.anchor, line, self.count))

    def _close(self) -> None:
        frame = self.stack.pop()
        if isinstance(frame.value, dict):
            self._merge(frame)
        size = self.count - frame.first_value + 1
        if frame.anchor is not None:
            self.open_anchors.discard(frame.anchor)
        self._add(frame.value, frame.line, frame.anchor, size=size, height=frame.height,
                  placed=True)

    # -- placing a value in its parent ------------------------------------------------------

    def _add(self, value: Any, line: int, anchor: str | None, *, size: int, height: int,
             stamp: bool = False, placed: bool = False) -> None:
        if anchor is not None:  # an alias copies the value, so the two never share an object
            self.anchors[anchor] = _Anchor(value, size, height)
        if not self.stack:
            self.data = value
            if stamp:
                _stamp(value, (), line, self.lines)
            self.lines.setdefault((), line)
            return
        parent = self.stack[-1]
        parent.height = max(parent.height, height + 1)
        if isinstance(parent.value, list):
            path = (*parent.path, len(parent.value))
            parent.value.append(value)
        elif parent.key is _KEY:
            if isinstance(value, dict | list):  # an alias to a collection, as a key
                raise _Fatal(line, "a key here is a list or a mapping; a key must be text")
            self._set_key(value, line)
            return
        elif parent.key is _MERGE_KEY:
            parent.merges.append((value, parent.key_line))
            parent.key = _KEY
            return
        else:
            key = parent.key
            path = (*parent.path, key)
            parent.value[key] = value
            self.lines[path] = parent.key_line
            parent.key = _KEY
        if stamp:
            _stamp(value, path, line, self.lines)
        if not placed:
            self.lines.setdefault(path, line)

    def _set_key(self, key: Any, line: int) -> None:
        frame = self.stack[-1]
        if key is not _MERGE_KEY:
            key = key if isinstance(key, str) else str(key)
            assert isinstance(frame.value, dict)
            if key in frame.value:
                first = self.lines.get((*frame.path, key), line)
                self.problems.append(
                    f"{self.source}:{line}: {dotted((*frame.path, key))}: duplicate key "
                    f"'{key}' (first at line {first}); remove one of them")
                key = _Duplicate(key)
        frame.key, frame.key_line = key, line

    def _merge(self, frame: _Frame) -> None:
        assert isinstance(frame.value, dict)
        for duplicate in [k for k in frame.value if isinstance(k, _Duplicate)]:
            del frame.value[duplicate]
        explicit = set(frame.value)
        for value, line in frame.merges:
            sources = value if isinstance(value, list) else [value]
            if not all(isinstance(s, dict) for s in sources):
                raise _Fatal(line, "a merge key '<<' takes a mapping or a list of mappings "
                                   f"(an alias such as *defaults); received a "
                                   f"{type(value).__name__}")
            for source in sources:
                for key, item in source.items():
                    if key not in explicit and key not in frame.value:
                        frame.value[key] = item
                        _stamp(item, (*frame.path, key), line, self.lines)

    # -- limits -----------------------------------------------------------------------------

    def _count(self, size: int, line: int) -> None:
        self.count += size
        if self.count > self.limits.max_values:
            why = (" once its aliases are expanded (aliases that repeat large values, as in a "
                   "'billion laughs' file); write the values out or keep data in dataset files"
                   if self.anchors else "; keep data in dataset files and name them from the "
                   "spec")
            raise _Fatal(line, f"the document holds more than {self.limits.max_values:,} "
                               f"values{why}")

    def _check_depth(self, depth: int, line: int) -> None:
        if depth > self.limits.max_depth:
            raise _Fatal(line, f"lists and mappings nest more than {self.limits.max_depth} "
                               "levels deep here; flatten the structure")

    def _awaiting_key(self) -> bool:
        return bool(self.stack) and isinstance(self.stack[-1].value, dict) and (
            self.stack[-1].key is _KEY)

    def _child_path(self) -> Path_:
        if not self.stack:
            return ()
        parent = self.stack[-1]
        if isinstance(parent.value, list):
            return (*parent.path, len(parent.value))
        if parent.key is _MERGE_KEY:
            return (*parent.path, "<<")
        return (*parent.path, parent.key)


class _Duplicate(str):
    """The key of a repeated entry: kept apart while building, dropped when the map closes."""

    __slots__ = ()

    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other: object) -> bool:
        return other is self


def _tag_problem(tag: str | None) -> str:
    shown = f"!!{tag.removeprefix(_TAG)}" if tag and tag.startswith(_TAG) else tag
    return (f"the tag '{shown}' is not allowed; a spec holds plain values (text, numbers, "
            "true/false, null, dates, lists and mappings), never objects built from tags")


def _copy(value: Any) -> Any:
    """A deep copy of plain data (its depth is bounded by ``max_depth``)."""
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


def _stamp(value: Any, path: Path_, line: int, lines: dict[Path_, int]) -> None:
    """Record ``line`` for ``path`` and every path inside ``value`` (a copied alias)."""
    lines[path] = line
    if isinstance(value, dict):
        for key, item in value.items():
            _stamp(item, (*path, key), line, lines)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _stamp(item, (*path, index), line, lines)


def dotted(loc: Iterable[str | int]) -> str:
    """A key path as ``models.llm.stop[0]``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"
