"""The spec folder's Python modules as :mod:`compound.code.reading` sees them: found on disk,
parsed, and indexed by the names their top level binds, without running a line of them.

Example:
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = Path(folder) / "desk.py"
    ...     _ = path.write_text("import os\\nos.system('x')\\ndef answer(): ...\\nTOP = 3\\n")
    ...     module = parse_module("desk", path)
    >>> sorted(module.bindings), module.public
    (['TOP', 'answer', 'os'], ['answer'])
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path

from compound.code.guard import ReadOnlyCode
from compound.code.standins import literal

MAX_MODULE_BYTES = 2_000_000
_DYNAMIC_CALLS = {"globals", "setattr", "exec"}


class Unparsable(Exception):
    """A module that an import would fail to compile: where, and what."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem


class TooLarge(Exception):
    """A module past :data:`MAX_MODULE_BYTES`: not read."""

    def __init__(self, size: int) -> None:
        super().__init__(f"{size:,} bytes")
        self.size = size


@dataclass
class Binding:
    """What a top-level name is bound to: ``kind`` is def, class, value, import, from or
    unknown."""

    kind: str
    node: ast.AST
    target: str = ""  # the module an import names
    level: int = 0
    name: str = ""  # the name a from-import takes


@dataclass
class SourceModule:
    """One parsed module of the spec's folder."""

    name: str
    file: Path
    tree: ast.Module
    is_package: bool
    bindings: dict[str, Binding] = field(default_factory=dict)
    dynamic: bool = False  # names may be created at run time (globals(), __getattr__, *)

    @property
    def public(self) -> list[str]:
        """Its ``__all__`` when a literal, else what it defines (not what it imports)."""
        names = self.bindings.get("__all__")
        if names is not None and names.kind == "value" and isinstance(names.node, ast.expr):
            try:
                exported = literal(names.node)
            except ValueError:
                exported = None
            if isinstance(exported, list | tuple):
                return sorted(str(n) for n in exported)
        return sorted(n for n, b in self.bindings.items()
                      if not n.startswith("_") and (b.kind in ("def", "class") or (
                          b.kind == "value" and isinstance(b.node, ast.Lambda))))

    def package(self) -> str:
        return self.name if self.is_package else self.name.rpartition(".")[0]


def locate(reading: ReadOnlyCode, module_name: str) -> str | Path:
    """Where ``module_name`` comes from: ``"external"`` (installed, imported as at run time),
    the folder's file for it, or ``"missing"``."""
    top = module_name.split(".")[0]
    loaded = sys.modules.get(top)
    if loaded is not None:
        file = getattr(loaded, "__file__", None)
        if not file or not reading.is_spec_code(file):
            return "external"
    else:
        try:
            spec = importlib.util.find_spec(top)  # spec folders are off sys.path: not found
        except (ImportError, ValueError):
            spec = None
        origin = spec.origin if spec is not None else None
        if spec is not None and not (origin and reading.is_spec_code(origin)):
            return "external"
    found = local_file(reading.folder, module_name.split("."))
    return found if found is not None else "missing"


def local_file(folder: Path, parts: list[str]) -> Path | None:
    path = folder
    for index, part in enumerate(parts):
        package = path / part
        if index < len(parts) - 1:
            if not package.is_dir():
                return None
            path = package
            continue
        if (package / "__init__.py").is_file():
            return package / "__init__.py"
        if (path / f"{part}.py").is_file():
            return path / f"{part}.py"
        if package.is_dir():
            return package  # a namespace package: no code of its own
    return None


def parse_module(name: str, file: Path) -> SourceModule:
    """``file`` parsed (and compiled, which runs nothing) and indexed as module ``name``.

    Raises:
        Unparsable: a syntax error an import would meet, at its file and line.
        TooLarge: the file is larger than :data:`MAX_MODULE_BYTES`.
    """
    shown_file = shown(file)
    size = file.stat().st_size
    if size > MAX_MODULE_BYTES:
        raise TooLarge(size)
    source = file.read_bytes()
    try:
        tree = ast.parse(source, filename=str(file))
        # security: compiled to bytecode, never executed, to find the syntax errors only the
        # compiler reports ('return' outside a function); the code object is dropped
        compile(tree, str(file), "exec", dont_inherit=True)
    except SyntaxError as exc:
        line = f":{exc.lineno}" if exc.lineno else ""
        raise Unparsable(f"{shown_file}{line}", f"SyntaxError: {exc.msg}") from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise Unparsable(shown_file, f"{type(exc).__name__}: {exc}") from None
    module = SourceModule(name, file, tree, file.name == "__init__.py")
    _bind(module, tree.body)
    module.dynamic = module.dynamic or "__getattr__" in module.bindings or any(
        isinstance(n, ast.Name) and n.id in _DYNAMIC_CALLS for n in ast.walk(tree))
    return module


def _bind(module: SourceModule, body: list[ast.stmt]) -> None:
    """Record the names a module body binds (inside top-level if/try/with too)."""
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            module.bindings[node.name] = Binding("def", node)
        elif isinstance(node, ast.ClassDef):
            module.bindings[node.name] = Binding("class", node)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    module.bindings[target.id] = Binding("value", node.value)
                else:
                    for name in _names_in(target):
                        module.bindings[name] = Binding("unknown", node)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if node.value is not None:
                module.bindings[node.target.id] = Binding("value", node.value)
        elif isinstance(node, ast.AugAssign | ast.For | ast.AsyncFor | ast.With
                        | ast.AsyncWith):
            for name in _names_in(getattr(node, "target", None)):
                module.bindings[name] = Binding("unknown", node)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    module.bindings[alias.asname] = Binding("import", node, alias.name)
                else:
                    top = alias.name.split(".")[0]
                    module.bindings[top] = Binding("import", node, top)
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name == "*":
                    module.dynamic = True
                    continue
                module.bindings[alias.asname or alias.name] = Binding(
                    "from", node, node.module or "", node.level, alias.name)
        for inner in _blocks(node):
            _bind(module, inner)


def _blocks(node: ast.stmt) -> list[list[ast.stmt]]:
    """The statement lists inside a top-level if/while/for/with/try (bound when it runs)."""
    if isinstance(node, ast.Try | ast.TryStar):
        return [node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)]
    if isinstance(node, ast.If | ast.While | ast.For | ast.AsyncFor):
        return [node.body, node.orelse]
    if isinstance(node, ast.With | ast.AsyncWith):
        return [node.body]
    return []


def _names_in(target: ast.AST | None) -> list[str]:
    if target is None:
        return []
    return [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]


def imports_of(node: ast.stmt, module: SourceModule) -> list[tuple[str, int]]:
    """The modules an unconditional top-level import statement needs, with its line."""
    if isinstance(node, ast.Import):
        return [(alias.name, node.lineno) for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.module != "__future__":
        if node.level == 0:
            return [(node.module or "", node.lineno)]
        base = module.package().split(".") if module.package() else []
        base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
        target = ".".join([*base, node.module] if node.module else base)
        return [(target, node.lineno)] if target else []
    return []


def shown(path: Path) -> str:
    """A path relative to the working directory when it is under it."""
    resolved = path.resolve()
    try:
        return str(resolved.relative_to(Path.cwd()))
    except ValueError:
        return str(resolved)
