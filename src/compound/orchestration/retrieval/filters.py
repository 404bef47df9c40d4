"""Metadata filters: which chunks a search may return.

A filter is a mapping from a field to a condition; all conditions must hold. Fields are the
chunk's ``doc_id``, ``source``, ``title``, ``heading``, ``position`` and any metadata field of its
document (a JSONL field, Markdown front matter).

========================  ============================================================
``{"source": "a.md"}``    equal (a list-valued field matches when it contains the value)
``{"lang": ["en", "fr"]}``  any of
``{"year": {"gte": 2020}}``  comparison: ``eq``, ``ne``, ``gt``, ``gte``, ``lt``, ``lte``,
                          ``in``, ``nin``
========================  ============================================================

The same filter runs in Python over the embedded indexes and is translated for Qdrant.

Example:
    >>> f = Filter.parse({"year": {"gte": 2020}, "lang": ["en", "fr"]})
    >>> f.matches({"year": 2021, "lang": "en"}), f.matches({"year": 2019, "lang": "en"})
    (True, False)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from compound.errors import UserError
from compound.specfile import did_you_mean

OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "nin")


@dataclass(frozen=True)
class Condition:
    """One field compared with a value by an operator."""

    field: str
    op: str
    value: Any

    def matches(self, payload: Mapping[str, Any]) -> bool:
        """Whether ``payload`` satisfies the condition (a missing field never does, except
        for ``ne``/``nin``)."""
        present = self.field in payload
        actual = payload.get(self.field)
        values = actual if isinstance(actual, list) else [actual]
        if self.op == "eq":
            return present and self.value in values
        if self.op == "ne":
            return not present or self.value not in values
        if self.op == "in":
            return present and any(v in self.value for v in values)
        if self.op == "nin":
            return not present or not any(v in self.value for v in values)
        if not present or actual is None or isinstance(actual, list):
            return False
        try:
            if self.op == "gt":
                return bool(actual > self.value)
            if self.op == "gte":
                return bool(actual >= self.value)
            if self.op == "lt":
                return bool(actual < self.value)
            return bool(actual <= self.value)
        except TypeError:  # comparing a string field with a number: not a match
            return False


@dataclass(frozen=True)
class Filter:
    """A conjunction of conditions. Build it with :meth:`parse`."""

    conditions: tuple[Condition, ...] = ()

    @classmethod
    def parse(cls, spec: Filter | Mapping[str, Any] | None) -> Filter:
        """A filter from its mapping form (see the module docstring).

        Raises:
            UserError: an unknown operator, or a value of the wrong type for its operator.
        """
        if spec is None:
            return cls()
        if isinstance(spec, Filter):
            return spec
        if not isinstance(spec, Mapping):
            raise UserError(
                f"a filter must be a mapping of field to condition, like {{'source': 'a.md'}}; "
                f"received {type(spec).__name__}"
            )
        conditions = []
        for field, condition in spec.items():
            if isinstance(condition, Mapping):
                for op, value in condition.items():
                    conditions.append(_condition(str(field), str(op), value))
            elif isinstance(condition, list | tuple | set):
                conditions.append(_condition(str(field), "in", list(condition)))
            else:
                conditions.append(_condition(str(field), "eq", condition))
        return cls(tuple(conditions))

    def __bool__(self) -> bool:
        return bool(self.conditions)

    def matches(self, payload: Mapping[str, Any]) -> bool:
        """Whether every condition holds for ``payload``."""
        return all(c.matches(payload) for c in self.conditions)

    def to_qdrant(self) -> Any:
        """The equivalent ``qdrant_client.models.Filter`` (None for an empty filter)."""
        if not self.conditions:
            return None
        from qdrant_client import models

        must: list[Any] = []
        must_not: list[Any] = []
        for c in self.conditions:
            key = f"meta.{c.field}"
            if c.op in ("eq", "ne"):
                target = must if c.op == "eq" else must_not
                target.append(
                    models.FieldCondition(key=key, match=models.MatchValue(value=c.value))
                )
            elif c.op in ("in", "nin"):
                target = must if c.op == "in" else must_not
                target.append(models.FieldCondition(key=key, match=models.MatchAny(any=c.value)))
            else:
                must.append(models.FieldCondition(key=key, range=models.Range(**{c.op: c.value})))
        return models.Filter(must=must or None, must_not=must_not or None)


def _condition(field: str, op: str, value: Any) -> Condition:
    if op not in OPERATORS:
        raise UserError(
            f"filter on '{field}': unknown operator '{op}'{did_you_mean(op, OPERATORS)}; "
            f"operators: {', '.join(OPERATORS)}"
        )
    if op in ("in", "nin") and not isinstance(value, list | tuple | set):
        raise UserError(
            f"filter on '{field}': '{op}' takes a list of values; received {value!r}"
        )
    if op in ("gt", "gte", "lt", "lte") and (
        isinstance(value, bool) or not isinstance(value, int | float)
    ):
        raise UserError(f"filter on '{field}': '{op}' takes a number; received {value!r}")
    if op in ("in", "nin"):
        value = list(value)
    return Condition(field, op, value)
