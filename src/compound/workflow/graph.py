"""The step graph: steps wired by typed handoffs, checked when the workflow is built.

Building a :class:`Workflow` checks everything that can be checked without running it: step
names are unique, every ``needs`` names a step, the steps form no cycle (repetition is a
step's :class:`~compound.workflow.step.Loop`, which has a limit), every parameter of every
step has a source, and the type of each source fits the parameter. A mis-wired workflow fails
here, naming both steps and the field, instead of at the first request.

How a parameter finds its source, in order:

1. ``inputs={"param": "step.field"}`` (or ``"step"``, ``"input.field"``, ``"input"``);
2. a step it needs that is *named* like the parameter: that step's whole output;
3. a field of the same name in the output of a step it needs;
4. a field of the same name in the workflow's input;
5. for a single remaining parameter and a single needed step: that step's whole output
   (so ``clean(doc: Doc) -> Doc`` chains without naming anything); for a step that needs
   nothing, the whole workflow input;
6. the parameter's default.

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Question:
    ...     text: str
    >>> @dataclass
    ... class Answer:
    ...     text: str
    ...     words: int
    >>> def answer(text: str) -> Answer:
    ...     return Answer(text.upper(), len(text.split()))
    >>> def check(words: int) -> bool:
    ...     return words < 10
    >>> flow = Workflow([answer, check], input=Question)
    >>> flow.run(Question("is it on?")).output
    True
    >>> def shout(words: str) -> str:
    ...     return words
    >>> Workflow([answer, shout], input=Question)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    compound.workflow.graph.WiringError: workflow 'workflow' is mis-wired (1 problem):
      - step 'shout' parameter 'words: str' receives 'answer.words' (int); the types ...
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from compound.conditions import Condition
from compound.errors import UserError
from compound.specfile import did_you_mean
from compound.type_fit import allows_none, assignable, describe, fields_of, item_type
from compound.workflow.engine import Engine, RunResult
from compound.workflow.plan import Arg, Node
from compound.workflow.spec import find_cycle
from compound.workflow.step import Step, Subflow

if TYPE_CHECKING:
    from compound.workflow.context import RunContext

INPUT = "input"


class WiringError(UserError):
    """A workflow's steps do not fit together; one line per problem."""

    def __init__(self, workflow: str, problems: list[str], *, source: str | None = None
                 ) -> None:
        self.problems = problems
        count = f"{len(problems)} problems" if len(problems) > 1 else "1 problem"
        where = f"{source}: " if source else ""
        super().__init__(f"{where}workflow '{workflow}' is mis-wired ({count}):\n" + "\n".join(
            f"  - {p}" for p in problems))


class Workflow(Subflow):
    """A typed graph of steps a request flows through.

    Args:
        steps: the steps, as :class:`Step` objects or plain functions/components.
        name: the workflow's name (in traces and the store).
        input: the type of the workflow's input (a dataclass or pydantic model), or None
            for an untyped input (a dict or object whose fields the steps read by name).
        output: the step whose output is the workflow's output; the last step by default.
        max_parallel: how many independent steps run at once in :meth:`run` (threads);
            :meth:`arun` runs them concurrently on the event loop.

    Raises:
        WiringError: the steps do not fit together (see the module docstring).
    """

    # one lock for every workflow (pools are made once each, rarely): a lock on each
    # instance would make a workflow that never ran impossible to copy
    _making_executor = threading.Lock()

    def __init__(
        self,
        steps: Sequence[Step | Callable[..., Any] | Any],
        *,
        name: str = "workflow",
        input: Any = None,
        output: str | None = None,
        description: str = "",
        max_parallel: int = 8,
    ) -> None:
        if not steps:
            raise UserError(f"workflow '{name}' has no steps; give it at least one")
        self.name = name
        self.steps = [s if isinstance(s, Step) else Step(s) for s in steps]
        self.input_type = input
        self.description = description
        self.max_parallel = max_parallel
        self.source: dict[str, Any] | None = None  # how to rebuild it (set by loaders)
        self._executor: ThreadPoolExecutor | None = None
        self.nodes, self.levels, self.output_step = _build(self, output)
        self.by_name = {node.name: node for node in self.nodes}

    @property
    def output_type(self) -> Any:
        return self.by_name[self.output_step].output_type

    def input_fields(self) -> dict[str, Any]:
        """Fields of the input type (the parameters of this workflow used as a step)."""
        return dict(fields_of(self.input_type) or {})

    def executor(self) -> ThreadPoolExecutor:
        """The threads independent steps run on in :meth:`run` (``max_parallel`` of them),
        made on first use and shared by this workflow's runs."""
        if self._executor is None:
            with Workflow._making_executor:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(self.max_parallel,
                                                        thread_name_prefix="compound-step")
        return self._executor

    # -- running ----------------------------------------------------------------------------

    def run(self, input: Any = None, *, ctx: RunContext | None = None, **fields: Any
            ) -> RunResult:
        """Run the workflow to the end and return its :class:`RunResult`.

        Args:
            input: the workflow's input (an instance of its input type, or a dict).
            ctx: dependencies for the steps; a fresh :class:`RunContext` by default. With a
                store, the run is checkpointed after each step; with a tracer, traced.
            fields: shorthand for an input built from keyword arguments.
        """
        return Engine(self).run(self._input(input, fields), ctx)

    async def arun(self, input: Any = None, *, ctx: RunContext | None = None, **fields: Any
                   ) -> RunResult:
        """:meth:`run` on the event loop; independent steps run concurrently."""
        return await Engine(self).arun(self._input(input, fields), ctx)

    def _input(self, value: Any, fields: dict[str, Any]) -> Any:
        if fields:
            if value is not None:
                raise UserError("pass the input either positionally or as keywords, not both")
            value = fields
        if isinstance(value, Mapping) and self.input_type is not None and isinstance(
            self.input_type, type) and not issubclass(self.input_type, Mapping):
            from compound.json_values import from_json

            try:
                return from_json(dict(value), self.input_type)
            except Exception as exc:
                raise UserError(
                    f"workflow '{self.name}': the input does not fit "
                    f"{describe(self.input_type)}: {exc}"
                ) from None
        return value

    def _run_as_step(self, ctx: RunContext | None = None, **fields: Any) -> Any:
        return Engine(self).run_nested(self._input(None, fields) if fields else None, ctx)

    async def _arun_as_step(self, ctx: RunContext | None = None, **fields: Any) -> Any:
        return await Engine(self).arun_nested(self._input(None, fields) if fields else None,
                                              ctx)

    def __repr__(self) -> str:
        return f"Workflow({self.name!r}, steps={[s.name for s in self.steps]})"


# -- building ---------------------------------------------------------------------------------


def _build(flow: Workflow, output: str | None) -> tuple[list[Node], list[list[Node]], str]:
    problems: list[str] = []
    steps = flow.steps
    names = [s.name for s in steps]
    seen: set[str] = set()
    for name in names:
        if name == INPUT:
            problems.append(f"a step is named '{INPUT}', which names the workflow's input; "
                            "rename the step")
        if name in seen:
            problems.append(f"step name '{name}' is used twice; step names must be unique "
                            "(pass name=... to Step)")
        seen.add(name)
    if problems:
        raise WiringError(flow.name, problems)
    needs: dict[str, list[str]] = {}
    for index, step in enumerate(steps):
        wanted = list(step.needs) if step.needs is not None else (
            [names[index - 1]] if index else [])
        refs = [ref.split(".", 1)[0] for ref in step.inputs.values()]
        if _templated(step):  # a template field naming an earlier step reads its output
            refs.extend(p for p in step.params if p in names[:index] and p not in step.inputs)
        for condition in (step.when, step.until):
            if isinstance(condition, Condition):
                refs.extend(condition.names)
        for ref in refs:
            if ref in seen and ref != step.name and ref not in wanted:
                wanted.append(ref)
        for need in wanted:
            if need not in seen:
                problems.append(f"step '{step.name}' needs unknown step "
                                f"'{need}'{did_you_mean(need, names)}")
        needs[step.name] = [n for n in wanted if n in seen]
    if problems:
        raise WiringError(flow.name, problems)
    cycle = find_cycle({name: needs[name] for name in names})
    if cycle:
        raise WiringError(flow.name, [
            f"steps form a cycle {' -> '.join(cycle)}; a workflow must be acyclic. To repeat "
            "work, give a step loop=Loop(max_iterations=N) (in compound.yaml: 'loop: "
            "{max_iterations: N}'), or put the repeated steps in a sub-workflow and loop that"
        ])
    order = _topological(names, needs)
    nodes: dict[str, Node] = {}
    ancestors: dict[str, set[str]] = {}
    for index, name in enumerate(order):
        step = steps[names.index(name)]
        node = Node(step, index, tuple(needs[name]))
        node.span_after = (step.context_param is None and not step.side_effects
                           and not step.retries and step.loop is None and step.map_over is None)
        ancestors[name] = set(needs[name]).union(*(ancestors[n] for n in needs[name]))
        node.level = 1 + max((nodes[n].level for n in needs[name]), default=-1)
        node.args = tuple(_resolve(flow, node, nodes, problems))
        out = step.output_type
        node.output_type = list[out] if step.map_over else out  # type: ignore[valid-type]
        _check_conditions(step, ancestors[name], problems, names)
        if step.takes_previous and not assignable(step.output_type, step.previous_type):
            problems.append(
                f"step '{name}' parameter 'previous: {describe(step.previous_type)}' cannot "
                f"take its own output ({describe(step.output_type)}); type it "
                f"'{describe(step.output_type)} | None'"
            )
        if step.takes_previous and step.loop is None:
            problems.append(f"step '{name}' takes 'previous' but has no loop; give it "
                            "loop=Loop(max_iterations=N) or drop the parameter")
        nodes[name] = node
        for need in needs[name]:
            nodes[need].dependants.append(name)
    if output is not None and output not in nodes:
        problems.append(f"output step '{output}' is not a step{did_you_mean(output, names)}")
    if problems:
        raise WiringError(flow.name, problems)
    ordered = [nodes[name] for name in order]
    levels: list[list[Node]] = []
    for node in ordered:
        while len(levels) <= node.level:
            levels.append([])
        levels[node.level].append(node)
    return ordered, levels, output or names[-1]


def _check_conditions(step: Step, upstream: set[str], problems: list[str],
                      names: list[str]) -> None:
    for label, condition, extra in (("when", step.when, set()), ("loop.until", step.until,
                                                                   {"output"})):
        if not isinstance(condition, Condition):
            continue
        known = upstream | {INPUT} | extra
        for name in sorted(condition.names - known):
            problems.append(
                f"step '{step.name}' {label} {condition.source!r} reads '{name}', which is "
                f"not an earlier step{did_you_mean(name, [*names, *known])}; it may read "
                f"{', '.join(sorted(known))}"
            )


def _topological(names: list[str], needs: Mapping[str, list[str]]) -> list[str]:
    done: set[str] = set()
    order: list[str] = []
    while len(order) < len(names):
        for name in names:
            if name not in done and all(n in done for n in needs[name]):
                order.append(name)
                done.add(name)
                break
    return order


def _resolve(flow: Workflow, node: Node, nodes: Mapping[str, Node], problems: list[str]
             ) -> list[Arg]:
    step = node.step
    input_type = flow.input_type
    input_fields = fields_of(input_type) if input_type is not None else None
    need_types = {n: nodes[n].output_type for n in node.needs}
    args: list[Arg] = []
    unresolved: list[str] = []
    for param in step.params.values():
        if param.name in step.inputs:
            arg = _explicit(step, param.name, step.inputs[param.name], flow, nodes, problems)
        elif param.name in need_types:
            arg = (param.name, (), need_types[param.name])
        elif (owners := [n for n, t in need_types.items()
                         if param.name in (fields_of(t) or {})]):
            if len(owners) > 1:
                problems.append(
                    f"step '{step.name}' parameter '{param.name}' could come from "
                    f"{' or '.join(repr(f'{o}.{param.name}') for o in owners)}; choose with "
                    f"inputs={{'{param.name}': '{owners[0]}.{param.name}'}}"
                )
                continue
            arg = (owners[0], (param.name,), (fields_of(need_types[owners[0]]) or {})[param.name])
        elif input_fields is not None and param.name in input_fields:
            arg = (INPUT, (param.name,), input_fields[param.name])
        elif param.name == INPUT:
            arg = (INPUT, (), input_type if input_type is not None else Any)
        else:
            unresolved.append(param.name)
            continue
        if arg is not None:
            args.append(_checked(step, param.name, *arg, problems))
    for name in unresolved:
        param = step.params[name]
        whole: tuple[str, Any] | None = None
        if _templated(step):
            pass  # a template field is a name: a misspelt one must not get a whole output
        elif len(unresolved) == 1 and len(node.needs) == 1:
            whole = (node.needs[0], need_types[node.needs[0]])
        elif len(unresolved) == 1 and not node.needs and input_type is not None:
            whole = (INPUT, input_type)
        fits = whole is not None and (
            assignable(whole[1], param.type) if step.map_over != name
            else item_type(whole[1]) is not None)
        if whole is not None and fits and (param.required or step.map_over == name):
            args.append(_checked(step, name, whole[0], (), whole[1], problems))
        elif input_type is None and param.required and not node.needs:
            args.append(Arg(name, INPUT, (name,)))
        elif not param.required:
            args.append(Arg(name, None, default=param.default))
        elif _templated(step):
            available = _available(flow, node, nodes)
            problems.append(
                f"step '{step.name}' template field '{{{name}}}' does not flow into the step"
                f"{did_you_mean(name, available)}: no step it needs is named '{name}' or has "
                f"a field '{name}', and the workflow input has none; available: "
                f"{', '.join(available) or 'none'}. Map it with 'inputs: {{{name}: "
                "step.field}' or 'input.field', or correct the template"
            )
        else:
            sources = ", ".join(f"{n} ({_fields_text(t)})" for n, t in need_types.items())
            problems.append(
                f"step '{step.name}' parameter '{name}: {describe(param.type)}' has no source: "
                f"no step it needs is named '{name}' or has a field '{name}'"
                f"{' (it needs ' + sources + ')' if sources else ''}, and the workflow input "
                f"({_fields_text(input_type)}) has no field '{name}'. Map it with "
                f"inputs={{'{name}': 'step.field'}}"
            )
    return args


def _explicit(step: Step, param: str, ref: str, flow: Workflow, nodes: Mapping[str, Node],
              problems: list[str]) -> tuple[str, tuple[str, ...], Any] | None:
    source, *path = ref.split(".")
    if any(part.startswith("_") for part in path):
        problems.append(f"step '{step.name}' input '{param}' refers to '{ref}'; a reference "
                        "reads fields and keys, and names starting with '_' are neither")
        return None
    if source == INPUT:
        tp = flow.input_type if flow.input_type is not None else Any
    elif source in nodes:
        tp = nodes[source].output_type
    else:
        problems.append(f"step '{step.name}' input '{param}' refers to '{ref}', but "
                        f"'{source}' is not an earlier step or 'input'"
                        f"{did_you_mean(source, [*nodes, INPUT])}")
        return None
    for part in path:
        fields = fields_of(tp)
        if fields is None:
            tp = Any
            continue
        if part not in fields:
            problems.append(
                f"step '{step.name}' input '{param}' refers to '{ref}', but {describe(tp)} has "
                f"no field '{part}'{did_you_mean(part, fields)}; it has {', '.join(fields)}"
            )
            return None
        tp = fields[part]
    return source, tuple(path), tp


def _checked(step: Step, param: str, source: str, path: tuple[str, ...], source_type: Any,
             problems: list[str]) -> Arg:
    declared = step.params[param]
    target = declared.type
    ref = ".".join((source, *path))
    if step.map_over == param:
        element = item_type(source_type)
        if element is None:
            problems.append(
                f"step '{step.name}' fans out over '{param}', but '{ref}' is "
                f"{describe(source_type)}, not a list"
            )
        elif not assignable(element, target):
            problems.append(
                f"step '{step.name}' parameter '{param}: {describe(target)}' receives the items "
                f"of '{ref}' ({describe(element)}); the types do not match"
            )
    elif not assignable(source_type, target):
        problems.append(
            f"step '{step.name}' parameter '{param}: {describe(target)}' receives '{ref}' "
            f"({describe(source_type)}); the types do not match. Change one of them, or "
            "convert in a step between them"
        )
    elif (why := _input_problem(step, param, source_type)) is not None:
        problems.append(f"step '{step.name}' template field '{{{param}}}' receives '{ref}' "
                        f"({describe(source_type)}): {why}")
    return Arg(param, source, path, declared.default if not declared.required else None,
               allows_none(target))


def _input_problem(step: Step, param: str, source_type: Any) -> str | None:
    """A component's own objection to what flows into one of its inputs (an LLM step
    refuses a value its template cannot render), through its optional ``input_problem``."""
    check = getattr(step.target, "input_problem", None)
    return check(param, source_type) if callable(check) else None


def _templated(step: Step) -> bool:
    """Whether the step's inputs are the fields of a prompt template (an LLM step's)."""
    return callable(getattr(step.target, "input_problem", None)) and isinstance(
        getattr(step.target, "template", None), str)


def _available(flow: Workflow, node: Node, nodes: Mapping[str, Node]) -> list[str]:
    """The names a parameter of ``node`` could be matched by, for did-you-mean hints."""
    names = [*node.needs]
    for need in node.needs:
        names.extend(fields_of(nodes[need].output_type) or ())
    names.extend(fields_of(flow.input_type) or () if flow.input_type is not None else ())
    return list(dict.fromkeys(names))


def _fields_text(tp: Any) -> str:
    if tp is None:
        return "untyped"
    fields = fields_of(tp)
    if fields is None:
        return describe(tp)
    return f"{describe(tp)} with {', '.join(fields) or 'no fields'}"
