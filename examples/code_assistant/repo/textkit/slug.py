"""URL slugs for titles."""

from textkit.words import words  # noqa: F401  (for the body still to be written)


def slugify(title: str, sep: str = "-") -> str:
    """The words of ``title``, lower-cased, joined by ``sep``.

    >>> slugify("Hello, World!")
    'hello-world'
    """
    raise NotImplementedError
