"""Structured-output metrics: is the answer valid JSON (for a schema), and are its fields right.

Example:
    >>> json_valid('{"name": "Ada"}', schema={"type": "object", "required": ["name"]}).value
    1.0
    >>> field_accuracy(None, '{"name": "ada", "age": 36}', {"name": "Ada", "age": 37}).value
    0.5
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from compound.datafiles import NotJSON, parse_json
from compound.errors import UserError
from compound.metrics.base import Score, metric
from compound.metrics.text import normalize_answer

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def parse_json_answer(text: str) -> Any:
    """The JSON value in ``text`` (inside a ```json fence if there is one).

    Raises:
        ValueError: the text holds no JSON value, saying where parsing stopped.
    """
    fenced = _FENCE.search(text or "")
    body = (fenced.group(1) if fenced else text or "").strip()
    try:  # parse_json: a model's output may nest too deeply or hold a huge number
        return parse_json(body)
    except NotJSON as exc:
        at = "" if exc.pos is None else f" at char {exc.pos}"
        raise ValueError(f"not JSON: {exc.msg}{at}") from None


@metric
def json_valid(prediction: str, *, schema: Mapping[str, Any] | None = None) -> Score:
    """The answer is JSON, and matches ``schema`` when one is given."""
    try:
        value = parse_json_answer(prediction)
    except ValueError as exc:
        return Score(0.0, str(exc))
    if schema is not None:
        import jsonschema

        from compound import linear_regex

        try:  # the schema's patterns run in RE2: an answer cannot make them backtrack
            linear_regex.validate(value, dict(schema))
        except linear_regex.PatternError as exc:
            raise UserError(f"json_valid's schema: {exc}") from None
        except jsonschema.SchemaError as exc:
            raise UserError(f"json_valid's schema is not a valid JSON schema: "
                            f"{exc.message}") from None
        except jsonschema.ValidationError as exc:
            where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
            return Score(0.0, f"schema mismatch at {where}: {exc.message}")
    return Score(1.0)


def _lookup(value: Any, path: str) -> tuple[bool, Any]:
    for part in path.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, Sequence) and not isinstance(value, str) and part.isdigit() \
                and int(part) < len(value):
            value = value[int(part)]
        else:
            return False, None
    return True, value


def _equal(got: Any, want: Any, number_tolerance: float) -> bool:
    if isinstance(want, bool) or isinstance(got, bool):
        return got == want
    if isinstance(want, int | float) and isinstance(got, int | float):
        return math.isclose(got, want, abs_tol=number_tolerance, rel_tol=0.0)
    if isinstance(want, str) and isinstance(got, str | int | float):
        return normalize_answer(str(got)) == normalize_answer(want)
    return bool(got == want)


def _leaf_paths(value: Mapping[str, Any], prefix: str = "") -> list[str]:
    paths = []
    for key, item in value.items():
        path = f"{prefix}{key}"
        if isinstance(item, Mapping) and item:
            paths.extend(_leaf_paths(item, path + "."))
        else:
            paths.append(path)
    return paths


@metric
def field_accuracy(
    output: Any,
    prediction: str,
    reference: Any,
    *,
    fields: Sequence[str] | None = None,
    number_tolerance: float = 0.0,
) -> Score:
    """The fraction of the reference's fields the extracted JSON has right.

    Strings are compared after normalisation, numbers within ``number_tolerance``. ``fields``
    (dotted paths) limits the comparison; by default every leaf of the reference counts.
    The reason names the fields that were wrong or missing.
    """
    try:
        want = parse_json_answer(reference) if isinstance(reference, str) else reference
    except ValueError:
        return Score(None, "the reference is not JSON")
    if not isinstance(want, Mapping):
        return Score(None, "the reference is not a JSON object")
    data = getattr(output, "data", None)
    if not isinstance(data, Mapping):
        try:
            data = parse_json_answer(prediction)
        except ValueError as exc:
            return Score(0.0, f"the answer is {exc}")
    if not isinstance(data, Mapping):
        return Score(0.0, f"the answer is a JSON {type(data).__name__}, not an object")
    paths = list(fields) if fields else _leaf_paths(want)
    wrong = []
    for path in paths:
        _, expected = _lookup(want, path)
        found, got = _lookup(data, path)
        if not found:
            wrong.append(f"{path} missing")
        elif not _equal(got, expected, number_tolerance):
            wrong.append(f"{path}={got!r} (expected {expected!r})")
    if not paths:
        return Score(None, "no fields to compare")
    return Score(1 - len(wrong) / len(paths), "; ".join(wrong))
