"""Spec entries under ``workflows:``: steps, each using a component, wired by ``needs``."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, model_validator

from compound.specfile import SpecModel

StepName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_-]*$")]


class StepSpec(SpecModel):
    """One node of a workflow."""

    name: StepName
    uses: str = Field(description="the component this step runs")
    needs: list[str] = Field(default_factory=list, description="steps that must finish first")
    when: str | None = Field(default=None, description="condition on earlier outputs")
    timeout_s: float | None = Field(default=None, gt=0)
    retries: int = Field(default=0, ge=0)
    options: dict[str, Any] = Field(default_factory=dict)


class WorkflowSpec(SpecModel):
    """A typed graph of steps a request flows through."""

    steps: Annotated[list[StepSpec], Field(min_length=1)]
    description: str = ""

    @model_validator(mode="after")
    def _unique_step_names(self) -> WorkflowSpec:
        seen: set[str] = set()
        for step in self.steps:
            if step.name in seen:
                raise ValueError(
                    f"step name '{step.name}' is used twice; step names must be unique"
                )
            seen.add(step.name)
        return self

    def find_cycle(self) -> list[str] | None:
        """A cycle among ``needs`` as a list of step names, or None when acyclic."""
        needs = {step.name: [n for n in step.needs] for step in self.steps}
        state: dict[str, int] = {}
        stack: list[str] = []

        def visit(name: str) -> list[str] | None:
            state[name] = 1
            stack.append(name)
            for need in needs.get(name, []):
                if need not in needs:
                    continue
                if state.get(need) == 1:
                    return [*stack[stack.index(need):], need]
                if need not in state and (found := visit(need)):
                    return found
            stack.pop()
            state[name] = 2
            return None

        for step in needs:
            if step not in state and (cycle := visit(step)):
                return cycle
        return None
