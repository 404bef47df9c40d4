"""The one way compound prints to a terminal: results on stdout, messages and progress on stderr.

Text we did not write (a question, a spec key, a model's answer, a dataset row) is data, never
markup: the consoles here parse no Rich markup, replace no ``:emoji:`` codes and highlight
nothing, so ``[/x]``, ``[bold]`` or ``openai:m:`` print as they are. Our own styles go through
`styled`, which escapes every value it is given, or through `Text` objects. Control characters
(ANSI escape sequences, carriage returns, bidirectional overrides) never reach the terminal raw:
every console made here shows them as visible symbols (``\\x1b`` becomes ``␛``).

Example:
    >>> import io
    >>> out = new_console(file=io.StringIO(), width=80)
    >>> out.print(styled("[green]ok[/]: {key}", key="[/x] :smile: \\x1b[31m"))
    >>> out.file.getvalue()
    'ok: [/x] :smile: ␛[31m\\n'
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.segment import Segment
from rich.text import Text

# C0 controls show as their Unicode "control picture" (U+2400 + code), DEL as U+2421; C1 controls
# and the bidirectional overrides (which reorder what the reader sees) as U+FFFD. Tab and newline
# are layout, not control, and stay.
_VISIBLE = {code: 0x2400 + code for code in range(0x20) if chr(code) not in "\t\n"}
_VISIBLE[0x7F] = 0x2421
_VISIBLE.update({code: 0xFFFD for code in range(0x80, 0xA0)})
_VISIBLE.update({code: 0xFFFD for code in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))})


_JSON_UNSAFE = re.compile("[\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def visible(text: str) -> str:
    """``text`` with every control character replaced by a visible symbol of the same width.

    Example:
        >>> visible("red \\x1b[31m\\r")
        'red ␛[31m␍'
    """
    return text.translate(_VISIBLE)


def plain(value: object, style: str = "") -> Text:
    """A Rich `Text` showing ``value`` literally (in ``style``): for table cells and titles.

    Example:
        >>> plain("[bold]x", style="red").plain
        '[bold]x'
    """
    return Text(visible(value if isinstance(value, str) else str(value)), style=style)


class _Data:
    """A value given to `styled`: formatted as asked, then made visible and markup-escaped."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def __format__(self, spec: str) -> str:
        return escape(visible(format(self.value, spec)))

    def __str__(self) -> str:
        return escape(visible(str(self.value)))

    def __repr__(self) -> str:
        return escape(visible(repr(self.value)))


def styled(template: str, *args: object, style: str = "", **values: object) -> Text:
    """Our own markup ``template`` with ``args``/``values`` filled in as plain text.

    ``template`` is a literal of compound's (``"[green]ok[/]: {name}"``); it is formatted with
    `str.format` rules (``{value:.3f}``, ``{name!r}`` work), and every value is escaped, so a
    value can never open, close or break a markup tag.

    Example:
        >>> styled("[bold]{name}[/] promoted", name="[/x]").plain
        '[/x] promoted'
    """
    filled = template.format(*(_Data(a) for a in args),
                             **{key: _Data(value) for key, value in values.items()})
    return Text.from_markup(filled, style=style, emoji=False)


class SafeConsole(Console):
    """A Rich console for text we did not write: no markup, emoji or highlighting by default,
    and no raw control characters in what it writes."""

    def __init__(self, **options: Any) -> None:
        for key, default in (("markup", False), ("emoji", False), ("highlight", False),
                             ("soft_wrap", True)):
            options.setdefault(key, default)
        super().__init__(**options)

    def print_json(self, json: str | None = None, *, data: Any = None,
                   indent: int | str | None = 2, highlight: bool = True,
                   default: Any = None, sort_keys: bool = False, **_: Any) -> None:
        """Pretty-print JSON exactly: characters that must not reach a terminal raw (DEL, C1
        controls, bidirectional overrides, lone surrogates) are written as ``\\uXXXX``
        escapes, which keep the data the same (JSON escapes other controls itself)."""
        import json as json_module

        from rich.highlighter import JSONHighlighter

        value = json_module.loads(json) if json is not None else data
        dumped = json_module.dumps(value, indent=indent, ensure_ascii=False, default=default,
                                   sort_keys=sort_keys)
        text = Text(_JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", dumped))
        self.print(JSONHighlighter()(text) if highlight else text, soft_wrap=True)

    def render_str(self, text: str, **options: Any) -> Text:  # every str printed or in a table
        return super().render_str(visible(text), **options)

    def _render_buffer(self, buffer: Iterable[Segment]) -> str:
        # The last line of defence, for Text objects built from data elsewhere: no control
        # character in a text segment (cursor moves of a progress bar are control segments).
        return super()._render_buffer(
            segment if segment.control else Segment(visible(segment.text), segment.style)
            for segment in buffer)


class VisibleFormatter(logging.Formatter):
    """A log formatter that makes control characters visible (a log line quotes user text)."""

    def format(self, record: logging.LogRecord) -> str:
        return visible(super().format(record))


class _VisibleLog(logging.Handler):
    """Log records on the current ``sys.stderr``, control characters made visible; a record a
    more specific compound logger already wrote (the server's error log) is not repeated."""

    def emit(self, record: logging.LogRecord) -> None:
        logger: logging.Logger | None = logging.getLogger(record.name)
        while logger is not None and logger.name != "compound":
            if any(not isinstance(h, logging.NullHandler) for h in logger.handlers):
                return
            logger = logger.parent if logger.propagate else None
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


def show_logs() -> None:
    """Send compound's warnings (e.g. the detail of a failed step, logged under its error id)
    to stderr with control characters made visible; Python's last-resort handler would write
    an ANSI sequence in an exception message raw. Records still propagate (to pytest, say)."""
    logger = logging.getLogger("compound")
    if not any(isinstance(handler, _VisibleLog) for handler in logger.handlers):
        handler = _VisibleLog(logging.WARNING)
        handler.setFormatter(VisibleFormatter("%(message)s"))
        logger.addHandler(handler)


def new_console(**options: Any) -> Console:
    """A `SafeConsole` (for a library module that needs one of its own, e.g. a buffer)."""
    return SafeConsole(**options)


console = SafeConsole()
console_err = SafeConsole(stderr=True)

__all__ = ["SafeConsole", "VisibleFormatter", "console", "console_err", "new_console", "plain",
           "show_logs", "styled", "visible"]


def row_progress() -> Any:
    """The progress bar of work over rows (evals, batch predictions), on stderr: the
    description and a status field shown as text, never as markup, then done/total, elapsed
    and remaining time."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}", markup=False), BarColumn(),
        MofNCompleteColumn(), TextColumn("{task.fields[status]}", markup=False),
        TimeElapsedColumn(), TimeRemainingColumn(), console=console_err)
