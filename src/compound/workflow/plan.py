"""What a built workflow is to the engine: its steps with their wiring resolved, in levels.

:class:`~compound.workflow.graph.Workflow` builds a plan (checking the wiring) and
:class:`~compound.workflow.engine.Engine` runs one. The engine reads a workflow only through
:class:`Plan`, so it never imports the graph module, which imports it to run.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from compound.workflow.step import Step


@dataclass(frozen=True)
class Arg:
    """Where one parameter's value comes from at run time."""

    param: str
    source: str | None  # a step name, "input", or None for the default
    path: tuple[str, ...] = ()
    default: Any = None
    accepts_none: bool = False


@dataclass
class Node:
    """A step with its wiring resolved: what the engine runs."""

    step: Step
    index: int
    needs: tuple[str, ...]
    args: tuple[Arg, ...] = ()
    level: int = 0
    output_type: Any = Any
    dependants: list[str] = field(default_factory=list)
    # a plain step (no context, retries, loop, fan-out or side effects) gets its span built
    # after the run from the engine's record of it, so it costs the request path nothing
    span_after: bool = False

    @property
    def name(self) -> str:
        return self.step.name


class Plan(Protocol):
    """What the engine needs of a workflow (:class:`~compound.workflow.graph.Workflow`)."""

    name: str
    source: dict[str, Any] | None  # how to rebuild it, written into the run's record
    levels: list[list[Node]]  # steps in a level depend on none of each other
    output_step: str

    def executor(self) -> ThreadPoolExecutor:
        """The threads the steps of one level run on (in a sync run)."""
        ...
