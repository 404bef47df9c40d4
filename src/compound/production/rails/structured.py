"""The output schema rail: an answer that must be JSON of a given shape is checked before a
user (or the next system) sees it.

The answer is the model's parsed JSON when the workflow has it (``RailInput.data``), else
its text parsed as JSON (a Markdown code fence around it is allowed). The reason names the
first problem by its path in the answer, e.g. ``$.items[2].price: 'ten' is not of type
'number'``.

Example:
    >>> rail = SchemaRail(schema={"type": "object", "required": ["answer"],
    ...                           "properties": {"answer": {"type": "string"}}})
    >>> rail.run('{"answer": "Paris"}').action
    'allow'
    >>> rail.run('{"reply": "Paris"}').reason
    "does not match the schema: $: 'answer' is a required property"
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from compound.errors import UserError
from compound.production.rails.base import BaseRail, RailRequest
from compound.production.rails.verdict import RailInput, Verdict

if TYPE_CHECKING:
    from compound.workflow.context import RunContext

_FENCE = re.compile(r"^\s*```(?:json)?\s*\n?(.*?)\n?```\s*$", re.DOTALL)


class SchemaRail(BaseRail):
    """Checks that answers are JSON matching a JSON schema.

    Args:
        schema: the JSON schema (any draft ``jsonschema`` knows; 2020-12 by default).
        max_chars: longer answers fire the rail without being parsed.
        **common: name, stages, action, timeout_s, on_error (see :class:`BaseRail`).
    """

    type = "schema"
    default_stages = ("output",)

    def __init__(self, *, schema: Mapping[str, Any], max_chars: int = 1_000_000,
                 **common: Any) -> None:
        super().__init__(**common)
        self.schema = dict(schema)
        self.max_chars = max_chars
        self.validator_: Any = None

    def load(self) -> None:
        if self.validator_ is not None:
            return
        import jsonschema

        from compound import linear_regex

        try:  # its patterns run in RE2: an answer cannot make them backtrack
            self.validator_ = linear_regex.validator(self.schema)
        except jsonschema.SchemaError as exc:
            raise UserError(f"rail '{self.name}': the schema is not a valid JSON schema: "
                            f"{exc.message}") from None
        except linear_regex.PatternError as exc:
            raise UserError(f"rail '{self.name}': {exc}") from None

    def check(self, subject: RailInput, ctx: RunContext | None = None) -> Verdict:
        self.load()
        data = subject.data
        if data is None:
            if len(subject.text) > self.max_chars:
                return self.fire(subject, f"answer of {len(subject.text):,} characters is "
                                          f"longer than the {self.max_chars:,} allowed")
            text = subject.text
            fenced = _FENCE.match(text)
            if fenced:
                text = fenced.group(1)
            try:
                data = json.loads(text)
            except (ValueError, RecursionError) as exc:  # RecursionError: nested too deeply
                return self.fire(subject, f"not JSON ({exc})")
        errors = sorted(self.validator_.iter_errors(data), key=lambda e: list(e.absolute_path))
        if not errors:
            return self.allow(subject, "matches the schema")
        first = errors[0]
        where = first.json_path
        return self.fire(subject, f"does not match the schema: {where}: {first.message}",
                         details={"errors": [f"{e.json_path}: {e.message}"
                                             for e in errors[:10]],
                                  "count": len(errors)})

    @classmethod
    def from_spec(cls, request: RailRequest) -> SchemaRail:
        assert request.spec.json_schema is not None  # the spec requires it for this type
        return cls(**request.common(), schema=request.spec.json_schema,
                   **request.spec.options)
