"""Lazy public names for packages: ``import compound`` stays fast because a name's module is
imported only when the name is first used (PEP 562).

Example:
    >>> import types
    >>> getattr_, dir_ = attach("json", {"dumps": "json"})
    >>> getattr_("dumps") is __import__("json").dumps
    True
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def attach(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A module ``__getattr__`` and ``__dir__`` for ``package``, resolving each public name
    from the module ``exports`` maps it to, and caching it in the package's namespace."""
    namespace = sys.modules[package].__dict__

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)  # security: the exports table
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(namespace.get("__all__", exports))

    return __getattr__, __dir__
