"""While `compound check` runs, no Python file of the spec's folder is imported.

A linter does not run the code it checks, and neither does ``compound check``: a downloaded
folder whose ``desk.py`` calls ``os.system`` at its top level must be safe to check.
:func:`reading_only` is the check's mode. Inside it:

* :func:`compound.code.references.resolve` reads a reference into the folder's code with
  :mod:`compound.code.reading` (``ast``, never ``import``); references to installed packages
  are imported as at run time;
* the folder is taken off ``sys.path``, so that no import by name (an optional dependency that
  is not installed, a plugin's entry point declared by a ``*.dist-info`` in the folder) finds a
  file there;
* an import finder refuses, as the last line of defence, any module whose file lies in the
  folder (installed packages stay importable, even from a virtualenv inside the folder).

``compound run``, ``serve``, ``up``, ``eval`` and ``train`` run the system, so they import its
code as they must; they never enter this mode.

Example:
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder, reading_only(folder) as reading:
    ...     reading.is_local(Path(folder) / "desk.py"), reading.is_local(Path(sys.executable))
    (True, False)
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import os
import site
import sys
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from compound.errors import UserError

Location = tuple[str | int, ...]

_ACTIVE: ContextVar[ReadOnlyCode | None] = ContextVar("compound_read_only_code", default=None)
#: every spec folder put on sys.path in this process (System.make_importable): a check takes
#: them all off, so that another system loaded earlier is not imported as "installed"
_SPEC_FOLDERS: set[str] = set()


class RefusedImport(ImportError):
    """An import of the spec folder's code while ``compound check`` runs."""


class UnverifiedReference(Exception):
    """A reference the check cannot verify without running the folder's code: a note."""


class BadReference(UserError):
    """A ``module:attribute`` reference that cannot be imported, and why."""


@dataclass
class ReadOnlyCode:
    """The state of one check: the folder whose code is read, never imported.

    Attributes:
        folder: the spec's folder (resolved).
        notes: what could not be verified statically, as ``(spec location, message)``.
        cache: parsed modules and stand-ins, shared by every reference of the check.
    """

    folder: Path
    notes: list[tuple[Location, str]] = field(default_factory=list)
    cache: dict[Any, Any] = field(default_factory=dict)
    others: tuple[Path, ...] = ()  # other spec folders this process put on sys.path
    _installed: tuple[Path, ...] = ()

    def is_local(self, path: str | os.PathLike[str]) -> bool:
        """Whether ``path`` is the folder's own code (in it, and not an installed package)."""
        return self._inside(path, (self.folder,))

    def is_spec_code(self, path: str | os.PathLike[str]) -> bool:
        """Whether ``path`` is code of this spec's folder or of another loaded spec's."""
        return self._inside(path, (self.folder, *self.others))

    def _inside(self, path: str | os.PathLike[str], folders: tuple[Path, ...]) -> bool:
        try:
            resolved = Path(path).resolve()
        except (OSError, ValueError):
            return False
        if not any(resolved.is_relative_to(folder) for folder in folders):
            return False
        return not any(resolved.is_relative_to(root) for root in self._installed)

    def note(self, loc: Location, message: str) -> None:
        """Record what could not be verified (once per message)."""
        if all(message != seen for _, seen in self.notes):
            self.notes.append((loc, message))


def remember_spec_folder(folder: str | os.PathLike[str]) -> None:
    """Record a spec folder that is being put on ``sys.path`` (its code is never installed
    code, whichever system a later check is for)."""
    _SPEC_FOLDERS.add(str(folder))


def is_spec_folder_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` lies in a spec folder this process put on ``sys.path``."""
    try:
        resolved = Path(path).resolve()
    except (OSError, ValueError):
        return False
    return any(resolved.is_relative_to(Path(f).resolve()) for f in _SPEC_FOLDERS)


def active() -> ReadOnlyCode | None:
    """The check in progress in this context, if any."""
    return _ACTIVE.get()


@contextlib.contextmanager
def reading_only(folder: str | os.PathLike[str]) -> Iterator[ReadOnlyCode]:
    """Check mode for the code of ``folder``: read it, never import it (see the module).

    Nested calls share the outer check (and its notes).
    """
    current = _ACTIVE.get()
    if current is not None:
        yield current
        return
    resolved = Path(folder).resolve()
    others = tuple(Path(f).resolve() for f in sorted(_SPEC_FOLDERS))
    reading = ReadOnlyCode(resolved, others=tuple(o for o in others if o != resolved),
                           _installed=_installed_roots((resolved, *others)))
    saved_path = list(sys.path)
    sys.path[:] = [entry for entry in sys.path if not reading.is_spec_code(entry or os.getcwd())]
    finder = _RefuseLocal(reading)
    sys.meta_path.insert(0, finder)
    token = _ACTIVE.set(reading)
    try:
        yield reading
    finally:
        _ACTIVE.reset(token)
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(finder)
        added = [entry for entry in sys.path if entry not in saved_path]
        sys.path[:] = saved_path + added


class _RefuseLocal(importlib.abc.MetaPathFinder):
    """Refuse to import a module whose file is the checked folder's code."""

    def __init__(self, reading: ReadOnlyCode) -> None:
        self.reading = reading

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None:
            return None
        places = [spec.origin] if spec.origin else list(spec.submodule_search_locations or [])
        if any(place and self.reading.is_spec_code(place) for place in places):
            raise RefusedImport(
                f"compound check does not import '{fullname}' ({places[0]}): it is code in the "
                f"spec's folder {self.reading.folder}, read without running it; 'compound run' "
                "and 'compound up' import it",
                name=fullname,
            )
        return None


def _installed_roots(folders: tuple[Path, ...]) -> tuple[Path, ...]:
    """Where installed code lives (the interpreter, site-packages, compound itself) inside
    ``folders``, so that a virtualenv in a spec's folder is not mistaken for its own code (a
    folder inside an installed root, such as /usr/src/app under the prefix /usr, stays the
    folder's own)."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, *site.getsitepackages()}
    with contextlib.suppress(Exception):
        roots.add(site.getusersitepackages())
    roots.add(str(Path(__file__).resolve().parents[1]))  # compound itself
    inside = []
    for root in roots:
        with contextlib.suppress(OSError, ValueError):
            path = Path(root).resolve()
            if any(path != folder and path.is_relative_to(folder) for folder in folders):
                inside.append(path)
    return tuple(inside)
