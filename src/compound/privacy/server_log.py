"""The server's own log lines, redacted and with control characters made visible (issue 14).

uvicorn logs what it sees of a request: "Exception in ASGI application" with a traceback
whose messages may quote the request (a secret, an email, an ANSI escape sequence), and,
when enabled, one access line per request with its path and query. ``compound serve`` gives
uvicorn :func:`uvicorn_log_config`, so every uvicorn logger writes through
:class:`RedactingFormatter`: the whole line, traceback included, is redacted like anything
compound stores, then its control characters are made visible.

Example:
    >>> import logging
    >>> key = "sk-proj-a1B2c3D4e5F6g7H8i9J0k1L2"
    >>> record = logging.LogRecord("uvicorn.error", logging.ERROR, __file__, 1,
    ...                            "bad key %s \\x1b[2J", (key,), None)
    >>> line = RedactingFormatter("%(message)s").format(record)
    >>> "a1B2c3D4" in line, "\\x1b" in line
    (False, False)
"""

from __future__ import annotations

import logging
from typing import Any

from compound.privacy.redactor import redact_text


class RedactingFormatter(logging.Formatter):
    """A formatter whose whole output (message, traceback, stack) is redacted and visible."""

    def format(self, record: logging.LogRecord) -> str:
        from compound.console import visible  # the CLI's one rule for control characters

        return visible(redact_text(super().format(record)))


def uvicorn_log_config(level: str = "warning") -> dict[str, Any]:
    """uvicorn's logging configuration with every line through :class:`RedactingFormatter`.

    Args:
        level: the level of uvicorn's loggers (``"warning"`` by default, as ``serve``).
    """
    formatter = {"()": f"{__name__}.RedactingFormatter",
                 "fmt": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    handler = {"class": "logging.StreamHandler", "formatter": "redacted",
               "stream": "ext://sys.stderr"}
    upper = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"redacted": formatter},
        "handlers": {"redacted": handler},
        "loggers": {
            "uvicorn": {"handlers": ["redacted"], "level": upper, "propagate": False},
            "uvicorn.error": {"level": upper},
            "uvicorn.access": {"handlers": ["redacted"], "level": upper, "propagate": False},
            "uvicorn.asgi": {"handlers": ["redacted"], "level": upper, "propagate": False},
        },
    }
