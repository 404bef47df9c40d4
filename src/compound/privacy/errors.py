"""Failures as clients and the store see them: a type and an id, never the internal text.

An exception message can carry what must not leave the process: a database password in a
driver's message, an API key echoed in an upstream 500 body. So a failure is *referred to*
by :func:`error_ref`: an id (``err_`` and 12 hex digits) and the exception's type. The full
detail, with secrets and personal data redacted, goes to the log ``compound.errors``, once,
under that id (the message of each cause at WARNING, the traceback at DEBUG), so whoever
runs the server finds it from the id a client reports.

Nothing is printed unless the application asks: ``compound serve`` sends this log,
tracebacks included, to its stderr, the server log (:func:`log_errors_to`); the other
commands show its one-line warnings (``compound.console.show_logs``).

The same failure keeps one id: it is kept on the exception and on the exceptions it was
raised from (``raise ... from``), so a step's span, its run's record and the HTTP response
all name the same id.

A :class:`~compound.errors.UserError` is the user's own mistake and its message says how to
fix it, so :func:`error_text` keeps it (redacted by the store like any other text).

Example:
    >>> ref = error_ref(RuntimeError("password=hunter2 for db"))
    >>> ref.type, ref.id.startswith("err_"), "hunter2" in str(ref)
    ('RuntimeError', True, False)
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import traceback
from dataclasses import dataclass
from typing import Any, TextIO

from compound.errors import UserError
from compound.privacy.redactor import redact_text

log = logging.getLogger("compound.errors")
# a library prints nothing of its own accord: without this, Python's last-resort handler
# would print each logged traceback to a CLI user's terminal. ``compound serve`` sends the
# log to its stderr (:func:`log_errors_to`); an application may attach any handler.
log.addHandler(logging.NullHandler())

_ATTRIBUTE = "_compound_error_id"


@dataclass(frozen=True, slots=True)
class ErrorRef:
    """A failure as others may see it.

    Attributes:
        id: ``err_`` and 12 hex digits; the server log has the detail under it.
        type: the exception's class name.
    """

    id: str
    type: str

    def to_dict(self) -> dict[str, str]:
        return {"type": self.type, "id": self.id}

    def __str__(self) -> str:
        return f"{self.type} ({self.id})"


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 32:
        seen.append(current)
        current = current.__cause__  # not __context__: a failure met while handling another
        # is a failure of its own, with its own detail to log
    return seen


def error_ref(exc: BaseException) -> ErrorRef:
    """The reference of ``exc``; the first time, its detail is logged (redacted) under it."""
    chain = _chain(exc)
    known = next((getattr(e, _ATTRIBUTE) for e in chain if hasattr(e, _ATTRIBUTE)), None)
    error_id = known or f"err_{secrets.token_hex(6)}"
    for each in chain:
        with contextlib.suppress(AttributeError, TypeError):  # an exception with __slots__
            setattr(each, _ATTRIBUTE, error_id)
    if known is None:
        # what failed, one line per cause, for whoever watches the log (a CLI user too); the
        # traceback at DEBUG, which the server log keeps (log_errors_to)
        causes = "\n  caused by ".join(
            "".join(traceback.format_exception_only(each)).strip() for each in chain)
        log.warning("%s %s", error_id, redact_text(causes))
        if log.isEnabledFor(logging.DEBUG):
            trace = "".join(traceback.format_exception(exc)).rstrip()
            log.debug("%s %s", error_id, redact_text(trace))
    return ErrorRef(error_id, type(exc).__name__)


def error_text(exc: BaseException | str) -> str:
    """What a run record or a span keeps of a failure: ``Type (err_...)``; a
    :class:`~compound.errors.UserError` keeps its message; a string is kept as given."""
    if isinstance(exc, str):
        return exc
    if isinstance(exc, UserError):
        return f"{type(exc).__name__}: {exc}"
    return str(error_ref(exc))


def safe_error(exc: BaseException, kind: str, *, status: int, message: str | None = None
               ) -> dict[str, Any]:
    """An error body's ``error`` object for a client: type, status, id and a generic message
    (``message`` when given: one compound wrote, safe to show)."""
    ref = error_ref(exc)
    return {"type": kind, "status": status, "id": ref.id,
            "message": message or (f"the run failed ({ref.type}); the server logged the "
                                   f"detail under {ref.id}: quote it when reporting this")}


def log_errors_to(stream: TextIO | None = None) -> None:
    """Write the error log (ids, redacted details and tracebacks) to ``stream`` (stderr by
    default), once, unless a handler of the application's already receives it.

    Args:
        stream: where to write.
    """
    if any(not isinstance(h, logging.NullHandler) for h in log.handlers) or (
            logging.getLogger().handlers and log.propagate):
        return
    from compound.console import VisibleFormatter  # a detail quotes user text: no raw ANSI

    handler = logging.StreamHandler(stream)
    handler.setFormatter(VisibleFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)  # the tracebacks too

