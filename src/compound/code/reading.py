"""Reading a ``module:attribute`` reference into the spec's folder without running the code.

`compound check` finds the module's file (``a.b`` is ``a/b.py`` or ``a/b/__init__.py`` under
the spec's folder), parses it with :mod:`ast` (and compiles it, which runs nothing, so that
every syntax error an import would meet is found), and looks the attribute up among the
module's top-level definitions: ``def``, ``async def``, ``class``, assignments and imports
(followed into the folder's other modules). It reports what an import would:

* a syntax error, at the file and line;
* an unconditional top-level import of a module that is neither installed nor in the folder;
* no such attribute, with a did-you-mean among the module's public names;
* an attribute that is not a function or a class, where its literal value tells.

What only running the code could tell (an attribute created by ``globals()``, a module
``__getattr__``, a value computed by a call) raises
:class:`~compound.code.guard.UnverifiedReference`: a note, not an error.

The result is a stand-in (:mod:`compound.code.standins`) with the real signature and types.

Example:
    >>> import tempfile
    >>> from compound.code.guard import reading_only
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     _ = (Path(folder) / "desk.py").write_text(
    ...         "import os\\nos.system('echo pwned')\\ndef answer(q: str) -> str:\\n    ...\\n")
    ...     with reading_only(folder) as reading:
    ...         fn = read_reference(reading, "desk:answer", what="step 'reply'")
    >>> fn.__name__, fn.__annotations__
    ('answer', {'q': <class 'str'>, 'return': <class 'str'>})
"""

from __future__ import annotations

import ast
import builtins
import functools
import importlib
import importlib.util
import operator
import sys
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compound.code.guard import BadReference, ReadOnlyCode, UnverifiedReference
from compound.code.modules import (
    MAX_MODULE_BYTES,
    Binding,
    SourceModule,
    TooLarge,
    Unparsable,
    imports_of,
    locate,
    parse_module,
    shown,
)
from compound.code.standins import (
    STATIC,
    class_stand_in,
    function_stand_in,
    literal,
    record_stand_in,
    without_first,
)
from compound.specfile import did_you_mean

MAX_DEPTH = 16
MAX_MODULES = 200
_BUILTIN_TYPES: dict[str, Any] = {
    name: getattr(builtins, name) for name in (
        "str", "int", "float", "bool", "bytes", "complex", "list", "dict", "set", "frozenset",
        "tuple", "object", "type")}
_BUILTIN_TYPES["Any"] = typing.Any
_TYPE_MODULES = ("typing", "typing_extensions", "collections", "collections.abc",
                 "dataclasses", "datetime", "decimal", "enum", "pathlib", "uuid")
_RECORD_BASES = {"BaseModel", "TypedDict", "NamedTuple"}


class BadCode(BadReference):
    """What an import of the folder's code would fail on, found by reading it."""


def read_reference(reading: ReadOnlyCode, reference: str, *, what: str) -> Any:
    """A stand-in for what ``module:attribute`` names in the spec's folder.

    Raises:
        BadCode: importing the module would fail (syntax, a missing import), it has no such
            attribute.
        UnverifiedReference: only running the code could tell what it is.
    """
    module_name, _, attribute = reference.partition(":")
    reader = _Reader(reading, reference, what)
    module = reader.module(module_name)
    reader.check_imports(module)
    value: Any = _ModuleValue(module)
    for part in attribute.split("."):
        value = reader.attribute(value, part)
    if isinstance(value, _ModuleValue):
        return types.ModuleType(value.module.name)  # empty, never run: "is a module"
    return value


@dataclass(frozen=True)
class _ModuleValue:
    """A module of the folder, as the value of a name (``import helpers``)."""

    module: SourceModule

    def __repr__(self) -> str:
        return f"<module {self.module.name!r} (read, not imported)>"


class _Unknown:
    """A class attribute whose value only running the code could tell."""


class _Reader:
    def __init__(self, reading: ReadOnlyCode, reference: str, what: str) -> None:
        self.reading = reading
        self.reference = reference
        self.what = what
        self.cache = reading.cache
        self.building: set[tuple[str, str]] = set()

    # -- modules ----------------------------------------------------------------------------

    def module(self, name: str) -> SourceModule:
        key = ("module", name)
        if key in self.cache:
            return self.cache[key]  # type: ignore[no-any-return]
        found = locate(self.reading, name)
        if not isinstance(found, Path):
            raise BadCode(f"{self.what} '{self.reference}': no module '{name}' in the spec's "
                          "folder")
        if found.is_dir():
            module = SourceModule(name, found, ast.Module(body=[], type_ignores=[]), True,
                                  dynamic=True)
        else:
            module = self._parse(name, found)
        self.cache[key] = module
        return module

    def _parse(self, name: str, file: Path) -> SourceModule:
        try:
            return parse_module(name, file)
        except Unparsable as exc:
            raise BadCode(self._would_fail(name, exc.where, exc.problem)) from None
        except TooLarge as exc:
            raise UnverifiedReference(
                f"{self.what} '{self.reference}': module '{name}' ({shown(file)}) is "
                f"{exc.size:,} bytes, more than the {MAX_MODULE_BYTES:,} compound check reads; "
                "'compound run' and 'compound up' will import it") from None

    def _would_fail(self, name: str, where: str, problem: str) -> str:
        return (f"{self.what} '{self.reference}': importing module '{name}' would fail at "
                f"{where}: {problem}; fix it there (compound check read the code without "
                "running it)")

    def check_imports(self, module: SourceModule) -> None:
        """What importing ``module`` would fail on: its packages' and its own unconditional
        imports, followed through the folder's modules."""
        seen: set[str] = set()
        pending = [module.name]
        parts = module.name.split(".")
        pending += [".".join(parts[:i]) for i in range(1, len(parts))]
        while pending and len(seen) < MAX_MODULES:
            name = pending.pop()
            if name in seen:
                continue
            seen.add(name)
            current = self.module(name)
            for node in current.tree.body:
                for target, line in imports_of(node, current):
                    where = locate(self.reading, target)
                    if where == "missing":
                        raise BadCode(self._would_fail(
                            current.name, f"{shown(current.file)}:{line}",
                            f"ModuleNotFoundError: No module named '{target}' (neither "
                            "installed nor a module in the spec's folder)"))
                    if isinstance(where, Path):
                        pending.append(target)
                        self._check_names(current, node, target, line)

    def _check_names(self, module: SourceModule, node: ast.stmt, target: str, line: int
                     ) -> None:
        """``from target import name``: the folder's module ``target`` defines each name."""
        if not isinstance(node, ast.ImportFrom):
            return
        source = self.module(target)
        if source.dynamic:
            return
        for alias in node.names:
            name = alias.name
            if name in source.bindings or self._submodule(source, name) is not None:
                continue
            raise BadCode(self._would_fail(
                module.name, f"{shown(module.file)}:{line}",
                f"ImportError: cannot import name '{name}' from '{target}' "
                f"({shown(source.file)}){did_you_mean(name, source.bindings)}"))

    def _relative(self, module: SourceModule, target: str, level: int) -> str:
        if level == 0:
            return target
        base = module.package().split(".") if module.package() else []
        base = base[: len(base) - (level - 1)] if level > 1 else base
        return ".".join([*base, target] if target else base)

    # -- names ------------------------------------------------------------------------------

    def attribute(self, owner: Any, part: str, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise self._unverified(f"its definition of '{part}' is an alias chain too long to "
                                   "follow")
        if isinstance(owner, _ModuleValue):
            module = owner.module
            binding = module.bindings.get(part)
            if binding is None:
                sub = self._submodule(module, part)
                if sub is not None:
                    return sub
                if module.dynamic:
                    raise self._unverified(f"module '{module.name}' ({shown(module.file)}) "
                                           f"may create '{part}' when it runs")
                names = module.public
                raise BadCode(
                    f"{self.what} '{self.reference}': module '{module.name}' "
                    f"({shown(module.file)}) has no attribute '{part}'{did_you_mean(part, names)}"
                    f"; its public names: {', '.join(names[:25]) or 'none'}")
            return self.value(module, part, binding, depth)
        if isinstance(owner, _Unknown):
            raise self._unverified(f"'{part}' belongs to a value computed when the code runs")
        if not hasattr(owner, part):
            static = getattr(owner, STATIC, None)
            if static == "partial" or (static is not None and not isinstance(owner, type)):
                raise self._unverified(f"'{part}' may be set when the code runs, or come from "
                                       "a base class it inherits")
            kind = f"class '{owner.__name__}'" if isinstance(owner, type) else \
                f"'{type(owner).__name__}' object"
            names = sorted(n for n in dir(owner) if not n.startswith("_"))
            raise BadCode(f"{self.what} '{self.reference}': {kind} has no attribute "
                          f"'{part}'{did_you_mean(part, names)}; its public names: "
                          f"{', '.join(names[:25]) or 'none'}")
        found = getattr(owner, part)
        if isinstance(found, _Unknown):
            raise self._unverified(f"'{part}' is computed when the code runs")
        return found

    def _submodule(self, module: SourceModule, part: str) -> _ModuleValue | None:
        if not module.is_package:
            return None
        name = f"{module.name}.{part}"
        if isinstance(locate(self.reading, name), Path):
            return _ModuleValue(self.module(name))
        return None

    def value(self, module: SourceModule, name: str, binding: Binding, depth: int) -> Any:
        key = ("value", module.name, name)
        if key in self.cache:
            return self.cache[key]
        found = self._value(module, name, binding, depth)
        self.cache[key] = found
        return found

    def _value(self, module: SourceModule, name: str, binding: Binding, depth: int) -> Any:
        node = binding.node
        if binding.kind == "def":
            assert isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            return self._function(module, node)
        if binding.kind == "class":
            assert isinstance(node, ast.ClassDef)
            return self._class(module, node)
        if binding.kind in ("import", "from"):
            return self._imported(module, binding, depth)
        if binding.kind == "value" and isinstance(node, ast.expr):
            return self._assigned(module, name, node, depth)
        raise self._unverified(f"'{name}' in module '{module.name}' is bound when the code runs")

    def _imported(self, module: SourceModule, binding: Binding, depth: int) -> Any:
        target = self._relative(module, binding.target, binding.level)
        if not target:
            raise self._unverified(f"module '{module.name}' imports relatively, outside a "
                                   "package")
        where = locate(self.reading, target)
        if binding.kind == "import":
            if isinstance(where, Path):
                return _ModuleValue(self.module(target))
            return self._external(target, None)
        if isinstance(where, Path):
            return self.attribute(_ModuleValue(self.module(target)), binding.name, depth + 1)
        return self._external(target, binding.name)

    def _external(self, module_name: str, name: str | None) -> Any:
        """An installed module's object: imported, as it is at run time."""
        try:
            module = importlib.import_module(module_name)  # security: installed code only
            if name is None:
                return module
            if hasattr(module, name):
                return getattr(module, name)
            return importlib.import_module(f"{module_name}.{name}")
        except Exception as exc:
            raise self._unverified(f"importing the installed '{module_name}' failed "
                                   f"({type(exc).__name__}: {exc})") from None

    def _assigned(self, module: SourceModule, name: str, node: ast.expr, depth: int) -> Any:
        if isinstance(node, ast.Lambda):
            return function_stand_in(node, module=module.name, name=name,
                                     type_of=self._type_of(module))
        if isinstance(node, ast.Name) and node.id in module.bindings and node.id != name:
            return self.attribute(_ModuleValue(module), node.id, depth + 1)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            made = module.bindings.get(node.func.id)
            if made is not None and made.kind == "class":
                cls = self.attribute(_ModuleValue(module), node.func.id, depth + 1)
                if getattr(cls, STATIC, None) is True:
                    return object.__new__(cls)
        try:
            return literal(node)
        except ValueError:
            pass
        kind = _literal_kind(node)
        if kind is not None:
            return kind
        raise self._unverified(f"'{name}' in module '{module.name}' ({shown(module.file)}) "
                               "is computed when the code runs")

    def _function(self, module: SourceModule, node: ast.FunctionDef | ast.AsyncFunctionDef,
                  qualname: str | None = None) -> Any:
        fn = function_stand_in(node, module=module.name, type_of=self._type_of(module),
                               qualname=qualname)
        decorator = _tool_decorator(node, module)
        if decorator is None:
            return fn
        from compound.orchestration.tools import Tool

        options: dict[str, Any] = {}
        for keyword in decorator:
            if keyword.arg in ("side_effects", "timeout_s", "name", "description"):
                try:
                    options[keyword.arg] = literal(keyword.value)
                except ValueError:
                    raise self._unverified(f"its @tool({keyword.arg}=...) is computed when the "
                                           "code runs") from None
        return Tool(fn, **options)

    def _class(self, module: SourceModule, node: ast.ClassDef) -> Any:
        key = ("class", module.name, node.name)
        if key in self.cache:
            return self.cache[key]
        bases, partial, record = [], False, _is_record_decorated(node)
        for base in node.bases:
            if _name_of(base) in _RECORD_BASES:
                record = True
                continue
            if _name_of(base) in ("object", "Generic", "Protocol", "ABC"):
                continue
            try:
                found = self._type_of(module)(base, strict=True)
            except UnverifiedReference:
                found = None
            if isinstance(found, type) and getattr(found, STATIC, None) is not None:
                bases.append(found)
                record = record or _is_static_record(found)
                partial = partial or getattr(found, STATIC) == "partial"
            else:
                partial = True
        namespace: dict[str, Any] = {}
        fields: list[tuple[str, Any, bool]] = []
        type_of = self._type_of(module)
        for statement in node.body:
            if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
                method = function_stand_in(statement, module=module.name, type_of=type_of,
                                           qualname=f"{node.name}.{statement.name}")
                names = {_name_of(d) for d in statement.decorator_list}
                if "staticmethod" in names:
                    namespace[statement.name] = staticmethod(method)
                elif "classmethod" in names:
                    namespace[statement.name] = staticmethod(without_first(method))
                elif "property" in names:
                    namespace[statement.name] = property(method)
                else:
                    namespace[statement.name] = method
            elif isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
                if _name_of(statement.annotation) == "ClassVar":
                    continue
                fields.append((statement.target.id, type_of(statement.annotation),
                               statement.value is not None))
            elif isinstance(statement, ast.Assign):
                for target in statement.targets:
                    if isinstance(target, ast.Name):
                        try:
                            namespace[target.id] = literal(statement.value)
                        except ValueError:
                            namespace[target.id] = _Unknown()
        if "input_types" in namespace or "output_type" in namespace:
            partial = True  # its step types are computed by its code
        doc = ast.get_docstring(node)
        cls: type | None = None
        if record:
            try:
                cls = record_stand_in(node.name, module=module.name, fields=fields,
                                      bases=tuple(bases), namespace=namespace, doc=doc)
            except (TypeError, ValueError):  # what dataclasses refuses: told at run time
                partial = True
        if cls is None:
            cls = class_stand_in(node.name, module=module.name, bases=tuple(bases),
                                 namespace=namespace, doc=doc)
        if partial:
            setattr(cls, STATIC, "partial")
        self.cache[key] = cls
        return cls

    # -- annotations ------------------------------------------------------------------------

    def _type_of(self, module: SourceModule) -> Any:
        return functools.partial(self.annotation, module)

    def annotation(self, module: SourceModule, node: ast.expr, depth: int = 0,
                   strict: bool = False) -> Any:
        """The type an annotation names, as far as reading tells; ``Any`` otherwise (with
        ``strict``, :class:`UnverifiedReference` instead of ``Any`` for an unknown name)."""
        if depth > MAX_DEPTH:
            return typing.Any
        try:
            return self._annotation(module, node, depth, strict)
        except (TypeError, ValueError, AttributeError, ImportError, SyntaxError, BadCode,
                RecursionError, MemoryError):
            if strict:
                raise self._unverified("a base class is not known") from None
            return typing.Any

    def _annotation(self, module: SourceModule, node: ast.expr, depth: int, strict: bool) -> Any:
        again = functools.partial(self.annotation, module, depth=depth + 1)
        if isinstance(node, ast.Constant):
            if node.value is None:
                return type(None)
            if isinstance(node.value, str) and len(node.value) <= 1000:
                return again(ast.parse(node.value.strip(), mode="eval").body)
            return typing.Any
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            parts = [again(node.left), again(node.right)]
            if typing.Any in parts:
                return typing.Union[tuple(parts)]  # noqa: UP007 (Any | int is no runtime union)
            return functools.reduce(operator.or_, parts)
        if isinstance(node, ast.Subscript):
            origin = again(node.value)
            if origin is typing.Any:
                return typing.Any
            items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            if origin is typing.Annotated:
                return again(items[0])
            if origin is typing.Literal:
                return typing.Literal[tuple(literal(item) for item in items)]
            args = [Ellipsis if isinstance(i, ast.Constant) and i.value is Ellipsis else again(i)
                    for i in items]
            return origin[tuple(args) if len(args) > 1 else args[0]]
        if isinstance(node, ast.Name):
            return self._named(module, node.id, depth, strict)
        if isinstance(node, ast.Attribute):
            owner = node.value
            if isinstance(owner, ast.Name):
                binding = module.bindings.get(owner.id)
                if binding is not None and binding.kind in ("import", "from"):
                    target = self._relative(module, binding.target, binding.level)
                    if binding.kind == "from":
                        target = f"{target}.{binding.name}"
                    return self._type_in(target, node.attr, depth, strict)
        if strict:
            raise self._unverified("a base class is computed")
        return typing.Any

    def _named(self, module: SourceModule, name: str, depth: int, strict: bool) -> Any:
        binding = module.bindings.get(name)
        if binding is None:
            if name in _BUILTIN_TYPES:
                return _BUILTIN_TYPES[name]
            if strict:
                raise self._unverified(f"'{name}' is not defined in the module")
            return typing.Any
        if binding.kind == "class":
            assert isinstance(binding.node, ast.ClassDef)
            key = (module.name, name)
            if key in self.building:
                return typing.Any  # a record that refers to itself
            self.building.add(key)
            try:
                cls = self._class(module, binding.node)
            finally:
                self.building.discard(key)
            if strict or getattr(cls, STATIC, None) is True:
                return cls
            return typing.Any
        if binding.kind == "from":
            target = self._relative(module, binding.target, binding.level)
            return self._type_in(target, binding.name, depth, strict)
        if binding.kind == "value" and isinstance(binding.node, ast.expr):
            return self.annotation(module, binding.node, depth + 1, strict)
        if strict:
            raise self._unverified(f"'{name}' is bound when the code runs")
        return typing.Any

    def _type_in(self, module_name: str, name: str, depth: int, strict: bool) -> Any:
        where = locate(self.reading, module_name)
        if isinstance(where, Path):
            module = self.module(module_name)
            return self._named(module, name, depth + 1, strict)
        top = module_name.split(".")[0]
        if module_name in sys.modules or top == "compound" or module_name in _TYPE_MODULES \
                or top == "pydantic":
            found = getattr(importlib.import_module(module_name), name)  # security: installed
            if isinstance(found, type) or typing.get_origin(found) is not None \
                    or isinstance(found, typing._SpecialForm) or found is typing.Any \
                    or module_name in _TYPE_MODULES:
                return found
        if strict:
            raise self._unverified(f"'{module_name}.{name}' is not read")
        return typing.Any

    def _unverified(self, why: str) -> UnverifiedReference:
        return UnverifiedReference(
            f"{self.what} '{self.reference}' was not verified: {why}; compound check reads "
            "the spec folder's code without running it, and 'compound run' or 'compound up' "
            "will import it (or run 'compound check --import', which runs that code)")


def _name_of(node: ast.expr) -> str:
    """The last name of ``x``, ``a.x``, ``x(...)`` or ``x[...]``."""
    if isinstance(node, ast.Call | ast.Subscript):
        return _name_of(node.func if isinstance(node, ast.Call) else node.value)
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def _is_record_decorated(node: ast.ClassDef) -> bool:
    return any(_name_of(d) == "dataclass" for d in node.decorator_list)


def _is_static_record(cls: type) -> bool:
    import dataclasses

    return dataclasses.is_dataclass(cls)


def _tool_decorator(node: ast.FunctionDef | ast.AsyncFunctionDef, module: SourceModule
                    ) -> list[ast.keyword] | None:
    """The keywords of an ``@tool`` / ``@tool(...)`` from compound, or None."""
    for decorator in node.decorator_list:
        name = _name_of(decorator)
        if name != "tool":
            continue
        head = decorator.func if isinstance(decorator, ast.Call) else decorator
        root = head
        while isinstance(root, ast.Attribute):
            root = root.value
        binding = module.bindings.get(root.id) if isinstance(root, ast.Name) else None
        if binding is not None and binding.target.split(".")[0] == "compound":
            return list(decorator.keywords) if isinstance(decorator, ast.Call) else []
    return None


def _literal_kind(node: ast.expr) -> Any:
    """An empty value of what a non-literal display builds (a comprehension, an f-string), so
    that 'is a list, not a function' can still be told; None when it cannot be."""
    kinds: dict[type, Any] = {ast.ListComp: [], ast.List: [], ast.SetComp: set(), ast.Set: set(),
                              ast.DictComp: {}, ast.Dict: {}, ast.JoinedStr: "",
                              ast.Tuple: ()}
    return kinds.get(type(node))


__all__ = ["BadCode", "locate", "read_reference"]
