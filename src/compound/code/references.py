"""``module:attribute`` references in a spec: where they are, and importing them with errors a
user can act on.

A spec names your own Python code (a ``.py`` file next to `compound.yaml`, or an installed
package) in several places: workflow steps (``uses: desk:compose``), tools (``function:``), eval
targets and metrics (``function:``), dataset build hooks (``build:``) and online evals
(``metric: module:function``). :func:`code_references` lists them with their place in the spec;
:func:`resolve` imports one. When that fails, the error says why without a traceback:

* no such module: the folder searched, and a did-you-mean among the modules there;
* no such attribute: a did-you-mean among the module's public names, and those names;
* the module raised while it was imported: the user's file and line, and the exception;
* the folder's own file is hidden by a module of the same name that comes first (``code.py``
  next to the spec, while ``code`` is Python's): the two files, and to rename the folder's.

This is the one loader of ``module:attribute`` in compound: spec references, the CLI's
``compound run module:workflow`` and ``compound serve module:app``, and the targets of the
plugin registry (:func:`compound.plugins.load`) all go through :func:`resolve`.

**The folder's place on ``sys.path``: appended, never first.** The spec's folder (the current
folder, for a reference given on the command line) goes at the end of ``sys.path``, so the
standard library and the installed packages come before it. A file in the folder then runs
only when the spec names it: a downloaded folder shipping ``yaml.py``, ``httpx.py`` or
``lightgbm.py`` cannot replace a library that compound, or the folder's own code, imports
later (put first, as ``python script.py`` does, it would). The price is that a file named
like an installed module is not found; that case is reported, never silently resolved to the
other module.

Example:
    >>> resolve("json:dumps").__name__
    'dumps'
    >>> try:
    ...     resolve("json:dump_s", what="step 'save'")
    ... except BadReference as exc:
    ...     print(str(exc).split(" has ")[1].split(";")[0])
    no attribute 'dump_s' (did you mean 'dumps'?)
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from compound.code import guard as code_guard
from compound.code.guard import BadReference
from compound.specfile import did_you_mean

Location = tuple[str | int, ...]


@dataclass(frozen=True)
class CodeReference:
    """One reference to Python code in a spec.

    Attributes:
        loc: where it is in the spec (``("workflows", "answer", "steps", 3, "uses")``).
        reference: the ``module:attribute`` text.
        what: the component it belongs to, for messages (``step 'prompt'``).
    """

    loc: Location
    reference: str
    what: str


def is_reference(value: str) -> bool:
    """``package.module:attribute`` with identifiers on both sides."""
    module, sep, attribute = value.partition(":")
    return bool(sep) and all(
        part.isidentifier() for part in (*module.split("."), *attribute.split("."))
    )


def resolve(reference: str, *, base: str | os.PathLike[str] | None = None,
            what: str = "reference") -> Any:
    """The object ``module:attribute`` names (the attribute may be dotted); ``base``, the
    spec's folder, is importable.

    Raises:
        BadReference: the reference is malformed, the module is missing or raised while it
            was imported, or it has no such attribute.
    """
    module_name, _, attribute = reference.partition(":")
    if not is_reference(reference):
        raise BadReference(f"{what}: {reference!r} must be 'module:attribute', e.g. "
                           "'desk:compose' for the function compose in desk.py")
    folder = Path(base).resolve() if base is not None else None
    reading = code_guard.active()
    if reading is not None:  # compound check: the folder's code is read, never imported
        from compound.code.reading import locate, read_reference

        found = locate(reading, module_name)
        if found == "missing":
            raise _missing_module(what, reference, module_name, reading.folder)
        if found != "external":
            return read_reference(reading, reference, what=what)
    elif folder is not None:
        make_importable(folder)
    module = _import(module_name, reference, what=what, folder=folder)
    if folder is not None and reading is None:
        _check_not_shadowed(module_name, module, reference, what=what, folder=folder)
    obj: Any = module
    for part in attribute.split("."):
        if not hasattr(obj, part):
            names = public_names(obj)
            owner = (f"module '{module_name}'{_file_of(module)}" if obj is module
                     else f"'{type(obj).__name__}' object")
            raise BadReference(
                f"{what} '{reference}': {owner} has no attribute '{part}'"
                f"{did_you_mean(part, names)}; its public names: {', '.join(names[:25]) or 'none'}"
            )
        obj = getattr(obj, part)
    return obj


def make_importable(folder: str | os.PathLike[str]) -> None:
    """Append ``folder`` to ``sys.path`` (once), the one rule for a folder of user code (see
    the module docstring for why it is appended, not put first)."""
    entry = str(Path(folder).resolve())
    if entry not in sys.path:
        sys.path.append(entry)


def _check_not_shadowed(module_name: str, module: ModuleType, reference: str, *, what: str,
                        folder: Path) -> None:
    """A reference to ``code:run`` with ``code.py`` in the folder must not silently import
    Python's ``code`` (it comes first on ``sys.path``)."""
    top = module_name.split(".")[0]
    local = [p for p in (folder / f"{top}.py", folder / top / "__init__.py") if p.is_file()]
    if not local:
        return
    loaded = sys.modules.get(top, module)
    file = getattr(loaded, "__file__", None)
    if file is not None and (_inside(file, folder) or code_guard.is_spec_folder_file(file)):
        return
    found = _shown(file) if file else "built into Python"
    raise BadReference(
        f"{what} '{reference}': the module '{top}' is found first at {found}, so "
        f"{_shown(local[0])} in the spec's folder is never imported (the folder comes after "
        f"the installed packages on sys.path); rename {local[0].name} and its references"
    )


def public_names(obj: Any) -> list[str]:
    """The names a reference may point at: a module's ``__all__``, else what it defines (not
    what it imports); an object's public attributes."""
    if isinstance(obj, ModuleType):
        exported = getattr(obj, "__all__", None)
        if exported is not None:
            return sorted(str(n) for n in exported)
        return sorted(
            n for n, value in vars(obj).items()
            if not n.startswith("_") and getattr(value, "__module__", None) == obj.__name__
        )
    return sorted(n for n in dir(obj) if not n.startswith("_"))


def _import(module_name: str, reference: str, *, what: str, folder: Path | None) -> ModuleType:
    importlib.invalidate_caches()  # a file written since the last import is found
    try:
        # security: this runs the user's own code (a .py next to the spec, or a package), which
        # the spec names on purpose (module:function); spec text itself is never evaluated
        if folder is not None:
            _own_before_other_specs(module_name, folder)
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or module_name
        if module_name == missing or module_name.startswith(missing + "."):
            raise _missing_module(what, reference, module_name, folder) from None
        raise BadReference(_failed(what, reference, module_name, exc, folder)) from None
    except (Exception, SystemExit) as exc:  # the user's module raised while importing
        raise BadReference(_failed(what, reference, module_name, exc, folder)) from None


def _own_before_other_specs(module_name: str, folder: Path) -> None:
    """Make ``folder``'s own module the one ``module_name`` imports when another spec folder
    of this process holds a module of the same name (two systems with a ``desk.py`` each):
    by name alone, the one loaded first, or the folder first on ``sys.path``, would answer for
    both. An installed module of that name is left alone (:func:`_check_not_shadowed` reports
    the clash)."""
    top = module_name.split(".")[0]
    local = next((p for p in (folder / f"{top}.py", folder / top / "__init__.py")
                  if p.is_file()), None)
    if local is None:
        return
    loaded = sys.modules.get(top)
    if loaded is not None:
        origin = getattr(loaded, "__file__", None)
    else:
        try:
            found = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            return
        origin = found.origin if found is not None else None
    if origin is None or _inside(origin, folder) or not code_guard.is_spec_folder_file(origin):
        return
    for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
        del sys.modules[name]
    package = [str(local.parent)] if local.name == "__init__.py" else None
    spec = importlib.util.spec_from_file_location(top, local, submodule_search_locations=package)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[top] = module
    try:
        spec.loader.exec_module(module)  # security: the folder's own code, named by its spec
    except BaseException:
        del sys.modules[top]
        raise


def _missing_module(what: str, reference: str, module_name: str, folder: Path | None
                    ) -> BadReference:
    where = f"in {_shown(folder)} or the installed packages" if folder else "anywhere"
    local = _local_modules(folder)
    return BadReference(
        f"{what} '{reference}': no module '{module_name}' {where}"
        f"{did_you_mean(module_name, local)}; it must be a .py file (or a package) "
        "next to compound.yaml, or an installed package"
    )


def _failed(what: str, reference: str, module_name: str, exc: BaseException,
            folder: Path | None) -> str:
    if isinstance(exc, SyntaxError) and exc.filename:
        where = f"{_shown(exc.filename)}:{exc.lineno}"
        problem = f"SyntaxError: {exc.msg}"
    else:
        where = _raised_at(exc, folder)
        problem = f"{type(exc).__name__}: {exc}"
    return (f"{what} '{reference}': importing module '{module_name}' failed at {where}: "
            f"{problem}; fix it there (the module runs whenever the spec's code is loaded)")


def _raised_at(exc: BaseException, folder: Path | None) -> str:
    """``file:line`` where the import failed: the innermost frame in the user's folder, else
    the innermost frame outside Python's import machinery."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if folder is not None and _inside(f.filename, folder)]
    outside = [f for f in frames if "importlib" not in f.filename
               and not f.filename.startswith("<")]
    chosen = (ours or outside or frames or [None])[-1]
    return f"{_shown(chosen.filename)}:{chosen.lineno}" if chosen is not None else "import"


def _inside(filename: str, folder: Path) -> bool:
    try:
        return Path(filename).resolve().is_relative_to(folder)
    except (OSError, ValueError):
        return False


def _shown(path: str | os.PathLike[str]) -> str:
    """A path relative to the working directory when it is under it."""
    resolved = Path(path).resolve()
    try:
        return str(resolved.relative_to(Path.cwd()))
    except ValueError:
        return str(resolved)


def _file_of(module: ModuleType) -> str:
    file = getattr(module, "__file__", None)
    return f" ({_shown(file)})" if file else ""


def _local_modules(folder: Path | None) -> list[str]:
    if folder is None or not folder.is_dir():
        return []
    names = []
    for entry in folder.iterdir():
        if entry.suffix == ".py" and entry.stem.isidentifier():
            names.append(entry.stem)
        elif entry.is_dir() and (entry / "__init__.py").exists():
            names.append(entry.name)
    return sorted(names)
