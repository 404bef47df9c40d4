"""Splitting text into words."""

import re

WORD = re.compile(r"[A-Za-z0-9]+")
STOPWORDS = frozenset({"a", "an", "and", "in", "of", "on", "or", "the", "to"})


def words(text: str) -> list[str]:
    """The words of ``text``, lower-cased, in order; punctuation and spaces separate them."""
    return [match.group(0).lower() for match in WORD.finditer(text)]


def content_words(text: str) -> list[str]:
    """The words of ``text`` that are not stop words."""
    return [word for word in words(text) if word not in STOPWORDS]
