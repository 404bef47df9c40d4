"""Tools: Python functions a model may call, with a JSON schema from their type hints.

A tool's description comes from its docstring's first paragraph and each argument's from the
docstring's ``Args:`` section; the schema of its arguments from the type hints. Arguments a
model sends are validated against that schema before the function runs.

Everything that goes wrong inside a tool call is a *signal for the model*, not an exception:
invalid arguments, an exception raised by the function, a call past its time limit, a result
that cannot be written as JSON all come back as a :class:`ToolResult` whose
:meth:`~ToolResult.observation` tells the model what happened, so it can try something else.

A tool that changes the world (sends an email, charges a card) says so with
``side_effects=True``; a spec must then allow it explicitly (``side_effects: true`` under the
tool), and a resumed run never repeats a side-effecting call that completed.

Example:
    >>> @tool
    ... def add(a: int, b: int = 1) -> int:
    ...     '''Add two integers.
    ...
    ...     Args:
    ...         a: the first number.
    ...         b: the second number.
    ...     '''
    ...     return a + b
    >>> add.definition.parameters["required"]
    ['a']
    >>> add.call({"a": 2, "b": 3}).value
    5
    >>> add.call({"a": "two"}).observation()[:44]
    "error: invalid arguments for tool 'add': a: "
"""

from __future__ import annotations

import asyncio
import inspect
import re
import time
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from compound.errors import UserError
from compound.intelligence.llm.types import ToolDefinition
from compound.json_values import NotJSONError, to_json
from compound.orchestration.workers import CallTimeout, Workers

Outcome = Literal[
    "ok", "error", "timeout", "invalid_arguments", "unserialisable", "unknown_tool",
    "not_recorded", "interrupted",
]


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What a tool call produced: a JSON value, or what went wrong, for the model to read.

    ``outcome`` is ``ok``, or the kind of failure: ``invalid_arguments``, ``error`` (the
    function raised), ``timeout``, ``unserialisable`` (the result is not JSON),
    ``unknown_tool``, ``interrupted`` (a side-effecting call cut off by a crash, not
    repeated on resume) or ``not_recorded`` (replay has no recording of a side-effecting call).
    """

    tool: str
    outcome: Outcome
    value: Any = None
    error: str | None = None
    call_id: str = ""
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    def observation(self) -> str:
        """The text the model reads: the JSON result, or ``error: ...`` with what to do."""
        if self.ok:
            if isinstance(self.value, str):
                return self.value
            import json

            return json.dumps(self.value, ensure_ascii=False)
        return f"error: {self.error}"

    def to_dict(self) -> dict[str, Any]:
        return {"tool": self.tool, "outcome": self.outcome, "value": self.value,
                "error": self.error, "call_id": self.call_id, "duration_s": self.duration_s}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ToolResult:
        return cls(data["tool"], data["outcome"], data.get("value"), data.get("error"),
                   data.get("call_id", ""), data.get("duration_s", 0.0))


class ToolArgumentsError(ValueError):
    """Arguments do not match a tool's schema; the message lists each problem."""


def _is_context(name: str, annotation: Any) -> bool:
    return name == "ctx" or getattr(annotation, "__name__", None) == "RunContext"


class Tool:
    """A function offered to models, with its schema, validation and time limit.

    Args:
        function: the Python function (sync or ``async``); a parameter named ``ctx`` (or
            typed ``RunContext``) receives the run context and is not part of the schema.
        name: the name models call it by; the function's name by default.
        description: what it does; the docstring's first paragraph by default.
        side_effects: True when a call changes the world; such a tool must be allowed.
        timeout_s: the longest a call may take; None runs it inline with no limit.

    Example:
        >>> def shout(text: str) -> str:
        ...     '''Upper-case the text.'''
        ...     return text.upper()
        >>> Tool(shout).call({"text": "hi"}).observation()
        'HI'
    """

    def __init__(
        self,
        function: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        side_effects: bool = False,
        timeout_s: float | None = 30.0,
    ) -> None:
        if not callable(function):
            raise UserError(f"a tool needs a function; received {type(function).__name__}")
        self.function = function
        self.name = name or getattr(function, "__name__", type(function).__name__)
        self.side_effects = side_effects
        self.timeout_s = timeout_s
        self._description = description
        self.is_async = inspect.iscoroutinefunction(function)
        self._workers: Workers | None = None

    # -- schema -----------------------------------------------------------------------------

    @cached_property
    def _signature(self) -> tuple[list[inspect.Parameter], dict[str, Any], str | None]:
        signature = inspect.signature(self.function)
        try:
            hints = typing.get_type_hints(self.function)
        except Exception:
            hints = {}
        params, context = [], None
        for param in signature.parameters.values():
            annotation = hints.get(param.name, Any)
            if _is_context(param.name, annotation):
                context = param.name
                continue
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise UserError(
                    f"tool '{self.name}' takes *{param.name}; a tool's arguments must be named "
                    "parameters with type hints so that models get a schema"
                )
            params.append(param)
        return params, hints, context

    @cached_property
    def _model(self) -> Any:
        from pydantic import ConfigDict, Field, create_model

        params, hints, _ = self._signature
        docs = parse_docstring(inspect.getdoc(self.function) or "")[1]
        fields: dict[str, Any] = {}
        for param in params:
            default = ... if param.default is param.empty else param.default
            fields[param.name] = (hints.get(param.name, Any),
                                  Field(default, description=docs.get(param.name)))
        return create_model(  # type: ignore[call-overload, no-any-return]
            f"{self.name}_arguments", __config__=ConfigDict(extra="forbid"), **fields
        )

    @property
    def takes_context(self) -> bool:
        """Whether the function declares a ``ctx`` parameter for the run context."""
        return self._signature[2] is not None

    @property
    def description(self) -> str:
        if self._description is not None:
            return self._description
        return parse_docstring(inspect.getdoc(self.function) or "")[0] or self.name

    @cached_property
    def parameters(self) -> dict[str, Any]:
        """The JSON schema of the arguments."""
        schema: dict[str, Any] = self._model.model_json_schema()
        schema.pop("title", None)
        for prop in schema.get("properties", {}).values():
            prop.pop("title", None)
        schema.setdefault("required", [])
        return schema

    @cached_property
    def definition(self) -> ToolDefinition:
        """What a model is shown: name, description and argument schema."""
        return ToolDefinition(self.name, self.description, self.parameters)

    # -- calling ----------------------------------------------------------------------------

    def validate(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Arguments checked and converted to the declared types.

        Raises:
            ToolArgumentsError: listing every argument that is wrong.
        """
        from pydantic import ValidationError

        if not isinstance(arguments, Mapping):
            raise ToolArgumentsError(
                f"arguments must be a JSON object; received {type(arguments).__name__}")
        try:
            model = self._model.model_validate(dict(arguments))
        except ValidationError as exc:
            problems = []
            for error in exc.errors():
                where = ".".join(str(p) for p in error["loc"]) or "(arguments)"
                message = error["msg"]
                if error["type"] == "extra_forbidden":
                    message = (f"unknown argument; this tool takes "
                               f"{', '.join(self.parameters['properties']) or 'no arguments'}")
                problems.append(f"{where}: {message}")
            raise ToolArgumentsError("; ".join(problems)) from None
        return {param.name: getattr(model, param.name) for param in self._signature[0]}

    def _prepare(self, arguments: Mapping[str, Any], ctx: Any, call_id: str
                 ) -> dict[str, Any] | ToolResult:
        try:
            kwargs = self.validate(arguments)
        except ToolArgumentsError as exc:
            return ToolResult(self.name, "invalid_arguments", call_id=call_id,
                              error=f"invalid arguments for tool '{self.name}': {exc}. "
                                    f"Expected arguments: {self._expected()}")
        context = self._signature[2]
        if context is not None:
            kwargs[context] = ctx
        return kwargs

    def _expected(self) -> str:
        props = self.parameters.get("properties", {})
        return ", ".join(f"{k} ({v.get('type', 'any')})" for k, v in props.items()) or "none"

    def _finish(self, value: Any, start: float, call_id: str) -> ToolResult:
        took = time.perf_counter() - start
        try:
            data = to_json(value, where="the result")
        except NotJSONError as exc:
            return ToolResult(self.name, "unserialisable", call_id=call_id, duration_s=took,
                              error=f"tool '{self.name}' returned something that cannot be "
                                    f"shown to a model: {exc}")
        return ToolResult(self.name, "ok", data, call_id=call_id, duration_s=took)

    def _timed_out(self, timeout_s: float, took: float, call_id: str) -> ToolResult:
        """What a model is told when the tool did not answer within ``timeout_s``."""
        return ToolResult(self.name, "timeout", call_id=call_id, duration_s=took,
                          error=f"tool '{self.name}' did not answer within {timeout_s:g}s; "
                                "try different arguments or another tool")

    def _failed(self, exc: BaseException, start: float, call_id: str) -> ToolResult:
        took = time.perf_counter() - start
        if isinstance(exc, CallTimeout):
            return self._timed_out(exc.timeout_s, took, call_id)
        return ToolResult(self.name, "error", call_id=call_id, duration_s=took,
                          error=f"tool '{self.name}' failed: {type(exc).__name__}: {exc}")

    @property
    def workers(self) -> Workers:
        if self._workers is None:
            self._workers = Workers()
        return self._workers

    def call(self, arguments: Mapping[str, Any], *, ctx: Any = None, call_id: str = ""
             ) -> ToolResult:
        """Validate, run within the time limit, and report; never raises for the tool's faults."""
        prepared = self._prepare(arguments, ctx, call_id)
        if isinstance(prepared, ToolResult):
            return prepared
        start = time.perf_counter()
        try:
            if self.is_async:
                value = self.workers.call(_run_coroutine, (self.function, prepared),
                                          timeout_s=self.timeout_s or 1e9, what=self.name)
            elif self.timeout_s is None:
                value = self.function(**prepared)
            else:
                value = self.workers.call(self.function, (), prepared, timeout_s=self.timeout_s,
                                          what=self.name)
        except Exception as exc:
            return self._failed(exc, start, call_id)
        return self._finish(value, start, call_id)

    async def acall(self, arguments: Mapping[str, Any], *, ctx: Any = None, call_id: str = ""
                    ) -> ToolResult:
        """Like :meth:`call`, awaited; an ``async`` tool runs on the event loop."""
        prepared = self._prepare(arguments, ctx, call_id)
        if isinstance(prepared, ToolResult):
            return prepared
        start = time.perf_counter()
        try:
            if self.is_async:
                try:
                    value = await asyncio.wait_for(self.function(**prepared), self.timeout_s)
                except TimeoutError:
                    raise CallTimeout(self.name, self.timeout_s or 0.0) from None
            elif self.timeout_s is None:
                value = self.function(**prepared)
            else:
                value = await self.workers.acall(self.function, (), prepared,
                                                 timeout_s=self.timeout_s, what=self.name)
        except Exception as exc:
            return self._failed(exc, start, call_id)
        return self._finish(value, start, call_id)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the function directly, as if it were not a tool."""
        return self.function(*args, **kwargs)

    def __repr__(self) -> str:
        marks = ", side_effects=True" if self.side_effects else ""
        return f"Tool({self.name!r}{marks})"


class SchemaTool(Tool):
    """A tool whose arguments a JSON schema describes instead of a Python signature (an MCP
    server's tool, a benchmark's function document): a subclass gives :attr:`parameters`;
    arguments are checked against it (``jsonschema``) and passed on as they came."""

    @property
    def takes_context(self) -> bool:
        return False

    @cached_property
    def _validator(self) -> Any:
        from jsonschema.validators import validator_for

        return validator_for(self.parameters)(self.parameters)

    def validate(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Arguments checked against the schema.

        Raises:
            ToolArgumentsError: listing the problems (the first ten).
        """
        if not isinstance(arguments, Mapping):
            raise ToolArgumentsError(
                f"arguments must be a JSON object; received {type(arguments).__name__}")
        problems = [
            f"{'.'.join(str(p) for p in error.absolute_path) or '(arguments)'}: {error.message}"
            for error in sorted(self._validator.iter_errors(dict(arguments)), key=str)[:10]
        ]
        if problems:
            raise ToolArgumentsError("; ".join(problems))
        return dict(arguments)


def _run_coroutine(function: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    return asyncio.run(function(**kwargs))


def tool(
    function: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    side_effects: bool = False,
    timeout_s: float | None = 30.0,
) -> Any:
    """Make a function a :class:`Tool`: ``@tool`` or ``@tool(side_effects=True)``.

    The result is still callable like the function.

    Example:
        >>> @tool(side_effects=True)
        ... def send(to: str) -> str:
        ...     '''Send a message.'''
        ...     return f"sent to {to}"
        >>> send.side_effects, send("ana")
        (True, 'sent to ana')
    """

    def wrap(fn: Callable[..., Any]) -> Tool:
        return Tool(fn, name=name, description=description, side_effects=side_effects,
                    timeout_s=timeout_s)

    return wrap(function) if function is not None else wrap


_SECTION = re.compile(r"^(Args|Arguments|Parameters|Returns|Raises|Example|Examples|Yields"
                      r"|Note|Notes|Attributes):$")
_ARG_LINE = re.compile(r"^\s*(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """A Google-style docstring's summary paragraph and its ``Args:`` descriptions."""
    summary_lines: list[str] = []
    args: dict[str, str] = {}
    section: str | None = None
    current: str | None = None
    indent: int | None = None
    for line in doc.splitlines():
        stripped = line.strip()
        if section is None and _SECTION.match(stripped):
            section = stripped[:-1]
            continue
        if section is None:
            if not stripped and summary_lines:
                section = "_rest"
            elif stripped:
                summary_lines.append(stripped)
            continue
        if section in ("Args", "Arguments", "Parameters"):
            if not stripped:
                continue
            if _SECTION.match(stripped):
                section, current = "_rest", None
                continue
            width = len(line) - len(line.lstrip())
            match = _ARG_LINE.match(line)
            if match and (indent is None or width <= indent):
                indent = width
                current = match.group(1).lstrip("*")
                args[current] = match.group(2).strip()
            elif current is not None and indent is not None and width > indent:
                args[current] = f"{args[current]} {stripped}".strip()
            else:
                section, current = "_rest", None
        elif re.match(r"^(Args|Arguments|Parameters):$", stripped):
            section, indent, current = "Args", None, None
    return " ".join(summary_lines), args
