"""compound's version, in a module of its own so that any part of the package can read it
without importing the top-level package (which re-exports every floor).

Example:
    >>> from compound.version import __version__
    >>> __version__.count(".")
    2
"""

__version__ = "0.1.0"
