"""Wrapping text to a width."""

from textkit.words import WORD


def wrap(text: str, width: int) -> list[str]:
    """Lines of at most ``width`` characters, breaking between words (a longer word gets a
    line of its own)."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}" if line else word
        if len(candidate) <= width or not line:
            line = candidate
        else:
            lines.append(line)
            line = word
    if line:
        lines.append(line)
    return lines


def initials(text: str) -> str:
    """The first letter of each word, upper-cased."""
    return "".join(match.group(0)[0].upper() for match in WORD.finditer(text))
