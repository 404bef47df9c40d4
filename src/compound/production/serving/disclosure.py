"""What a key may see of the records the store keeps.

The store redacts every record before it is written (:mod:`compound.store.redacting`), unless
the system turned that off (``store.redact: false``). Even then, a ``read``-scope key (the
dashboard's, a monitoring job's) never gets raw inputs: what the read endpoints return to it
(runs, traces, feedback, the review queue) is redacted on the way out. Write and admin keys,
which may send requests themselves, see the records as stored.

Example:
    >>> from compound.production.serving.keys import Principal
    >>> reader = Principal("k1", "dashboard", "read")
    >>> shown_to(reader, {"question": "mail ada@example.com"})
    {'question': 'mail <EMAIL_ADDRESS>'}
    >>> shown_to(Principal("k2", "ops", "admin"), {"question": "mail ada@example.com"})
    {'question': 'mail ada@example.com'}
"""

from __future__ import annotations

from typing import TypeVar

from compound.privacy.redactor import Redactor
from compound.production.serving.keys import Principal

T = TypeVar("T")


def shown_to(principal: Principal, value: T) -> T:
    """``value`` as ``principal`` may see it: redacted for a ``read``-scope key."""
    if principal.scope != "read":
        return value
    shown: T = Redactor().value(value)
    return shown
