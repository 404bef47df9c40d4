"""Conditions written in a spec: ``when: "classify.label == 'refund'"``, ``until: ...``.

An expression may read step outputs by step name (``classify.label``, ``score.value > 0.5``),
the workflow's input as ``input``, and the current step's output as ``output`` (in
``until``). It may compare, combine with ``and``/``or``/``not``, do arithmetic (``+ - * / %``),
index (``docs[0]``), test membership (``'a' in tags``), choose (``a if c else b``) and call
``len``. Nothing else: no other calls, no names that start with an underscore, no imports, no
lambdas, comprehensions or f-strings.
Workflow steps (``when``, ``until``) and rule routers (``strategy``) read the same language.

The expression is parsed once, when the workflow is built, so a typo fails at load naming the
expression, not at the first request. It is then evaluated by the small interpreter below,
never by Python's ``eval``: spec text can only do what this module does with it. Reading
``a.b`` gets a key of a mapping or a field of an object (a dataclass or pydantic field, an
instance attribute, a property), never a method or an interpreter internal; a ``*`` that
would build a text or list longer than :data:`MAX_ITEMS` is an error, not a memory bomb.

Example:
    >>> check = Condition.parse("score.value > 0.5 and not flag", where="when")
    >>> sorted(check.names)
    ['flag', 'score']
    >>> from types import SimpleNamespace
    >>> check({"score": SimpleNamespace(value=0.9), "flag": False})
    True
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import numbers
import operator
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from compound.errors import UserError

MAX_SOURCE = 2000  # characters in one expression
MAX_DEPTH = 40  # nesting of the parsed expression
MAX_ITEMS = 100_000  # characters or items a `*` may build

_ALLOWED = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd,
    ast.Compare, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn,
    ast.Is, ast.IsNot, ast.Name, ast.Load, ast.Attribute, ast.Subscript, ast.Constant,
    ast.List, ast.Tuple, ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Mod, ast.Call,
    ast.IfExp,
)
_CONSTANTS = (str, int, float, bool, type(None))
_FUNCTIONS: dict[str, Callable[[Any], Any]] = {"len": len}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Is: operator.is_, ast.IsNot: operator.is_not,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}
_HINT = "use comparisons, and/or/not, + - * / %, indexing, 'x if c else y' and len()"


class ConditionError(UserError):
    """An expression asked for something conditions refuse (at parse time or while running)."""


@dataclass(frozen=True)
class Condition:
    """A parsed expression over step outputs; call it with a mapping of name -> value."""

    source: str
    names: frozenset[str]
    _tree: ast.expr

    @classmethod
    def parse(cls, text: str, *, where: str) -> Condition:
        """Parse and check ``text``; ``where`` names the place in messages (``step 'x' when``).

        Raises:
            ConditionError: the expression is not valid or uses something not allowed.
        """
        shown = text if len(text) <= 120 else text[:120] + "..."
        if len(text) > MAX_SOURCE:
            raise ConditionError(f"{where}: the expression is {len(text)} characters long, above "
                                 f"the {MAX_SOURCE} a condition may hold; {shown!r}")
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError as exc:
            raise ConditionError(
                f"{where}: {shown!r} is not a valid expression ({exc.msg}); write a comparison "
                "such as \"classify.label == 'refund'\""
            ) from None
        except (ValueError, RecursionError, MemoryError):  # NUL bytes, absurd nesting
            raise ConditionError(f"{where}: {shown!r} is not a valid expression; {_HINT}"
                                 ) from None
        names = _check(tree, shown, where)
        return cls(text, frozenset(names), tree.body)

    def __call__(self, values: Mapping[str, Any]) -> Any:
        return _evaluate(self._tree, {name: values.get(name) for name in self.names})


def _check(tree: ast.Expression, shown: str, where: str) -> set[str]:
    """The names ``tree`` reads; a :class:`ConditionError` for anything not allowed."""
    names: set[str] = set()
    called: set[int] = set()
    pending: list[tuple[ast.AST, int]] = [(tree, 0)]
    while pending:  # iterative: the depth check comes before any recursion
        node, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise ConditionError(f"{where}: {shown!r} nests more than {MAX_DEPTH} levels deep; "
                                 "split it into simpler conditions")
        if not isinstance(node, _ALLOWED):
            raise ConditionError(f"{where}: {shown!r} uses {type(node).__name__}, which "
                                 f"conditions do not allow; {_HINT}")
        if isinstance(node, ast.Call):
            if not (isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS):
                raise ConditionError(f"{where}: {shown!r} calls a function; only len() is "
                                     "allowed")
            if len(node.args) != 1 or node.keywords or isinstance(node.args[0], ast.Starred):
                raise ConditionError(f"{where}: {shown!r}: len() takes exactly one value")
            called.add(id(node.func))
        elif isinstance(node, ast.Constant) and not isinstance(node.value, _CONSTANTS):
            raise ConditionError(f"{where}: {shown!r} uses a {type(node.value).__name__} "
                                 "constant; use text, numbers, True, False or None")
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            raise ConditionError(f"{where}: {shown!r} reads '{node.attr}'; names starting "
                                 "with '_' are not allowed")
        elif isinstance(node, ast.Name):
            if node.id.startswith("_"):
                raise ConditionError(f"{where}: {shown!r} uses '{node.id}'; names starting "
                                     "with '_' are not allowed")
            if node.id in _FUNCTIONS and id(node) not in called:
                raise ConditionError(f"{where}: {shown!r} uses '{node.id}' without calling "
                                     f"it; write {node.id}(value)")
            if node.id not in _FUNCTIONS:
                names.add(node.id)
        pending.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return names


def _evaluate(node: ast.expr, scope: Mapping[str, Any]) -> Any:
    """The value of a checked expression (its depth is at most :data:`MAX_DEPTH`)."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return scope[node.id]
    if isinstance(node, ast.Attribute):
        return read_field(_evaluate(node.value, scope), node.attr)
    if isinstance(node, ast.BoolOp):
        result: Any = None
        for operand in node.values:
            result = _evaluate(operand, scope)
            if (not result) if isinstance(node.op, ast.And) else result:
                return result  # short-circuit, as Python's and/or do
        return result
    if isinstance(node, ast.UnaryOp):
        value = _evaluate(node.operand, scope)
        if isinstance(node.op, ast.Not):
            return not value
        return -value if isinstance(node.op, ast.USub) else +value
    if isinstance(node, ast.Compare):
        left = _evaluate(node.left, scope)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = _evaluate(right_node, scope)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.BinOp):
        return _arithmetic(node.op, _evaluate(node.left, scope), _evaluate(node.right, scope))
    if isinstance(node, ast.Subscript):
        return _evaluate(node.value, scope)[_evaluate(node.slice, scope)]
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        return _FUNCTIONS[node.func.id](_evaluate(node.args[0], scope))
    if isinstance(node, ast.IfExp):
        chosen = node.body if _evaluate(node.test, scope) else node.orelse
        return _evaluate(chosen, scope)
    if isinstance(node, ast.List):
        return [_evaluate(item, scope) for item in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_evaluate(item, scope) for item in node.elts)
    raise ConditionError(f"conditions do not evaluate {type(node).__name__}")  # checked above


def _arithmetic(op: ast.operator, left: Any, right: Any) -> Any:
    if isinstance(op, ast.Add):
        return left + right
    if isinstance(op, ast.Sub):
        return left - right
    if isinstance(op, ast.Div):
        return left / right
    if isinstance(op, ast.Mod):  # numbers only: '%' on text is formatting ('%999999999d')
        if not (_is_number(left) and _is_number(right)):
            raise ConditionError("'%' in a condition takes two numbers; received "
                                 f"{type(left).__name__} and {type(right).__name__}")
        return left % right
    for sequence, count in ((left, right), (right, left)):
        if isinstance(sequence, str | bytes | list | tuple) and hasattr(count, "__index__"):
            size = len(sequence) * operator.index(count)
            if size > MAX_ITEMS:
                raise ConditionError(f"a '*' in a condition would build {size:,} items, above "
                                     f"the {MAX_ITEMS:,} allowed")
    return left * right


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Number) and not isinstance(value, str | bytes)


def read_field(value: Any, name: str) -> Any:
    """``a.b`` reads a key when ``a`` is a mapping (outputs held as dicts), else a field.

    A field is data the object declares (a dataclass or pydantic field, a named-tuple field,
    an instance attribute, a property); methods and interpreter internals (``gi_frame``,
    ``f_globals``) are not fields, so an expression cannot walk from a value into the program.

    Raises:
        KeyError: a mapping without that key.
        AttributeError: an object without that field.
    """
    if isinstance(value, Mapping):
        return value[name]
    if not name.startswith("_") and _is_field(value, name):
        return getattr(value, name)
    raise AttributeError(f"{type(value).__name__} has no field '{name}' (a condition reads "
                         "fields and keys, not methods)")


def _is_field(value: Any, name: str) -> bool:
    kind = type(value)
    if name in getattr(value, "__dict__", {}) or name in getattr(kind, "_fields", ()):
        return True
    if dataclasses.is_dataclass(value) and name in {f.name for f in dataclasses.fields(value)}:
        return True
    if name in (getattr(kind, "model_fields", None) or {}):  # pydantic
        return True
    try:
        static = inspect.getattr_static(kind, name)
    except AttributeError:
        return False
    if isinstance(static, property | functools.cached_property):
        return True
    if isinstance(static, types.MemberDescriptorType):  # a __slots__ entry of a Python class
        return getattr(static.__objclass__, "__module__", "builtins") != "builtins"
    return False


Predicate = Callable[[Mapping[str, Any]], Any]
