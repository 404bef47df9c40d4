"""One redaction for everything compound keeps or logs: secrets and personal data replaced by
their type (``<EMAIL_ADDRESS>``, ``<CREDIT_CARD>``, ``<API_KEY>``) in any JSON value.

:class:`Redactor` walks strings, lists and mappings (keys too); a string under a
secret-sounding key (``api_key``, ``password``, ``authorization``...) is replaced whole; an
integer that reads as a card number (13 to 19 digits, Luhn) is replaced by its type: a card
number sent as a JSON number is still a card number. Hexadecimal identifiers (run, trace and span
ids) are left alone: a run of their digits can look like a checksummed number by chance.

It is the store's redaction (:class:`~compound.store.redacting.RedactingStore`), the tracer's
hook (``Tracer(..., redact=Redactor())``) and the server log's (:func:`redact_text`).

Example:
    >>> redact = Redactor()
    >>> redact.value({"question": "mail ada@example.com", "api_key": "abc123"})
    {'question': 'mail <EMAIL_ADDRESS>', 'api_key': '<SECRET>'}
    >>> redact.value({"card": 4111111111111111, "run_id": "9f86d081884c7d65"})
    {'card': '<CREDIT_CARD>', 'run_id': '9f86d081884c7d65'}
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Sequence
from typing import Any

from compound.privacy.recognizers import find_entities
from compound.privacy.secrets import PROVIDER_KEY_ENV, find_secrets
from compound.privacy.spans import apply_redactions

_SECRET_KEY = re.compile(
    r"(?i)(?:^|[_\-.])(?:api[_\-]?key|apikey|secret|password|passwd|pwd|token|authorization|"
    r"auth|cookie|credentials?|private[_\-]?key)(?:$|[_\-.])"
)
# a run, trace or span id: hexadecimal with at least one letter (a card number has none)
_HEX_ID = re.compile(r"(?=[0-9]*[a-f])[0-9a-f]{16,64}")
_MAX_DEPTH = 32
# a Redactor remembers the redaction of this many texts up to this long (at most ~16 MB)
_REMEMBER, _REMEMBER_CHARS = 1024, 16_384


@functools.lru_cache(maxsize=1024)
def secret_key(key: object) -> bool:
    """Whether a mapping key names a secret (``api_key``, ``password``, ...)."""
    return isinstance(key, str) and _SECRET_KEY.search(key) is not None


class Redactor:
    """Redacts secrets (and personal data) from JSON data.

    Args:
        pii: also redact personal data (emails, phones, cards, IBANs, national ids, names).
        entities: which personal data types (all when None).
        known: exact secret values to redact wherever they appear.
        known_env: environment variables whose values are secrets (the provider keys by
            default), read once, here.

    Example:
        >>> Redactor(pii=False).value("card 4111 1111 1111 1111")
        'card 4111 1111 1111 1111'
    """

    def __init__(self, *, pii: bool = True, entities: Sequence[str] | None = None,
                 known: Iterable[str] = (), known_env: Iterable[str] = PROVIDER_KEY_ENV
                 ) -> None:
        self.pii = pii
        self.entities = list(entities) if entities is not None else None
        values = [*known, *(os.environ.get(name, "") for name in known_env)]
        self.known = [k for k in values if len(k) >= 8]
        # an agent's spans repeat the conversation so far: each text is scanned once
        self._seen: dict[str, str] = {}

    def text(self, value: str) -> str:
        """One string, redacted."""
        seen = self._seen
        done = seen.get(value)
        if done is not None:
            return done
        if _HEX_ID.fullmatch(value):
            return value
        spans = find_secrets(value, known=self.known)
        if self.pii:
            spans += find_entities(value, self.entities)
        done = apply_redactions(value, spans) if spans else value
        if len(value) <= _REMEMBER_CHARS:
            if len(seen) >= _REMEMBER:
                seen.clear()
            seen[value] = done
        return done

    def value(self, value: Any, depth: int = 0) -> Any:
        """Any JSON value, redacted (strings inside lists and mappings, and their keys)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return self._number(value)
        if depth > _MAX_DEPTH:
            return "<too deep to redact>"
        if isinstance(value, dict):
            return {(self.text(k) if isinstance(k, str) else k):
                    ("<SECRET>" if isinstance(v, str) and secret_key(k)
                     else self.value(v, depth + 1))
                    for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v, depth + 1) for v in value]
        return value

    def _number(self, value: int) -> int | str:
        # only card numbers: they carry a checksum; a phone-shaped integer is more often a size
        if not self.pii or not 10**12 <= value < 10**19 or (
                self.entities is not None and "CREDIT_CARD" not in self.entities):
            return value
        found = find_entities(str(value), ("CREDIT_CARD",))
        return "<CREDIT_CARD>" if found else value

    def __call__(self, key: str, value: Any) -> Any:
        """A tracer's hook: ``redact(attribute key, JSON value) -> value to keep``."""
        return self.value(value)


def redact_text(text: str, *, known: Iterable[str] = ()) -> str:
    """``text`` with secrets and personal data redacted: what a log may keep."""
    return Redactor(known=known).text(text)
