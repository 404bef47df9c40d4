"""Reading YAML with positions, and turning validation errors into messages a user can act on.

PyYAML's loader forgets where each value came from. We compose the node tree ourselves so that
every key path maps to its line, which lets a pydantic error at ``("models", "llm", "provider")``
be reported as ``compound.yaml:7: models.llm.provider: ...``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from compound.errors import SpecError

Path_ = tuple[str | int, ...]


@dataclass
class PositionedYAML:
    """A parsed YAML document and the line (1-based) of every key path in it."""

    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, loc: Iterable[str | int]) -> int | None:
        """The line of the longest prefix of ``loc`` that exists in the document."""
        parts = tuple(loc)
        while True:
            if parts in self.lines:
                return self.lines[parts]
            if not parts:
                return None
            parts = parts[:-1]


def load_yaml(text: str, *, source: str) -> PositionedYAML:
    """Parse ``text`` into plain Python data, recording lines and rejecting duplicate keys."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(
            [f"{where}: not valid YAML: {problem}. Check indentation, colons and quoting there."],
            path=source,
        ) from None
    result = PositionedYAML(data=None)
    if node is None:
        return result
    problems: list[str] = []
    result.data = _convert(node, (), result.lines, problems, source)
    if problems:
        raise SpecError(problems, path=source)
    return result


def _convert(
    node: yaml.Node, path: Path_, lines: dict[Path_, int], problems: list[str], source: str
) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.SafeLoader(" ").construct_object(key_node)  # scalars only
            if not isinstance(key, str):
                key = str(key)
            if key in out:
                problems.append(
                    f"{source}:{key_node.start_mark.line + 1}: {dotted((*path, key))}: "
                    f"duplicate key '{key}' (first at line {lines[(*path, key)]}); "
                    "remove one of them"
                )
                continue
            lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = _convert(value_node, (*path, key), lines, problems, source)
            lines[(*path, key)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [
            _convert(item, (*path, index), lines, problems, source)
            for index, item in enumerate(node.value)
        ]
    return yaml.SafeLoader(" ").construct_object(node)


def dotted(loc: Iterable[str | int]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


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
