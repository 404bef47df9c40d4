"""Privacy: finding secrets and personal data in any text, and redacting them from everything
compound stores, traces and logs.

This package sits below the store and the workflow runtime (it imports neither), so that the
store can redact every record at its boundary and the rails can share the same recognisers:

* :mod:`~compound.privacy.spans`: a span to redact, and the redacted text;
* :mod:`~compound.privacy.recognizers`: personal data (emails, phones, Luhn-checked cards,
  mod-97 IBANs, national ids, names after a cue);
* :mod:`~compound.privacy.secrets`: API keys, tokens, private keys, passwords;
* :mod:`~compound.privacy.redactor`: :class:`Redactor`, the redaction of any JSON value;
* :mod:`~compound.privacy.errors`: failures as a typed error with an id for clients and the
  store, the detail (redacted) for the server log;
* :mod:`~compound.privacy.spec`: the spec's ``store.redact`` section.

Example:
    >>> from compound.privacy import Redactor
    >>> Redactor().value({"question": "card 4111 1111 1111 1111?"})
    {'question': 'card <CREDIT_CARD>?'}
"""

import typing as _typing

from compound.lazy import attach as _attach

_EXPORTS: dict[str, str] = {
    "ENTITIES": "compound.privacy.recognizers",
    "ErrorRef": "compound.privacy.errors",
    "Redaction": "compound.privacy.spans",
    "RedactionSpec": "compound.privacy.spec",
    "Redactor": "compound.privacy.redactor",
    "apply_redactions": "compound.privacy.spans",
    "error_ref": "compound.privacy.errors",
    "error_text": "compound.privacy.errors",
    "find_entities": "compound.privacy.recognizers",
    "find_secrets": "compound.privacy.secrets",
    "log_errors_to": "compound.privacy.errors",
    "redact_secrets": "compound.privacy.secrets",
    "redact_text": "compound.privacy.redactor",
    "safe_error": "compound.privacy.errors",
}

__all__ = [
    "ENTITIES",
    "ErrorRef",
    "Redaction",
    "RedactionSpec",
    "Redactor",
    "apply_redactions",
    "error_ref",
    "error_text",
    "find_entities",
    "find_secrets",
    "log_errors_to",
    "redact_secrets",
    "redact_text",
    "safe_error",
]

if _typing.TYPE_CHECKING:
    from compound.privacy.errors import ErrorRef, error_ref, error_text, log_errors_to, safe_error
    from compound.privacy.recognizers import ENTITIES, find_entities
    from compound.privacy.redactor import Redactor, redact_text
    from compound.privacy.secrets import find_secrets, redact_secrets
    from compound.privacy.spans import Redaction, apply_redactions
    from compound.privacy.spec import RedactionSpec

__getattr__, __dir__ = _attach(__name__, _EXPORTS)
