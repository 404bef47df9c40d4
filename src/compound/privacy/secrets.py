"""Secrets (API keys, tokens, private keys, passwords) found in any text: requests, answers,
stored records, traces and logs.

:func:`find_secrets` knows the shapes of common credentials (cloud provider keys, LLM
provider keys, GitHub, Slack and Stripe tokens, JWTs, PEM private keys, bearer headers,
credentials in URLs, ``password=...`` assignments) and, given them, the exact values of the
keys the system itself uses (``known``: e.g. the values of its ``api_key_env`` variables), so
that even a key of an unknown shape never leaves through a trace.

The rail built on it is :class:`~compound.production.rails.secrets.SecretsRail`; the store,
the tracer and the server log use it through :class:`~compound.privacy.redactor.Redactor`.

Example:
    >>> text = "use key sk-proj-abcdefghijklmnopqrstuvwx12 please"
    >>> redact_secrets(text)
    'use key <API_KEY> please'
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from compound.privacy.spans import Redaction, apply_redactions, merge_spans

#: environment variables holding provider keys, whose values are always treated as secrets
PROVIDER_KEY_ENV = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")

# credentials recognisable by a fixed prefix: searched together, in one pass
_PREFIXED: tuple[tuple[str, str], ...] = (
    ("API_KEY", r"\bsk-ant-[A-Za-z0-9_\-]{20,}"),
    ("API_KEY", r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}"),
    ("API_KEY", r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[0-9A-Z]{16}\b"),
    ("API_KEY", r"\bAIza[0-9A-Za-z_\-]{35}"),
    ("API_KEY", r"\b[rs]k_(?:live|test)_[0-9A-Za-z]{16,}"),
    ("API_KEY", r"\bhf_[A-Za-z0-9]{30,}"),
    ("API_KEY", r"\bgsk_[A-Za-z0-9]{30,}"),
    ("TOKEN", r"\bgh[pousr]_[A-Za-z0-9]{36,255}"),
    ("TOKEN", r"\bgithub_pat_[A-Za-z0-9_]{22,255}"),
    ("TOKEN", r"\bglpat-[A-Za-z0-9_\-]{20,}"),
    ("TOKEN", r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    ("TOKEN", r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),
)
# one alternation without capture groups scans ~10x faster than named groups or a loop;
# the (rare) matches are then labelled by the pattern that matches them alone
_PREFIXED_RE = re.compile("|".join(f"(?:{pattern})" for _, pattern in _PREFIXED))
_PREFIXED_EACH = tuple((label, re.compile(pattern)) for label, pattern in _PREFIXED)
_ASSIGNED_NAMES = (r"api[_-]?key|apikey|secret(?:[_-]?key)?|client[_-]?secret|access[_-]?token|"
                   r"auth[_-]?token|token|password|passwd|pwd|aws_secret_access_key")
_ASSIGNED_HINT = re.compile(r"api[_-]?key|apikey|secret|token|passw|pwd")
_PASSWORD_HINT = re.compile(r"passw|pwd")
# what a redaction leaves in place of a value: ``<PASSWORD>``, ``<EMAIL_ADDRESS>``
_PLACEHOLDER = re.compile(r"<[A-Z][A-Z_]{1,40}>")

#: label, pattern (group ``v``, when present, is the secret part), and a cheap precondition:
#: a substring (or pattern) the lower-cased text must hold for the pattern to run at all
SECRET_PATTERNS: tuple[tuple[str, re.Pattern[str], str | re.Pattern[str]], ...] = tuple(
    (label, re.compile(pattern), needs) for label, pattern, needs in (
        ("PRIVATE_KEY", r"-----BEGIN [A-Z ]{0,40}PRIVATE KEY(?: BLOCK)?-----[\s\S]{0,20000}?"
                        r"-----END [A-Z ]{0,40}PRIVATE KEY(?: BLOCK)?-----", "-----begin"),
        ("TOKEN", r"(?i:\bbearer)\s+(?P<v>[A-Za-z0-9._~+/\-]{16,}=*)", "bearer"),
        ("PASSWORD", r"\b[a-z][a-z0-9+.\-]{1,15}://[^\s:/@]{1,64}:(?P<v>[^\s@/]{1,128})@", "://"),
        ("SECRET", rf"(?i:\b(?:{_ASSIGNED_NAMES})\b[\"']?\s{{0,3}}[:=]\s{{0,3}}[\"']?)"
                   r"(?P<v>[^\s\"',;]{8,200})", _ASSIGNED_HINT),
        # a password is a secret however short: ``password=hunter2`` in an exception message
        ("PASSWORD", r"(?i:\b(?:password|passwd|pwd)\b[\"']?\s{0,3}[:=]\s{0,3}[\"']?)"
                     r"(?P<v>[^\s\"',;]{1,200})", _PASSWORD_HINT),
    )
)


def find_secrets(text: str, *, known: Iterable[str] = ()) -> list[Redaction]:
    """Secrets in ``text``, as spans to redact (de-overlapped, in text order).

    Args:
        text: any text.
        known: exact secret values to find wherever they appear (values shorter than 8
            characters are ignored: they would match ordinary words).
    """
    found: list[Redaction] = []
    for match in _PREFIXED_RE.finditer(text):
        label = next((label for label, each in _PREFIXED_EACH if each.match(match.group())),
                     "API_KEY")
        found.append(Redaction(*match.span(), label))
    lowered = text.lower()
    for label, pattern, needs in SECRET_PATTERNS:
        if (needs not in lowered) if isinstance(needs, str) else needs.search(lowered) is None:
            continue
        for match in pattern.finditer(text):
            group = "v" if "v" in pattern.groupindex else 0
            if _PLACEHOLDER.fullmatch(match.group(group)):
                continue  # already redacted (``password=<PASSWORD>``): redaction is idempotent
            found.append(Redaction(*match.span(group), label))
    for value in known:
        if len(value) < 8:
            continue
        start = text.find(value)
        while start != -1:
            found.append(Redaction(start, start + len(value), "SECRET"))
            start = text.find(value, start + len(value))
    return merge_spans(found)


def redact_secrets(text: str, *, known: Iterable[str] = ()) -> str:
    """``text`` with every secret replaced by ``<LABEL>``."""
    return apply_redactions(text, find_secrets(text, known=known))
