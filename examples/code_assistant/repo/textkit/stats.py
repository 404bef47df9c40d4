"""Counting words."""

from collections import Counter

from textkit.words import content_words


def word_counts(text: str) -> dict[str, int]:
    """How often each content word occurs in ``text``."""
    return dict(Counter(content_words(text)))


def top_words(text: str, n: int) -> list[tuple[str, int]]:
    """The ``n`` most frequent content words with their counts, most frequent first; ties
    in alphabetical order."""
    counts = word_counts(text)
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:n]
