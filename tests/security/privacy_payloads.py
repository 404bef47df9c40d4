"""Personal data and secrets the privacy tests send, and a check that none of them is in the
bytes of a store's files (the SQLite database, its -wal and -shm), read without checkpointing."""

from __future__ import annotations

import re
from pathlib import Path

CARD_SPACES = "4111 1111 1111 1111"
CARD_DASHES = "5500-0000-0000-0004"
EMAIL = "ada.lovelace@example.com"
IBAN = "DE89 3704 0044 0532 0130 00"
PHONE = "+44 20 7946 0958"
PHONE_US = "(415) 555-0100"
API_KEY = "sk-proj-" + "Q7x9Lm2Pz4Rt8Vb1Nc6Kd3Wy"
PASSWORD = "hunter2"

RAW = (CARD_SPACES, CARD_DASHES, EMAIL, IBAN, PHONE, PHONE_US, API_KEY, PASSWORD)
QUESTION = (f"My card {CARD_SPACES} (and the old one {CARD_DASHES}) was charged twice; mail "
            f"{EMAIL}, call {PHONE} or {PHONE_US}, refund to {IBAN}. My key is {API_KEY} "
            f"and password={PASSWORD}")


def needles(values: tuple[str, ...] = RAW) -> set[bytes]:
    """Each raw value as it could appear in a file: as written, and digits (or letters and
    digits) without their separators."""
    found: set[bytes] = set()
    for value in values:
        found.add(value.encode())
        compact = re.sub(r"[^0-9A-Za-z@.+_-]", "", value)
        if len(compact) >= 7:
            found.add(compact.encode())
    return found


def store_files(db: Path) -> list[Path]:
    """The database and its -wal, -shm and -journal files (those that exist); blobs live in
    the database itself."""
    return sorted(p for p in db.parent.iterdir() if p.is_file() and p.name.startswith(db.name))


def leaks(db: Path, values: tuple[str, ...] = RAW) -> list[str]:
    """``file: value`` for each raw value found in the store's files."""
    found = []
    files = store_files(db)
    assert any(p.name.endswith("-wal") for p in files), "expected a WAL file to search"
    for path in files:
        data = path.read_bytes()
        found += [f"{path.name}: {needle.decode()}" for needle in needles(values)
                  if needle in data]
    return found
