"""Recognisers of personal data: a pattern to find candidates and a check to confirm them.

Presidio's recognisers need spaCy models downloaded at run time; compound works offline, so
it ships its own, for the entities that have a checkable form:

==================  ===========================================================================
``EMAIL_ADDRESS``   local part, ``@``, a domain with a top-level label
``PHONE_NUMBER``    E.164 (``+44 20 7946 0958``), NANP (``(415) 555-0100``), national trunk
                    format (``030 1234 5678``); 7 to 15 digits
``CREDIT_CARD``     13 to 19 digits, spaces or dashes allowed, a card network's first digit,
                    and a valid **Luhn** checksum
``IBAN_CODE``       country code, check digits, the country's length, and **mod-97** = 1
``US_SSN``          ``123-45-6789`` with the issuing rules (no 000, 666, 9xx area...), or nine
                    digits after "SSN"
``UK_NINO``         ``QQ 12 34 56 C`` with the allowed prefix letters
``DE_TAX_ID``       the German Steuer-ID: 11 digits, the digit-repetition rule and the
                    **ISO 7064 mod 11,10** check digit
``PERSON``          a capitalised name after a cue ("my name is", "Dear", "Mr.", "Herr",
                    a sign-off): a heuristic; see :mod:`~compound.production.rails.pii` for
                    finding names with a model
==================  ===========================================================================

Every pattern is linear (no nested repetition) and anchored on a character class that is
rare in ordinary text, so a megabyte is scanned in well under a second.

Example:
    >>> [(f.label, f.start, f.end) for f in find_entities("Card 4111 1111 1111 1111, thanks")]
    [('CREDIT_CARD', 5, 24)]
    >>> luhn_valid("4111111111111112")
    False
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from compound.privacy.spans import Redaction

ENTITIES: tuple[str, ...] = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE",
                             "US_SSN", "UK_NINO", "DE_TAX_ID", "PERSON")

_IBAN_TABLE = (
    "AD24 AE23 AL28 AT20 AZ28 BA20 BE16 BG22 BH22 BR29 BY28 CH21 CR22 CY28 CZ24 DE22 DK18 "
    "DO28 EE20 EG29 ES24 FI18 FO18 FR27 GB22 GE22 GI23 GL18 GR27 GT28 HR21 HU28 IE22 IL23 "
    "IQ23 IS26 IT27 JO30 KW30 KZ20 LB28 LC32 LI21 LT20 LU20 LV21 MC27 MD24 ME22 MK19 MR27 "
    "MT31 MU30 NL18 NO15 PK24 PL28 PS29 PT25 QA29 RO24 RS22 SA24 SC31 SE24 SI19 SK24 SM27 "
    "ST25 SV28 TL23 TN24 TR26 UA29 VA22 VG24 XK20"
)
#: ISO 13616 IBAN lengths by country
IBAN_LENGTHS: dict[str, int] = {e[:2]: int(e[2:]) for e in _IBAN_TABLE.split()}


def luhn_valid(digits: str) -> bool:
    """Whether a string of digits passes the Luhn checksum (card numbers)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def iban_valid(code: str) -> bool:
    """Whether ``code`` (no spaces) is an IBAN: known country, its length, mod 97 = 1."""
    code = code.upper()
    if IBAN_LENGTHS.get(code[:2]) != len(code) or not code[2:4].isdigit():
        return False
    moved = code[4:] + code[:4]
    number = "".join(str(int(c, 36)) for c in moved)
    return int(number) % 97 == 1


def de_tax_id_valid(digits: str) -> bool:
    """Whether 11 digits form a German tax id (Steuer-ID): no leading zero, one digit of the
    first ten repeated two or three times, and the ISO 7064 MOD 11,10 check digit."""
    if len(digits) != 11 or digits[0] == "0":
        return False
    counts = Counter(digits[:10])
    repeated = [n for n in counts.values() if n > 1]
    if len(repeated) != 1 or repeated[0] > 3:
        return False
    product = 10
    for char in digits[:10]:
        total = (int(char) + product) % 10 or 10
        product = (total * 2) % 11
    check = (11 - product) % 10
    return check == int(digits[10])


@dataclass(frozen=True)
class Recognizer:
    """A pattern for candidates of one entity, and a check that confirms one.

    Attributes:
        label: the entity type.
        pattern: finds candidates; group ``v``, when present, is the part to redact.
        check: confirms a candidate's text (None: every candidate counts).
        priority: wins overlaps with lower priorities (checksummed entities rank highest).
        trim: the length of the candidate that forms the entity (0: none).
        needs: a cheap pattern the lower-cased text must contain for this one to run.
    """

    label: str
    pattern: re.Pattern[str]
    check: Callable[[str], bool] | None = None
    priority: int = 0
    trim: Callable[[str], int] | None = None
    needs: re.Pattern[str] | None = None


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def _card(text: str) -> bool:
    digits = _digits(text)
    return 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn_valid(digits)


def _phone(text: str) -> bool:
    digits = _digits(text)
    return 7 <= len(digits) <= 15 and len(set(digits)) > 2


def _iban_length(text: str) -> int:
    """How many characters of a candidate form the IBAN (the country's length of letters and
    digits, spaces between them included); 0 when it is none."""
    expected = IBAN_LENGTHS.get(text[:2].upper())
    if expected is None:
        return 0
    count = 0
    for index, char in enumerate(text):
        if char.isalnum():
            count += 1
            if count == expected:
                return index + 1 if iban_valid(text[:index + 1].replace(" ", "")) else 0
    return 0


def _ssn(text: str) -> bool:
    digits = _digits(text)
    return (len(digits) == 9 and digits[:3] not in ("000", "666") and digits[0] != "9"
            and digits[3:5] != "00" and digits[5:] != "0000")


_NAME = r"[A-ZÀ-ÖØ-Þ][a-zß-öø-ÿ'’-]+"
_HONORIFIC = r"(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Herr|Frau|Mme|Mlle|Sr|Sra)"
_NAMES = rf"(?!{_HONORIFIC}\b)(?P<v>{_NAME}(?:[ \t]+{_NAME}){{0,2}})"
_CUES = (r"my name is|my name's|name:|call me|mein name ist|ich hei(?:ß|ss)e|me llamo|"
         r"je m'appelle|dear|sehr geehrte[rs]?(?: herr| frau)?|liebe[rs]?|regards,|sincerely,|"
         r"cheers,|best,|thanks,|gr(?:ü|ue)(?:ß|ss)e,")

RECOGNIZERS: tuple[Recognizer, ...] = (
    Recognizer("EMAIL_ADDRESS", re.compile(
        r"(?<![\w.%+-])[\w.%+-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.){1,8}[A-Za-z]{2,24}(?![\w-])"),
        priority=3),
    Recognizer("CREDIT_CARD", re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d])"), _card,
               priority=4),
    Recognizer("IBAN_CODE", re.compile(
        r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?:[ ]?[A-Za-z0-9]){11,30}(?![A-Za-z0-9])"),
        priority=4, trim=_iban_length),
    Recognizer("US_SSN", re.compile(r"(?<![\d-])\d{3}([- ])\d{2}\1\d{4}(?![\d-])"), _ssn,
               priority=2),
    Recognizer("US_SSN", re.compile(
        r"(?i:\b(?:ssn|social security(?: number)?)\b\W{0,5})(?P<v>\d{9})(?!\d)"), _ssn,
        priority=2),
    Recognizer("UK_NINO", re.compile(
        r"(?<![A-Za-z0-9])(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]"
        r" ?\d{2} ?\d{2} ?\d{2} ?[A-D](?![A-Za-z0-9])"), priority=2),
    Recognizer("DE_TAX_ID", re.compile(r"(?<![\d-])[1-9]\d(?: ?\d{3}){3}(?![\d-])"),
               lambda text: de_tax_id_valid(_digits(text)), priority=3),
    Recognizer("PHONE_NUMBER", re.compile(
        r"(?<![\w+])\+[1-9]\d{0,2}(?:[ .-]?\(?\d{1,4}\)?){2,6}(?![\w])"), _phone, priority=1),
    Recognizer("PHONE_NUMBER", re.compile(
        r"(?<![\w+(])(?<!\d[ .-])(?:\+?1[ .-]?)?(?:\([2-9]\d{2}\)|[2-9]\d{2})[ .-]?[2-9]\d{2}"
        r"[ .-]?\d{4}(?![\w])(?![ .-]\d)"), _phone, priority=1),
    Recognizer("PHONE_NUMBER", re.compile(
        r"(?<![\w+])(?<!\d[ /-])0\d{2,4}[ /-]\d{3,8}(?:[ -]\d{2,5})?(?![\w])(?![ /-]\d)"),
        _phone, priority=1),
    Recognizer("PERSON", re.compile(rf"(?i:\b(?:{_CUES})[ \t\n]{{1,3}})" + _NAMES),
               needs=re.compile(rf"\b(?:{_CUES})")),
    Recognizer("PERSON", re.compile(rf"\b{_HONORIFIC}\.?[ \t]+" + _NAMES)),
)
_DIGIT = re.compile(r"\d")


_NUMERIC = frozenset({"PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "UK_NINO",
                      "DE_TAX_ID"})


def find_entities(text: str, entities: Iterable[str] | None = None) -> list[Redaction]:
    """Personal data in ``text``: confirmed, de-overlapped spans, in text order.

    Args:
        text: any text.
        entities: the entity types to look for (all of :data:`ENTITIES` when None).
    """
    wanted = set(ENTITIES if entities is None else entities)
    found: list[tuple[int, Redaction]] = []
    has_digit = _DIGIT.search(text) is not None
    has_at = "@" in text
    lowered: str | None = None
    for recognizer in RECOGNIZERS:
        if recognizer.label not in wanted:
            continue
        if recognizer.label == "EMAIL_ADDRESS" and not has_at:
            continue
        if recognizer.label in _NUMERIC and not has_digit:
            continue
        if recognizer.needs is not None:
            lowered = text.lower() if lowered is None else lowered
            if recognizer.needs.search(lowered) is None:
                continue
        for match in recognizer.pattern.finditer(text):
            group = "v" if "v" in recognizer.pattern.groupindex else 0
            start, end = match.span(group)
            value = match.group(group)
            if recognizer.trim is not None:
                length = recognizer.trim(value)
                if not length:
                    continue
                end = start + length
                value = value[:length]
            if recognizer.check is not None and not recognizer.check(value):
                continue
            found.append((recognizer.priority, Redaction(start, end, recognizer.label)))
    return resolve_overlaps(found)


def resolve_overlaps(found: Sequence[tuple[int, Redaction]]) -> list[Redaction]:
    """Keep, of overlapping spans, the one with the higher priority (then the longer)."""
    if not found:
        return []
    occupied = bytearray(max(span.end for _, span in found))
    kept: list[Redaction] = []
    for _, span in sorted(found, key=lambda p: (-p[0], -(p[1].end - p[1].start), p[1].start)):
        if any(occupied[span.start:span.end]):
            continue
        occupied[span.start:span.end] = b"\x01" * (span.end - span.start)
        kept.append(span)
    return sorted(kept, key=lambda s: s.start)
