"""Prompt templates: the one template language of every ``template:`` and ``prompt:`` in a spec.

A template is text with ``{field}`` placeholders. That is the whole language:

* ``{question}`` is replaced by the value named ``question``;
* ``{meta.title}`` reads key ``title`` of the mapping ``meta`` (plain dict/JSON data only);
* ``{{`` and ``}}`` are a literal ``{`` and ``}`` (so JSON in a prompt is written
  ``{{"answer": "..."}}``).

Templates are an LLM step's ``template:``, an eval target's ``prompt:`` and a confidence
router's ``template:`` (one field, ``{input}``); ``system:``, ``instructions:`` and a judge's
``rubric:`` are plain text, shown as written (braces included).

Nothing else is read from a template: no attribute access (``{x.__class__}`` reads a *key*
named ``__class__`` of a mapping, and fails on anything else), no indexing (``{x[0]}``), no
conversions or format specs (``{x!r}``, ``{x:>9}``). Those are syntax errors, reported when the
spec is checked with the line and column in the template. Python's ``str.format`` is never
applied to a template.

Values become text deliberately (:func:`as_prompt_text`), never as a ``repr``:

* text as it is; numbers and booleans as Python writes them; ``None`` as nothing;
* a mapping with ``text`` (and ``title``) as ``title: text``; any other mapping as JSON;
  a list as its items' texts, one paragraph each;
* retrieved passages (a ``SearchResult``, a list of ``Hit``/``Passage``) as numbered, cited
  passages ``[1] title — source`` + text, and a built :class:`Context` as its text; the
  passages shown are the rendering's :attr:`Rendered.citations`;
* anything else (a ``Prediction``, a rail verdict, an LLM step's output) is refused with a
  :class:`TemplateValueError` that says which fields to wire instead.

Example:
    >>> template = Template.parse("Q: {question}\\nAnswer as JSON {{\\"answer\\": ...}}")
    >>> template.fields
    ('question',)
    >>> print(template.render({"question": "Why do cats purr?"}))
    Q: Why do cats purr?
    Answer as JSON {"answer": ...}
    >>> Template.parse("{x.__class__}").render({"x": "text"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    compound...TemplateValueError: template field '{x.__class__}': 'x' is text, not a mapping...
"""

from __future__ import annotations

import json
import re
import sys
import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from compound.errors import UserError
from compound.orchestration.context.types import Context, Passage

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_FIELD = re.compile(rf"{_NAME}(?:\.{_NAME})*\Z")
ESCAPES = "write '{{' and '}}' for literal braces"


class TemplateError(UserError):
    """A template does not parse; the message gives the line and column in the template."""


class TemplateValueError(UserError):
    """A value given to a template has no prompt rendering, or a field is missing."""


class MissingField(TemplateValueError, KeyError):
    """A template names a field that no value was given for."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class Placeholder:
    """One ``{field}`` of a template: its top-level name and the keys read below it."""

    name: str
    path: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return "{" + ".".join((self.name, *self.path)) + "}"


@dataclass(frozen=True)
class Citation:
    """A passage shown in a prompt as ``[number]``.

    Attributes:
        number: the number the prompt shows it under.
        id: the chunk id (``doc#position``) or passage id.
        doc_id: the document it comes from.
        title: the document's title.
        source: the file it came from.
    """

    number: int
    id: str
    doc_id: str = ""
    title: str = ""
    source: str = ""


@dataclass(frozen=True)
class Rendered:
    """A rendered template and the passages it shows (in citation-number order)."""

    text: str
    citations: tuple[Citation, ...] = ()
    passages: tuple[str, ...] = ()


@dataclass(frozen=True)
class Template:
    """A parsed template. Build it with :meth:`parse`.

    Attributes:
        source: the template text.
        parts: literal text and placeholders, in order.
    """

    source: str
    parts: tuple[str | Placeholder, ...] = field(default=(), repr=False)

    @classmethod
    def parse(cls, source: str, *, where: str = "the template") -> Template:
        """Parse ``source``.

        Args:
            source: the template text.
            where: names the template in error messages (``step 'draft' template``).

        Raises:
            TemplateError: a brace that is not a ``{field}``, ``{{`` or ``}}``.
        """
        if not isinstance(source, str):
            raise TemplateError(f"{where} must be text; received {type(source).__name__}")
        parts: list[str | Placeholder] = []
        text: list[str] = []
        index = 0
        while index < len(source):
            char = source[index]
            if char in "{}" and source.startswith(char * 2, index):
                text.append(char)
                index += 2
                continue
            if char == "}":
                raise TemplateError(f"{where}: {_position(source, index)}: a single '}}' that "
                                    f"closes no field; {ESCAPES}")
            if char != "{":
                text.append(char)
                index += 1
                continue
            end = source.find("}", index + 1)
            opener = source.find("{", index + 1)
            if end < 0 or 0 <= opener < end:
                raise TemplateError(f"{where}: {_position(source, index)}: a '{{' that is not "
                                    f"closed by '}}'; a field is written {{name}}; {ESCAPES}")
            inner = source[index + 1:end]
            if not _FIELD.match(inner):
                raise TemplateError(f"{where}: {_position(source, index)}: "
                                    f"{_why_not_a_field(inner)}")
            if text:
                parts.append("".join(text))
                text = []
            name, *path = inner.split(".")
            parts.append(Placeholder(name, tuple(path)))
            index = end + 1
        if text:
            parts.append("".join(text))
        return cls(source, tuple(parts))

    @property
    def placeholders(self) -> tuple[Placeholder, ...]:
        """Every ``{field}``, in order of appearance."""
        return tuple(p for p in self.parts if isinstance(p, Placeholder))

    @property
    def fields(self) -> tuple[str, ...]:
        """The top-level names the template reads, each once, in order of appearance."""
        return tuple(dict.fromkeys(p.name for p in self.placeholders))

    def render(self, values: Mapping[str, Any]) -> str:
        """The text, with each field replaced by its value's prompt text.

        Raises:
            MissingField: a field has no value in ``values``.
            TemplateValueError: a value has no prompt rendering (see :func:`as_prompt_text`).
        """
        return self.render_cited(values).text

    def render_cited(self, values: Mapping[str, Any]) -> Rendered:
        """:meth:`render`, also returning the passages the text shows and their citations."""
        missing = [name for name in self.fields if name not in values]
        if missing:
            raise MissingField(
                f"the template uses '{{{missing[0]}}}' but no value named '{missing[0]}' was "
                f"given{_suggest(missing[0], values)}; given: {', '.join(values) or 'none'}"
            )
        out: list[str] = []
        collector = _Collector()
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            value = _lookup(values[part.name], part)
            out.append(_text(value, collector, part.text))
        return Rendered("".join(out), tuple(collector.citations), tuple(collector.passages))


def as_prompt_text(value: Any, *, where: str = "the value") -> str:
    """A value as prompt text (the rules in this module's docstring).

    Example:
        >>> as_prompt_text([{"title": "A", "text": "x"}, "y", 3, None])
        'A: x\\n\\ny\\n\\n3'

    Raises:
        TemplateValueError: the value has no prompt rendering.
    """
    return _text(value, _Collector(), where)


def renderable(tp: Any) -> str | None:
    """Why a value of type ``tp`` cannot go into a template field, or None when it can (or
    when the type does not tell). Used to check wiring before anything runs."""
    import typing

    from compound.type_fit import describe, fields_of

    if tp is Any or tp is None or isinstance(tp, str | typing.TypeVar):
        return None
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return renderable(typing.get_args(tp)[0])
    if origin is typing.Union or origin is types.UnionType:
        reasons = [r for r in (renderable(a) for a in typing.get_args(tp)) if r]
        return reasons[0] if reasons else None
    if origin is not None and isinstance(origin, type) and issubclass(origin, Sequence) \
            and not issubclass(origin, str):
        reasons = [r for r in (renderable(a) for a in typing.get_args(tp) if a is not ...) if r]
        return reasons[0] if reasons else None
    cls = origin or tp
    if not isinstance(cls, type) or _plain_class(cls) or _passage_class(cls):
        return None
    fields = fields_of(cls)
    if fields is None:
        return None  # an unknown class (e.g. a protocol): the value is checked when it runs
    return (f"it is a {describe(cls)}, which a template does not render; wire one of its "
            f"fields instead ({', '.join(fields)})")


# -- internals --------------------------------------------------------------------------------


@dataclass
class _Collector:
    citations: list[Citation] = field(default_factory=list)
    passages: list[str] = field(default_factory=list)

    def passage(self, passage: Passage) -> str:
        number = len(self.citations) + 1
        self.citations.append(Citation(number, passage.id, passage.doc_id or passage.id,
                                       passage.title, passage.source))
        self.passages.append(passage.text)
        head = " — ".join(p for p in (passage.title, passage.source) if p)
        return f"[{number}] {head}\n{passage.text}" if head else f"[{number}] {passage.text}"

    def context(self, context: Context) -> str:
        for number, passage in sorted(context.citations.items(), key=lambda kv: int(kv[0])):
            self.citations.append(Citation(int(number), passage.id,
                                           passage.doc_id or passage.id, passage.title,
                                           passage.source))
            self.passages.append(passage.text)
        return context.text


def _text(value: Any, collector: _Collector, where: str) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return str(value)
    if isinstance(value, Context):
        return collector.context(value)
    passages = _passages(value)
    if passages is not None:
        return "\n\n".join(collector.passage(p) for p in passages)
    if isinstance(value, Mapping):
        if "text" in value:
            title = value.get("title")
            body = _text(value["text"], collector, where)
            return f"{title}: {body}" if title else body
        try:
            return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                              default=_refuse)
        except _Unrenderable as exc:
            raise TemplateValueError(_refusal(where, exc.value)) from None
    if isinstance(value, list | tuple):
        return "\n\n".join(t for t in (_text(v, collector, where) for v in value) if t)
    raise TemplateValueError(_refusal(where, value))


def _passages(value: Any) -> list[Passage] | None:
    """The passages a retrieval value holds, or None when it holds none."""
    if _passage_class(type(value)) and not isinstance(value, Context):
        hits = getattr(value, "hits", None)
        items = hits if hits is not None else [value]
    elif isinstance(value, list | tuple) and value and all(
            _passage_class(type(v)) and not isinstance(v, Context) for v in value):
        items = list(value)
    else:
        return None
    return [v if isinstance(v, Passage) else Passage.from_hit(v) for v in items]


def _passage_class(cls: type) -> bool:
    if not isinstance(cls, type):
        return False
    if issubclass(cls, Passage | Context):
        return True
    # Only a loaded retrieval module can have made a hit: importing it here would load the
    # whole retrieval package for every template.
    retrieval = sys.modules.get("compound.orchestration.retrieval.types")
    return retrieval is not None and issubclass(cls, retrieval.Hit | retrieval.SearchResult)


def _plain_class(cls: type) -> bool:
    return issubclass(cls, str | int | float | bool | Mapping | type(None))


class _Unrenderable(Exception):
    def __init__(self, value: Any) -> None:
        self.value = value


def _refuse(value: Any) -> Any:
    raise _Unrenderable(value)


def _refusal(where: str, value: Any) -> str:
    from compound.type_fit import fields_of

    name = type(value).__name__
    fields = fields_of(type(value))
    hint = (f"wire one of its fields instead ({', '.join(fields)})" if fields
            else "convert it to text in a step before this one")
    return (f"template field '{where}' received a {name}, which has no prompt rendering "
            f"(templates render text, numbers, plain lists and dicts, and retrieved passages); "
            f"{hint}")


def _lookup(value: Any, placeholder: Placeholder) -> Any:
    seen = [placeholder.name]
    for key in placeholder.path:
        if not isinstance(value, Mapping):
            kind = "text" if isinstance(value, str) else f"a {type(value).__name__}"
            raise TemplateValueError(
                f"template field '{placeholder.text}': '{'.'.join(seen)}' is {kind}, not a "
                "mapping; only keys of plain data (a dict) can be read with a dotted field"
            )
        if key not in value:
            raise MissingField(
                f"template field '{placeholder.text}': '{'.'.join(seen)}' has no key '{key}'"
                f"{_suggest(key, value)}; it has: {', '.join(map(str, value)) or 'no keys'}"
            )
        value = value[key]
        seen.append(key)
    return value


def _suggest(word: str, choices: Iterable[Any]) -> str:
    from compound.specfile import did_you_mean

    return did_you_mean(word, [str(c) for c in choices])


def _position(source: str, index: int) -> str:
    line = source.count("\n", 0, index) + 1
    column = index - (source.rfind("\n", 0, index) + 1) + 1
    return f"line {line}, column {column}" if "\n" in source else f"column {column}"


def _why_not_a_field(inner: str) -> str:
    shown = "{" + inner + "}"
    if not inner.strip():
        return f"an empty field {shown}; name the value, e.g. {{question}}, or {ESCAPES}"
    head = re.match(rf"{_NAME}(?:\.{_NAME})*", inner)
    rest = inner[head.end():] if head else inner
    if rest.startswith("["):
        return (f"{shown} indexes a value, which templates do not do; wire the item in the "
                f"step's inputs instead (e.g. inputs: {{first: step.items}}), or {ESCAPES}")
    if head and rest[:1] in ("!", ":"):
        return (f"{shown} uses a conversion or format spec, which templates do not have; "
                f"write the bare field {{name}}, or {ESCAPES}")
    return (f"{shown} is not a field; a field is a name of letters, digits and '_' (with "
            f"'.key' to read a key of a mapping), e.g. {{question}}; {ESCAPES} (JSON in a "
            "prompt is written {{\"key\": ...}})")

