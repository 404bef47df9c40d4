"""Turning validation errors on a YAML document into messages a user can act on.

:mod:`compound.yaml_loader` reads the YAML and records the line of every key path, which lets
a pydantic error at ``("models", "llm", "provider")`` be reported as
``compound.yaml:7: models.llm.provider: ...``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from compound.yaml_loader import Path_, PositionedYAML, YAMLLimits, dotted, load_yaml

__all__ = ["Path_", "PositionedYAML", "SpecModel", "YAMLLimits", "did_you_mean", "dotted",
           "format_validation_errors", "load_yaml"]


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` when a close match exists, else an empty string."""
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{matches[0]}'?)" if matches else ""


def format_validation_errors(
    errors: Iterable[Mapping[str, Any]], doc: PositionedYAML, *, source: str
) -> list[str]:
    """Render pydantic error dicts as ``file:line: field: problem; received ...`` lines."""
    problems = []
    for error in errors:
        loc = _clean_loc(tuple(error["loc"]), doc)
        line = doc.line_of(loc)
        where = f"{source}:{line}" if line else source
        message = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if error["type"] == "missing" and loc:
            message = f"required key '{loc[-1]}' is missing"
        received = error.get("input")
        detail = ""
        if error["type"] not in _NO_RECEIVED and isinstance(received, str | int | float | bool):
            detail = f"; received {received!r}"
        problems.append(f"{where}: {dotted(loc)}: {message}{detail}")
    return problems


_NO_RECEIVED = {"missing", "unknown_key", "value_error", "assertion_error", "reference"}


def _clean_loc(loc: Path_, doc: PositionedYAML) -> Path_:
    """Drop the parts pydantic inserts that are not keys of the document (union tags).

    Every part but the last must exist in the document (only the last can be missing).
    """
    path: Path_ = ()
    for index, part in enumerate(loc):
        if index < len(loc) - 1 and (*path, part) not in doc.lines:
            continue
        path = (*path, part)
    return path


class SpecModel(BaseModel):
    """Base of every model in a `compound.yaml`: unknown keys are errors with a did-you-mean."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="wrap")
    @classmethod
    def _suggest_known_keys(cls, data: Any, handler: Any) -> Any:
        try:
            return handler(data)
        except ValidationError as exc:
            known = [*cls.model_fields] + [
                info.alias for info in cls.model_fields.values() if info.alias
            ]
            details: list[Any] = []
            for error in exc.errors():
                if error["type"] == "extra_forbidden" and len(error["loc"]) == 1:
                    key = str(error["loc"][0])
                    details.append(
                        {
                            "type": PydanticCustomError(
                                "unknown_key",
                                "unknown key '{key}'{hint}; allowed keys here: {allowed}",
                                {
                                    "key": key,
                                    "hint": did_you_mean(key, known),
                                    "allowed": ", ".join(sorted(known)),
                                },
                            ),
                            "loc": error["loc"],
                            "input": error["input"],
                        }
                    )
                else:
                    details.append(_as_init_details(error))
            raise ValidationError.from_exception_data(exc.title, details) from None


def _as_init_details(error: Any) -> Any:
    """Carry an already-rendered error through re-raising, keeping its type and message."""
    message = error["msg"].replace("{", "{{").replace("}", "}}")
    return {
        "type": PydanticCustomError(error["type"], message),
        "loc": error["loc"],
        "input": error["input"],
    }
