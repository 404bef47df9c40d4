"""Spec entries under ``workflows:``: steps, each using a component, wired by ``needs``.

Example (the part of a `compound.yaml` these models read)::

    workflows:
      answer:
        input: {question: str}
        steps:
          - name: draft
            uses: llm
            inputs: {question: input.question}
            options: {template: "Answer briefly: {question}"}
          - name: polish
            uses: llm
            inputs: {text: draft.text}
            options: {template: "Fix the grammar: {text}"}
            loop: {max_iterations: 2, until: "len(output.text) < 200"}
          - name: act
            uses: llm
            needs: [draft]
            inputs: {task: input.question}
            agent: {tools: [search], max_steps: 5}

``needs`` left out means "the previous step"; ``needs: []`` means none (the step reads only
the workflow input, and runs alongside the others).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from compound.specfile import SpecModel
from compound.workflow.type_names import TYPE_NAMES, parse_type

__all__ = ["TYPE_NAMES", "AgentSpec", "LoopSpec", "StepSpec", "WorkflowSpec", "find_cycle",
           "parse_type"]

StepName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_-]*$")]


class LoopSpec(SpecModel):
    """Repeat a step until a condition holds, at most ``max_iterations`` times."""

    max_iterations: int = Field(ge=1, description="the limit every loop must have")
    until: str | None = Field(default=None, description="expression over 'output'")

    @field_validator("until")
    @classmethod
    def _condition_parses(cls, value: str | None) -> str | None:
        if value is not None:
            _parse_condition(value, "loop.until")
        return value


class AgentSpec(SpecModel):
    """Run the step's LLM as an agent: it calls the listed tools until it answers."""

    tools: list[str] = Field(default_factory=list, description="names under 'tools:'")
    instructions: str | None = None
    max_steps: int = Field(default=10, ge=1)
    max_tokens: int | None = Field(default=None, gt=0, description="token budget")
    max_cost_usd: float | None = Field(default=None, gt=0, description="dollar budget")
    max_tokens_per_call: int | None = Field(default=None, gt=0)
    max_repeats: int | None = Field(default=3, ge=1)
    max_time_s: float | None = Field(
        default=600.0, gt=0, description="most seconds for the whole loop, model calls included")
    tool_choice: Literal["auto", "required"] = Field(
        default="auto", description="'required': call a tool before answering")


class StepSpec(SpecModel):
    """One node of a workflow."""

    name: StepName
    uses: str = Field(description="the component this step runs")
    needs: list[str] = Field(default_factory=list, description="steps that must finish first")
    inputs: dict[str, str] = Field(
        default_factory=dict, description="parameter -> 'step.field', 'step' or 'input.field'"
    )
    when: str | None = Field(default=None, description="condition on earlier outputs")
    timeout_s: float | None = Field(default=None, gt=0)
    retries: int = Field(default=0, ge=0)
    retry_delay_s: float = Field(default=0.0, ge=0)
    loop: LoopSpec | None = None
    for_each: str | None = Field(default=None, description="a list parameter to fan out over")
    concurrency: int = Field(default=1, ge=1, description="fan-out items run at once")
    agent: AgentSpec | None = None
    options: dict[str, Any] = Field(default_factory=dict)

    @property
    def needs_given(self) -> bool:
        """Whether ``needs`` was written (``[]`` included) rather than left to default."""
        return "needs" in self.model_fields_set

    @field_validator("when")
    @classmethod
    def _condition_parses(cls, value: str | None) -> str | None:
        if value is not None:
            _parse_condition(value, "when")
        return value

    @field_validator("options")
    @classmethod
    def _schema_patterns(cls, value: dict[str, Any]) -> dict[str, Any]:
        schema = value.get("json_schema")
        if isinstance(schema, dict):  # an LLM step's: its patterns must be RE2
            import jsonschema

            from compound import linear_regex

            try:
                linear_regex.check_schema(schema)
            except jsonschema.SchemaError as exc:
                raise ValueError(f"json_schema is not a valid JSON schema: {exc.message}"
                                 ) from None
            except linear_regex.PatternError as exc:
                raise ValueError(f"json_schema: {exc}") from None
        return value


class WorkflowSpec(SpecModel):
    """A typed graph of steps a request flows through."""

    steps: Annotated[list[StepSpec], Field(min_length=1)]
    input: dict[str, str] = Field(
        default_factory=dict, description=f"field -> type ({TYPE_NAMES})"
    )
    output: str | None = Field(default=None, description="the step whose output is returned")
    description: str = ""

    @field_validator("input")
    @classmethod
    def _known_types(cls, value: dict[str, str]) -> dict[str, str]:
        for name, type_name in value.items():
            parse_type(type_name, where=f"input.{name}")
        return value

    @model_validator(mode="after")
    def _unique_step_names(self) -> WorkflowSpec:
        seen: set[str] = set()
        for step in self.steps:
            if step.name in seen:
                raise ValueError(
                    f"step name '{step.name}' is used twice; step names must be unique"
                )
            seen.add(step.name)
        if self.output is not None and self.output not in seen:
            raise ValueError(f"output '{self.output}' is not a step of this workflow; "
                             f"steps: {', '.join(s.name for s in self.steps)}")
        return self

    def effective_needs(self) -> dict[str, list[str]]:
        """Each step's needs, with an unwritten ``needs`` meaning the previous step."""
        result: dict[str, list[str]] = {}
        for index, step in enumerate(self.steps):
            if step.needs_given or index == 0:
                result[step.name] = list(step.needs)
            else:
                result[step.name] = [self.steps[index - 1].name]
        return result

    def find_cycle(self) -> list[str] | None:
        """A cycle among ``needs`` as a list of step names, or None when acyclic."""
        return find_cycle({step.name: list(step.needs) for step in self.steps})


def _parse_condition(text: str, where: str) -> None:
    from compound.conditions import Condition
    from compound.errors import UserError

    try:
        Condition.parse(text, where=where)
    except UserError as exc:
        raise ValueError(str(exc)) from None


def find_cycle(needs: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A cycle in a ``step -> steps it needs`` graph, as ``[a, b, a]``; None when acyclic.

    Needs naming no step of the graph are ignored (they are reported elsewhere).

    Example:
        >>> find_cycle({"a": ["b"], "b": ["a"], "c": []})
        ['a', 'b', 'a']
    """
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        stack.append(name)
        for need in needs.get(name, ()):
            if need not in needs:
                continue
            if state.get(need) == 1:
                return [*stack[stack.index(need):], need]
            if need not in state and (found := visit(need)):
                return found
        stack.pop()
        state[name] = 2
        return None

    for name in needs:
        if name not in state and (cycle := visit(name)):
            return cycle
    return None
