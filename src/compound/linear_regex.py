"""Regular expressions that come from outside compound, matched in linear time (issue 14).

A pattern written in a spec, a dataset or a request (a JSON schema's ``pattern``,
``patternProperties`` or ``format: regex``) is compiled with RE2, whose matching time grows
linearly with the text: ``(a+)+$`` against forty ``a`` and a ``b`` answers at once instead of
backtracking for hours. RE2 has no backreferences and no lookaround; a pattern using them is
refused with :class:`PatternError` when the spec loads, not when a request arrives.
Compound's own literal patterns stay on :mod:`re`.

Example:
    >>> search(r"(a+)+$", "a" * 40 + "b") is None
    True
    >>> try:
    ...     check_schema_patterns({"properties": {"id": {"pattern": r"(a)\\1"}}})
    ... except PatternError as exc:
    ...     print(str(exc)[:58])
    properties.id.pattern: '(a)\\\\1' is not RE2 syntax (invalid
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

import re2

SYNTAX_URL = "https://github.com/google/re2/wiki/Syntax"
# Keywords whose values are data, not subschemas: a "pattern" key inside them is no pattern.
_DATA_KEYWORDS = frozenset({"enum", "const", "default", "examples", "example"})


class PatternError(ValueError):
    """A pattern from outside compound is not RE2 syntax."""


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False  # RE2 would write each refused pattern to stderr
    return options


_OPTIONS = _options()


@lru_cache(maxsize=512)
def _compiled(pattern: str) -> Any:
    return re2.compile(pattern, options=_OPTIONS)


def compile_pattern(pattern: str, *, where: str = "") -> Any:
    """Compile ``pattern`` with RE2.

    Args:
        pattern: the regular expression, in RE2 syntax.
        where: the field it came from, put in front of the error.

    Raises:
        PatternError: naming the pattern, RE2's reason, and what RE2 does not support.
    """
    if not isinstance(pattern, str):
        raise PatternError(f"{where + ': ' if where else ''}expected a pattern (a string), "
                           f"received {type(pattern).__name__}")
    try:
        return _compiled(pattern)
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(
            exc.args[0], bytes) else str(exc)
        head = f"{where}: " if where else ""
        shown = pattern if len(pattern) <= 80 else pattern[:77] + "..."
        raise PatternError(
            f"{head}{shown!r} is not RE2 syntax ({reason}); patterns from a spec, a dataset or "
            f"a request use RE2 syntax ({SYNTAX_URL}), which matches in linear time and has no "
            "backreferences or lookaround: rewrite the pattern without them"
        ) from None


def search(pattern: str, text: str) -> Any:
    """``re.search`` with RE2: the match, or None."""
    return compile_pattern(pattern).search(text)


def schema_patterns(schema: Any) -> Iterator[tuple[str, str]]:
    """Every ``pattern``, ``patternProperties`` key and ``format: regex`` default in a schema.

    Yields:
        (the dotted path of the field, the pattern).
    """
    stack: list[tuple[str, Any]] = [("", schema)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, list):
            stack.extend((f"{path}[{i}]", item) for i, item in enumerate(node))
            continue
        if not isinstance(node, Mapping):
            continue
        for key, value in node.items():
            here = f"{path}.{key}" if path else str(key)
            if key == "pattern" and isinstance(value, str):
                yield here, value
            elif key == "patternProperties" and isinstance(value, Mapping):
                for pattern, sub in value.items():
                    yield f"{here}[{pattern!r}]", str(pattern)
                    stack.append((f"{here}[{pattern!r}]", sub))
            elif key not in _DATA_KEYWORDS:
                stack.append((here, value))


def check_schema_patterns(schema: Any) -> None:
    """Compile every pattern of a JSON schema with RE2.

    Raises:
        PatternError: at the first pattern RE2 refuses, naming its path in the schema.
    """
    for where, pattern in schema_patterns(schema):
        compile_pattern(pattern, where=where)


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    from jsonschema.exceptions import ValidationError

    if validator.is_type(instance, "string") and not search(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(validator: Any, patterns: Mapping[str, Any], instance: Any,
                        schema: Any) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if search(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(validator: Any, allowed: Any, instance: Any,
                           schema: Any) -> Iterator[Any]:
    from jsonschema.exceptions import ValidationError

    if not validator.is_type(instance, "object"):
        return
    properties = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    extras = [key for key in instance if key not in properties
              and not any(search(p, key) for p in patterns)]
    if validator.is_type(allowed, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], allowed, path=extra)
    elif not allowed and extras:
        if patterns:
            verb = "does" if len(extras) == 1 else "do"
            listed = ", ".join(repr(e) for e in sorted(extras))
            yield ValidationError(f"{listed} {verb} not match any of the regexes: "
                                  + ", ".join(repr(p) for p in sorted(patterns)))
        else:
            listed = ", ".join(repr(e) for e in extras)
            was = "was" if len(extras) == 1 else "were"
            yield ValidationError(f"Additional properties are not allowed ({listed} {was} "
                                  "unexpected)")


def _is_regex(instance: object) -> bool:
    if not isinstance(instance, str):
        return True
    try:
        compile_pattern(instance)
    except PatternError:
        return False
    return True


def _uses_unevaluated_with_patterns(schema: Any) -> bool:
    keys = {key for node in _nodes(schema) for key in node}
    return "unevaluatedProperties" in keys and "patternProperties" in keys


def _nodes(schema: Any) -> Iterator[Mapping[str, Any]]:
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, Mapping):
            yield node
            stack.extend(v for k, v in node.items() if k not in _DATA_KEYWORDS)


def check_schema(schema: Mapping[str, Any]) -> None:
    """Check a JSON schema from outside compound: valid for its draft, patterns in RE2.

    Raises:
        jsonschema.SchemaError: the schema is not valid for its draft.
        PatternError: a pattern is not RE2 syntax, or ``unevaluatedProperties`` is combined
            with ``patternProperties`` (jsonschema would match those with :mod:`re`).
    """
    import jsonschema

    jsonschema.validators.validator_for(schema).check_schema(schema)
    check_schema_patterns(schema)
    if _uses_unevaluated_with_patterns(schema):
        raise PatternError("a schema that uses patternProperties cannot use "
                           "unevaluatedProperties: use additionalProperties instead")


def validator(schema: Mapping[str, Any]) -> Any:
    """A jsonschema validator for ``schema`` whose patterns match with RE2.

    ``pattern``, ``patternProperties``, ``additionalProperties`` (which reads
    patternProperties) and ``format: regex`` use RE2; everything else is jsonschema's
    (other formats stay notes, as with ``jsonschema.validate``).

    Raises:
        jsonschema.SchemaError, PatternError: as :func:`check_schema`.
    """
    check_schema(schema)
    return _validator_class(schema)(dict(schema), format_checker=_FORMATS)


def validate(instance: Any, schema: Mapping[str, Any]) -> None:
    """``jsonschema.validate`` with RE2 patterns: raises the best ValidationError."""
    import jsonschema

    error = jsonschema.exceptions.best_match(validator(schema).iter_errors(instance))
    if error is not None:
        raise error


def _validator_class(schema: Mapping[str, Any]) -> Any:
    import jsonschema

    base = jsonschema.validators.validator_for(schema)
    return _extended(base)


@lru_cache(maxsize=16)
def _extended(base: Any) -> Any:
    import jsonschema

    keywords = {"pattern": _pattern, "patternProperties": _pattern_properties,
                "additionalProperties": _additional_properties}
    return jsonschema.validators.extend(
        base, validators={k: v for k, v in keywords.items() if k in base.VALIDATORS})


def _format_checker() -> Any:
    import jsonschema

    # Only "regex" is asserted: jsonschema.validate treats every other format as a note.
    checker = jsonschema.FormatChecker(formats=())
    checker.checks("regex")(_is_regex)
    return checker


_FORMATS = _format_checker()
