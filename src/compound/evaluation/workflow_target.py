"""A workflow of the system as an eval target: each example's inputs are the workflow's input.

The workflow is built by :func:`compound.workflow.loader.build_workflow` with every LLM of the
system wrapped in a :class:`~compound.evaluation.cache.CachedLLM`, so its model calls go
through the eval's output cache. The answer is the output step's ``text`` (or the output
itself); the passages of any retrieval step (a result with ``hits``) become the row's contexts,
for groundedness.

Example:
    >>> from compound.system import System
    >>> system = System.from_yaml('''
    ... name: demo
    ... loop: interaction
    ... task: Echo.
    ... models:
    ...   llm: {kind: llm, provider: scripted, options: {replies: ["Hello, Ada."]}}
    ... workflows:
    ...   greet:
    ...     input: {name: str}
    ...     steps:
    ...       - {name: hello, uses: llm, options: {template: "Greet {name}."}}
    ... ''')
    >>> WorkflowTarget.from_system(system, "greet", cache=None).run({"name": "Ada"}).text
    'Hello, Ada.'
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from compound.evaluation.datasets import content_hash
from compound.evaluation.targets import TargetOutput, as_text

if TYPE_CHECKING:
    from compound.evaluation.cache import OutputCache
    from compound.system import System


class WorkflowTarget:
    """Runs a workflow on each example.

    Args:
        workflow: a runnable :class:`compound.workflow.graph.Workflow`.
        name: how reports name it.
        fingerprint: identifies the workflow's definition (for resuming runs).
    """

    def __init__(self, workflow: Any, *, name: str, fingerprint: str) -> None:
        self.workflow = workflow
        self.name = name
        self._fingerprint = fingerprint

    @classmethod
    def from_system(
        cls, system: System, workflow: str, *, cache: OutputCache | None
    ) -> WorkflowTarget:
        """The workflow ``workflow`` of ``system``, its LLM calls cached."""
        from compound.evaluation.cache import CachedLLM
        from compound.intelligence.llm import build_llm
        from compound.workflow.loader import build_workflow

        shared: dict[str, Any] = {
            f"llm:{name}": CachedLLM(build_llm(spec), cache)
            for name, spec in system.llms().items()
        }
        flow = build_workflow(system, workflow, shared=shared)
        definition = system.model_dump(mode="json", exclude={"evals", "source", "criteria"})
        return cls(flow, name=f"workflow:{workflow}",
                   fingerprint=content_hash([workflow, definition]))

    def fingerprint(self) -> str:
        return self._fingerprint

    def load(self) -> None:
        """Warm the workflow up before the clock starts: every model, index and rail loaded
        and answering once, so that latency metrics measure requests, not loading."""
        from compound.workflow.warmup import warm_up

        if hasattr(self.workflow, "steps"):
            warm_up(self.workflow)

    def run(self, inputs: Mapping[str, Any]) -> TargetOutput:
        start = time.perf_counter()
        result = self.workflow.run(**dict(inputs))
        latency = time.perf_counter() - start
        output = result.output
        text = getattr(output, "text", None)
        passages: list[str] = []
        prompt_tokens = completion_tokens = 0
        for step_output in result.outputs.values():
            for hit in getattr(step_output, "hits", None) or ():
                passages.append(str(getattr(hit, "text", hit)))
            prompt_tokens += int(getattr(step_output, "prompt_tokens", 0) or 0)
            completion_tokens += int(getattr(step_output, "completion_tokens", 0) or 0)
        return TargetOutput(
            text=text if isinstance(text, str) else as_text(output),
            data=getattr(output, "data", None), contexts=tuple(passages), latency_s=latency,
            prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
        )
