"""A workflow of the system as an eval target: each example's inputs are the workflow's input.

The workflow is built by :func:`compound.workflow.loader.build_workflow` with every LLM of the
system wrapped in a :class:`~compound.strategy.cache.llm.CachedLLM` in front of the eval's
output cache, so its model calls go through it. The answer is the output step's ``text`` (or
the output itself), or with ``output: STEP.FIELD`` one field of one step's output
(``classify.label``: the label a predictor step predicted; the row keeps that step's whole
output as its data). The passages of any retrieval step (a result with ``hits``) become the
row's contexts, for groundedness.

The rails around the workflow's runs (:func:`~compound.production.rails.steps.run_guard`: those
that guard it and that none of its steps uses) check each row as they check a served
request, so the eval scores what users get: a redacted answer is scored redacted, and a row
the rails block or escalate has an empty answer.

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

import dataclasses
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from compound.errors import UserError
from compound.evaluation.datasets import content_hash
from compound.evaluation.targets import TargetOutput, answer_of

if TYPE_CHECKING:
    from compound.evaluation.cache import OutputCache
    from compound.intelligence.llm.versions import LLMVersion
    from compound.orchestration.prompts import PromptVersion
    from compound.store import Store
    from compound.system import System


class WorkflowTarget:
    """Runs a workflow on each example.

    Args:
        workflow: a runnable :class:`compound.workflow.graph.Workflow`.
        name: how reports name it.
        fingerprint: identifies the workflow's definition (for resuming runs).
        output: ``STEP.FIELD`` (or ``STEP``, or a dotted path deeper): the part of the run
            scored, instead of the output step's text.
        guard: the rails around each run (a
            :class:`~compound.production.rails.engine.Guard`), or None.

    Raises:
        UserError: ``output`` names no step of the workflow.
    """

    def __init__(self, workflow: Any, *, name: str, fingerprint: str,
                 output: str | None = None, guard: Any = None) -> None:
        self.workflow = workflow
        self.name = name
        self.output = output
        self.guard = guard
        self._fingerprint = content_hash([fingerprint, output]) if output else fingerprint
        steps = getattr(workflow, "by_name", None)
        if output is not None and steps is not None:
            step = output.split(".")[0]
            if step not in steps:
                from compound.specfile import did_you_mean

                raise UserError(
                    f"target output '{output}': workflow '{getattr(workflow, 'name', name)}' "
                    f"has no step '{step}'{did_you_mean(step, steps)}; its steps: "
                    f"{', '.join(steps)}"
                )

    @classmethod
    def from_system(
        cls, system: System, workflow: str, *, cache: OutputCache | None,
        output: str | None = None, store: Store | None = None,
        prompts: Mapping[str, PromptVersion] | None = None,
        llms: Mapping[str, Any] | None = None,
        llm_versions: Mapping[str, LLMVersion] | None = None,
    ) -> WorkflowTarget:
        """The workflow ``workflow`` of ``system``, its LLM calls cached; its LLM steps use the
        production prompts of ``store``'s registry, or the versions ``prompts`` pins, and its
        LLMs the production adapters, or the versions ``llm_versions`` pins.

        ``llms`` gives the models by name, built and wrapped already (the prompt optimiser
        counts their calls and loads each once for all its candidates); they are used as
        they are, ``cache`` does not wrap them."""
        from compound.intelligence.llm.versions import system_llm
        from compound.production.rails.steps import run_guard
        from compound.strategy.cache.llm import CachedLLM
        from compound.strategy.cached_steps import CACHE_KEY
        from compound.workflow.adapters import PINNED_PROMPTS
        from compound.workflow.loader import build_workflow

        pinned = dict(llm_versions or {})
        shared: dict[str, Any] = {}
        for name in system.llms():
            if llms is not None and name in llms:
                shared[f"llm:{name}"] = llms[name]
                continue
            built = system_llm(system, name, store, pinned.get(name))
            shared[f"llm:{name}"] = built if cache is None else CachedLLM(built, cache)
        # the eval's own output cache keeps answers with their cost; the strategy's cache
        # would answer rows from what served requests left and count them free
        shared[CACHE_KEY] = None
        shared["store"] = store
        shared[PINNED_PROMPTS] = dict(prompts or {})
        flow = build_workflow(system, workflow, shared=shared)
        definition = system.model_dump(mode="json", exclude={"evals", "source", "criteria"})
        pins = sorted(v.ref for v in [*(prompts or {}).values(), *pinned.values()])
        return cls(flow, name=f"workflow:{workflow}",
                   fingerprint=content_hash([workflow, definition, *pins]), output=output,
                   guard=run_guard(system, workflow, shared=shared))

    def fingerprint(self) -> str:
        return self._fingerprint

    @property
    def max_concurrency(self) -> int | None:
        """1 when a step runs an in-process (embedded) model: it answers one call at a time,
        so parallel rows would only queue and the wait would count as each row's latency."""
        for step in getattr(self.workflow, "steps", ()):
            llm = getattr(step.target, "llm", None)
            if getattr(llm, "provider", None) == "embedded":
                return 1
        return None

    def load(self) -> None:
        """Warm the workflow up before the clock starts: every model, index and rail loaded
        and answering once, so that latency metrics measure requests, not loading."""
        from compound.workflow.warmup import warm_up

        if hasattr(self.workflow, "steps"):
            warm_up(self.workflow)
        if self.guard is not None:
            self.guard.load()

    def run(self, inputs: Mapping[str, Any]) -> TargetOutput:
        start = time.perf_counter()
        if self.guard is None:
            result = self.workflow.run(**dict(inputs))
            output = result.output
        else:
            from compound.production.rails.steps import guarded_run

            guarded = guarded_run(self.workflow, dict(inputs), self.guard)
            if guarded.run is None:  # stopped by the input rails: nothing was answered
                return TargetOutput(text="", latency_s=time.perf_counter() - start)
            result, output = guarded.run, guarded.output
        latency = time.perf_counter() - start
        data = getattr(output, "data", None)
        if self.output is not None:
            output, data = self._field(result.outputs)
        text, structured = answer_of(output)
        passages: list[str] = []
        prompt_tokens = completion_tokens = 0
        for step_output in result.outputs.values():
            for hit in getattr(step_output, "hits", None) or ():
                passages.append(str(getattr(hit, "text", hit)))
            prompt_tokens += int(getattr(step_output, "prompt_tokens", 0) or 0)
            completion_tokens += int(getattr(step_output, "completion_tokens", 0) or 0)
        return TargetOutput(
            text=text, data=data, contexts=tuple(passages), latency_s=latency,
            prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
            structured=structured,
        )

    def _field(self, outputs: Mapping[str, Any]) -> tuple[Any, Any]:
        """The value ``output`` names (None when its step was skipped), and the step's whole
        output as plain data."""
        assert self.output is not None
        step, *path = self.output.split(".")
        value = whole = outputs.get(step)
        for part in path:
            if value is None:
                break
            found = part in value if isinstance(value, Mapping) else hasattr(value, part)
            if not found:
                fields = plain(value)
                known = ", ".join(fields) if isinstance(fields, Mapping) else "none"
                raise UserError(
                    f"target output '{self.output}': the output of step '{step}' is a "
                    f"{type(value).__name__} with no field '{part}'; its fields: {known}"
                )
            value = value[part] if isinstance(value, Mapping) else getattr(value, part)
        return value, plain(whole)


def plain(value: Any) -> Any:
    """A step's output as JSON-like data: records as mappings (for storing with a row)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value if value is None or isinstance(value, str | int | float | bool) else str(value)
