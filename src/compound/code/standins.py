"""Stand-ins for the spec folder's code, built from its source text without running it.

`compound check` builds every workflow to check its wiring: which parameters each step takes,
their types, and the type it returns. For a function in the spec's folder it reads those from
the ``def`` (:mod:`compound.code.reading`) and builds a *stand-in*: a function with the same
name, signature, annotations and docstring that raises if it is ever called. A class becomes a
class with the same methods (stand-ins too); a dataclass, pydantic model, TypedDict or
NamedTuple a dataclass with the same fields, so that ``output: classify.label`` and
``{draft.text}`` are checked against its fields.

Example:
    >>> import ast, inspect
    >>> node = ast.parse("def answer(question: str, k: int = 3) -> str: ...").body[0]
    >>> types_by_name = {"str": str, "int": int}
    >>> fn = function_stand_in(node, module="desk", type_of=lambda n: types_by_name[n.id])
    >>> print(inspect.signature(fn), fn.__module__)
    (question: str, k: int = 3) -> str desk
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import types
from collections.abc import Callable
from typing import Any

TypeOf = Callable[[ast.expr], Any]
STATIC = "__compound_static__"  # marks a stand-in: its code was read, not imported


class NotRunnable(RuntimeError):
    """A stand-in was called: compound check read its code and never runs it."""


def _not_run(*args: Any, **kwargs: Any) -> Any:
    raise NotRunnable("compound check read this code without running it; "
                      "'compound run' imports the real function")


async def _not_run_async(*args: Any, **kwargs: Any) -> Any:
    raise NotRunnable("compound check read this code without running it; "
                      "'compound run' imports the real function")


def literal(node: ast.expr) -> Any:
    """The value of a literal expression (``3``, ``'a'``, ``[1, 2]``); never evaluates code.

    Raises:
        ValueError: ``node`` is not a literal.
    """
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise ValueError("not a literal") from None


def function_stand_in(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda, *,
                      module: str, type_of: TypeOf, name: str | None = None,
                      qualname: str | None = None) -> types.FunctionType:
    """A function with ``node``'s signature and annotations that raises when called."""
    is_async = isinstance(node, ast.AsyncFunctionDef)
    template = _not_run_async if is_async else _not_run
    shown = name or getattr(node, "name", "<lambda>")
    fn = types.FunctionType(template.__code__, {}, shown)
    fn.__qualname__ = qualname or shown
    fn.__module__ = module
    fn.__doc__ = None if isinstance(node, ast.Lambda) else ast.get_docstring(node)
    returns = None if isinstance(node, ast.Lambda) else node.returns
    signature, annotations = signature_of(node.args, returns, type_of)
    fn.__signature__ = signature  # type: ignore[attr-defined]
    fn.__annotations__ = annotations
    fn.__kwdefaults__ = None
    setattr(fn, STATIC, True)
    return fn


def signature_of(args: ast.arguments, returns: ast.expr | None, type_of: TypeOf
                 ) -> tuple[inspect.Signature, dict[str, Any]]:
    """The signature (and annotations) an ``ast.arguments`` declares.

    Raises:
        ValueError: the parameters are not a valid signature (a duplicate name).
    """
    P = inspect.Parameter
    positional = [(a, P.POSITIONAL_ONLY) for a in args.posonlyargs]
    positional += [(a, P.POSITIONAL_OR_KEYWORD) for a in args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
    defaults += list(args.defaults)
    entries: list[tuple[ast.arg, Any, ast.expr | None]] = [
        (arg, kind, default) for (arg, kind), default in zip(positional, defaults, strict=True)]
    if args.vararg is not None:
        entries.append((args.vararg, P.VAR_POSITIONAL, None))
    entries += [(a, P.KEYWORD_ONLY, d) for a, d in zip(args.kwonlyargs, args.kw_defaults,
                                                        strict=True)]
    if args.kwarg is not None:
        entries.append((args.kwarg, P.VAR_KEYWORD, None))
    params, annotations = [], {}
    for arg, kind, default in entries:
        annotation = type_of(arg.annotation) if arg.annotation is not None else P.empty
        if arg.annotation is not None:
            annotations[arg.arg] = annotation
        params.append(P(arg.arg, kind, annotation=annotation,
                        default=P.empty if default is None else default_of(default)))
    returned = inspect.Signature.empty
    if returns is not None:
        returned = annotations["return"] = type_of(returns)
    return inspect.Signature(params, return_annotation=returned), annotations


def default_of(node: ast.expr) -> Any:
    """A parameter's default: its value when it is a literal, else None (it has one)."""
    try:
        return literal(node)
    except ValueError:
        return None


def without_first(fn: types.FunctionType) -> types.FunctionType:
    """``fn`` with its first parameter dropped (a classmethod's ``cls``)."""
    signature: inspect.Signature = fn.__signature__  # type: ignore[attr-defined]
    params = list(signature.parameters.values())[1:]
    fn.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    return fn


def record_stand_in(name: str, *, module: str, fields: list[tuple[str, Any, bool]],
                    bases: tuple[type, ...], namespace: dict[str, Any], doc: str | None) -> type:
    """A dataclass standing in for a record type (dataclass, pydantic model, TypedDict...).

    Args:
        fields: ``(name, type, has_default)`` in declaration order.
    """
    spec = [(field, tp, dataclasses.field(default=None)) for field, tp, _ in fields]
    cls = dataclasses.make_dataclass(name, spec, bases=bases, namespace=namespace)
    cls.__module__ = module
    cls.__doc__ = doc
    P = inspect.Parameter
    all_fields = {f.name: f for f in dataclasses.fields(cls)}
    declared = {field: has_default for field, _, has_default in fields}
    params = [P(f, P.POSITIONAL_OR_KEYWORD, annotation=all_fields[f].type,
                default=None if declared.get(f, True) else P.empty)
              for f in all_fields]
    params.sort(key=lambda p: p.default is not P.empty)  # required ones first, as Python does
    cls.__signature__ = inspect.Signature(params, return_annotation=None)  # type: ignore[attr-defined]
    setattr(cls, STATIC, True)
    return cls


def class_stand_in(name: str, *, module: str, bases: tuple[type, ...],
                   namespace: dict[str, Any], doc: str | None) -> type:
    """A plain class standing in for one of the folder's classes (its methods stand-ins)."""
    cls = type(name, bases, {**namespace, "__module__": module, "__doc__": doc})
    init = namespace.get("__init__")
    if isinstance(init, types.FunctionType):
        signature: inspect.Signature = init.__signature__  # type: ignore[attr-defined]
        params = list(signature.parameters.values())[1:]
        cls.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=params, return_annotation=inspect.Signature.empty)
    setattr(cls, STATIC, True)
    return cls
