"""Conditions written in a spec: ``when: "classify.label == 'refund'"``, ``until: ...``.

An expression may read step outputs by step name (``classify.label``, ``score.value > 0.5``),
the workflow's input as ``input``, and the current step's output as ``output`` (in
``until``). It may compare, combine with ``and``/``or``/``not``, index (``docs[0]``), test
membership (``'a' in tags``) and call ``len``. Nothing else: no other calls, no names that
start with an underscore, no imports. It is parsed once, when the workflow is built, so a
typo fails at load naming the expression, not at the first request.

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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from compound.errors import UserError

_ALLOWED = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd,
    ast.Compare, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn,
    ast.Is, ast.IsNot, ast.Name, ast.Load, ast.Attribute, ast.Subscript, ast.Constant,
    ast.List, ast.Tuple, ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Mod, ast.Call,
    ast.IfExp,
)
_FUNCTIONS = {"len": len}


def _field(value: Any, name: str) -> Any:
    """``a.b`` reads an attribute, or a key when ``a`` is a mapping (outputs held as dicts)."""
    if isinstance(value, Mapping):
        return value[name]
    return getattr(value, name)


class _Rewrite(ast.NodeTransformer):
    """Turn ``a.b`` into ``_field(a, 'b')`` so the same expression reads dicts and objects."""

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        self.generic_visit(node)
        return ast.copy_location(
            ast.Call(ast.Name("_field", ast.Load()), [node.value, ast.Constant(node.attr)], []),
            node,
        )


@dataclass(frozen=True)
class Condition:
    """A parsed expression over step outputs; call it with a mapping of name -> value."""

    source: str
    names: frozenset[str]
    _code: Any

    @classmethod
    def parse(cls, text: str, *, where: str) -> Condition:
        """Parse and check ``text``; ``where`` names the place in messages (``step 'x' when``).

        Raises:
            UserError: the expression is not valid or uses something not allowed.
        """
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError as exc:
            raise UserError(
                f"{where}: {text!r} is not a valid expression ({exc.msg}); write a comparison "
                "such as \"classify.label == 'refund'\""
            ) from None
        names: set[str] = set()
        for node in ast.walk(tree):
            if not isinstance(node, _ALLOWED):
                raise UserError(
                    f"{where}: {text!r} uses {type(node).__name__}, which conditions do not "
                    "allow; use comparisons, and/or/not, indexing and len()"
                )
            if isinstance(node, ast.Call) and not (
                isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS
            ):
                raise UserError(f"{where}: {text!r} calls a function; only len() is allowed")
            if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
                raise UserError(f"{where}: {text!r} reads '{node.attr}'; names starting with "
                                "'_' are not allowed")
            if isinstance(node, ast.Name) and node.id not in _FUNCTIONS:
                if node.id.startswith("_"):
                    raise UserError(f"{where}: {text!r} uses '{node.id}'; names starting "
                                    "with '_' are not allowed")
                names.add(node.id)
        tree = ast.fix_missing_locations(_Rewrite().visit(tree))
        return cls(text, frozenset(names), compile(tree, f"<{where}>", "eval"))

    def __call__(self, values: Mapping[str, Any]) -> Any:
        scope = {"__builtins__": {}, "_field": _field, **_FUNCTIONS}
        scope.update((name, values.get(name)) for name in self.names)
        return eval(self._code, scope)  # parsed and checked against a whitelist above


Predicate = Callable[[Mapping[str, Any]], Any]
