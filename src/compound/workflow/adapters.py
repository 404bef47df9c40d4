"""Step adapters: how a component declared in `compound.yaml` becomes a workflow step.

A step's ``uses`` names a component; the component's *kind* picks the adapter:

=========== =============================================================================
kind        component
=========== =============================================================================
llm         ``models:`` entry with ``kind: llm`` (an :class:`LLMStep`, or an
            :class:`~compound.workflow.agent.Agent` when the step has ``agent:``)
predictor   ``models:`` entry with ``kind: predictor`` (registered by the ML layer)
retriever   ``retrievers:`` entry (registered by the retrieval layer)
context     ``uses: context``, built in: retrieved passages into the prompt under a token
            budget (:mod:`compound.workflow.kinds.context`)
critique    ``uses: critique``, built in: a draft critiqued against principles and revised,
            in bounded rounds (:mod:`compound.workflow.kinds.critique`)
tool        ``tools:`` entry (its function, called with the step's inputs)
rail        ``guardrails:`` entry (registered by the production layer)
function    ``uses: module:function`` (a plain Python function)
=========== =============================================================================

**Registering an adapter** (the same way for compound's own and a third party's): declare
an entry point in group ``compound.steps`` named after the kind, pointing at a function that
takes an :class:`AdapterRequest` and returns what the step runs: a function, a component
with a typed ``run()``, or one declaring ``input_types``/``output_type`` with
``run(ctx, **inputs)`` (see :mod:`compound.workflow.step`)::

    [project.entry-points."compound.steps"]
    retriever = "compound.workflow.kinds.retriever:retriever_step"

The adapter builds the component from ``request.spec`` (no I/O: loading happens on first
use) and may cache shared objects in ``request.shared`` (one LLM object for every step that
uses it). The step's generic settings (needs, inputs, when, timeout, retries, loop, fan-out)
are applied by the loader, not by adapters.

Example:
    >>> from compound.intelligence.llm import ScriptedLLM
    >>> step = LLMStep(ScriptedLLM(["Bonjour."]), template="Translate to French: {text}")
    >>> dict(step.input_types), step.run(None, text="Hello.").text
    ({'text': typing.Any}, 'Bonjour.')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from compound.errors import UserError
from compound.intelligence.llm.types import Message
from compound.orchestration.context.template import (
    Citation,
    Rendered,
    Template,
    TemplateValueError,
)
from compound.specfile import did_you_mean

if TYPE_CHECKING:
    from compound.intelligence.llm import LLM
    from compound.orchestration.prompts import PromptSource, PromptVersion
    from compound.orchestration.spec import ToolSpec
    from compound.orchestration.tools import Tool
    from compound.system import System
    from compound.workflow.context import RunContext
    from compound.workflow.spec import StepSpec

GROUP = "compound.steps"
#: ``shared[PINNED_PROMPTS]``: prompt versions by name that LLM steps use instead of
#: production's (an eval of a candidate prompt)
PINNED_PROMPTS = "prompts:pinned"


@dataclass(frozen=True)
class AdapterRequest:
    """What an adapter gets: the system, the step, and the component it uses."""

    system: System
    step: StepSpec
    component: str
    kind: str
    spec: Any
    shared: dict[str, Any] = field(default_factory=dict)
    workflow: str = ""


Adapter = Callable[[AdapterRequest], Any]


class OptionError(UserError):
    """A step's option is wrong (unknown, missing, out of bounds): ``option`` names it, so
    that ``compound check`` points at its line (the step's, when the option is missing)."""

    def __init__(self, message: str, *, option: str) -> None:
        super().__init__(message)
        self.option = option


def component_kind(system: System, name: str) -> tuple[str, Any]:
    """The kind of component ``name`` and its spec entry."""
    if ":" in name:
        return "function", name
    server, dot, _ = name.partition(".")
    if dot and server in system.mcp_servers:
        return "tool", name  # an MCP server's tool: SERVER.TOOL
    if name in system.models:
        spec = system.models[name]
        return str(spec.kind), spec
    if name in system.workflows:
        return "workflow", system.workflows[name]
    strategy = system.strategy
    for kind, entries in (("retriever", system.retrievers), ("tool", system.tools),
                          ("rail", system.guardrails), ("router", strategy.routers),
                          ("fallback", strategy.fallbacks), ("ensemble", strategy.ensembles)):
        if name in entries:
            return kind, entries[name]
    from compound.system import BUILTIN_COMPONENTS

    if name in BUILTIN_COMPONENTS:
        return BUILTIN_COMPONENTS[name], None
    known = system.component_names()
    raise UserError(f"unknown component '{name}'{did_you_mean(name, known)}; declared: "
                    f"{', '.join(sorted(known)) or 'none'}")


def adapter_for(kind: str) -> Adapter:
    """The adapter registered for ``kind`` (the built-ins, and third parties' entry points)."""
    from compound.plugins import load, registered

    targets = registered(GROUP)
    if kind not in targets:
        raise UserError(
            f"no workflow step adapter for components of kind '{kind}'; the installed ones "
            f"are {', '.join(sorted(targets))}. The package that provides '{kind}' components "
            f"registers one under the '{GROUP}' entry point group"
        )
    adapter: Adapter = load(GROUP, kind)
    return adapter


# -- built-in adapters ----------------------------------------------------------------------


@dataclass(frozen=True)
class LLMOutput:
    """What an LLM step hands on: the text, parsed JSON (with a schema), usage, and the
    passages its prompt showed as ``[n]`` (when a template field held retrieved passages or
    a built context)."""

    text: str
    data: Any = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    citations: tuple[Citation, ...] = ()


class LLMStep:
    """An LLM call as a step: a prompt template filled from the inputs.

    Args:
        llm: the model.
        template: the prompt, with ``{name}`` fields that become the step's inputs (the
            template language of :mod:`compound.orchestration.context.template`); None means
            one input, ``prompt``.
        system: an optional system message.
        json_schema: ask for JSON matching this schema (parsed into ``LLMOutput.data``).
        max_tokens: generation limit for the call.
        stop: strings that end generation (not included in the text); the model's own by
            default.
        temperature: sampling temperature for the call; the model's by default.
        name: the step's name, for error messages.
        prompt: where a registered version of the prompt comes from (the prompt registry,
            :mod:`compound.orchestration.prompts`); its version replaces ``template`` and
            ``system``, adds its few-shot examples, and is recorded on the step's span as
            ``compound.prompt`` (``name@version``). None: ``template`` and ``system`` only.
    """

    output_type = LLMOutput

    def __init__(self, llm: LLM, *, template: str | None = None, system: str | None = None,
                 json_schema: Mapping[str, Any] | None = None, max_tokens: int | None = None,
                 stop: Sequence[str] | None = None, temperature: float | None = None,
                 name: str | None = None, prompt: PromptSource | None = None) -> None:
        self.llm = llm
        self.prompt = prompt
        # a registered version's parsed template, and the messages each call starts with
        self._versions: dict[str, tuple[Template, tuple[Message, ...]]] = {}
        self.template = template
        self.system = system
        self.json_schema = dict(json_schema) if json_schema else None
        self.max_tokens = max_tokens
        self.stop = list(stop) if stop else None
        self.temperature = temperature
        self.name = name
        where = f"step '{name}' template" if name else "the prompt template"
        self.parsed = Template.parse(template if template is not None else "{prompt}",
                                     where=where)
        self.input_types: dict[str, Any] = {
            n: (str if template is None else Any) for n in self.parsed.fields}
        self.template_paths = {p.name for p in self.parsed.placeholders if p.path}

    def input_problem(self, name: str, source_type: Any) -> str | None:
        """Why a value of ``source_type`` cannot fill template field ``name`` (checked when
        the workflow is built), or None when it can."""
        from compound.orchestration.context.template import renderable
        from compound.type_fit import describe, fields_of

        if self.template is None:
            return None
        if name in self.template_paths and fields_of(source_type) is not None:
            return (f"the template reads keys of '{{{name}.…}}', but it is a "
                    f"{describe(source_type)}, not a mapping; wire the field itself, e.g. "
                    f"inputs: {{{name}: step.field}}, and write {{{name}}}")
        return renderable(source_type)

    def _messages(self, inputs: Mapping[str, Any], ctx: RunContext
                  ) -> tuple[list[Message], Rendered]:
        version = None if self.prompt is None else self.prompt.current(ctx.store)
        parsed, prefix = (self.parsed, ()) if version is None else self._version(version)
        try:
            rendered = parsed.render_cited(inputs)
        except TemplateValueError as exc:
            where = f"step '{self.name}': " if self.name else ""
            raise TemplateValueError(f"{where}{exc}") from None
        if version is not None:
            ctx.annotate("compound.prompt", version.ref)
            return [*prefix, Message("user", rendered.text)], rendered
        messages = [Message("system", self.system)] if self.system else []
        messages.append(Message("user", rendered.text))
        return messages, rendered

    def _version(self, version: PromptVersion) -> tuple[Template, tuple[Message, ...]]:
        found = self._versions.get(version.ref)
        if found is None:
            from compound.orchestration.prompts import prompt_prefix

            parsed = Template.parse(version.template, where=f"prompt {version.ref}")
            found = self._versions[version.ref] = (
                parsed, prompt_prefix(version, template=parsed))
        return found

    def _output(self, completion: Any, rendered: Rendered) -> LLMOutput:
        return LLMOutput(completion.text.strip(), completion.data,
                         completion.usage.prompt_tokens, completion.usage.completion_tokens,
                         rendered.citations)

    def run(self, ctx: RunContext | None, **inputs: Any) -> LLMOutput:
        from compound.workflow.context import RunContext

        context = ctx if ctx is not None else RunContext()
        messages, rendered = self._messages(inputs, context)
        completion = context.complete(self.llm, messages, json_schema=self.json_schema,
                                      max_tokens=self.max_tokens, stop=self.stop,
                                      temperature=self.temperature)
        return self._output(completion, rendered)

    async def arun(self, ctx: RunContext | None, **inputs: Any) -> LLMOutput:
        from compound.workflow.context import RunContext

        context = ctx if ctx is not None else RunContext()
        messages, rendered = self._messages(inputs, context)
        completion = await context.acomplete(self.llm, messages, json_schema=self.json_schema,
                                             max_tokens=self.max_tokens, stop=self.stop,
                                             temperature=self.temperature)
        return self._output(completion, rendered)


def shared_llm(request: AdapterRequest, name: str) -> LLM:
    """One LLM object per model name across the workflow's steps (with its production
    adapter when the caller shares a store:
    :func:`compound.intelligence.llm.versions.system_llm`)."""
    from compound.intelligence.llm.versions import system_llm

    key = f"llm:{name}"
    if key not in request.shared:
        llms = request.system.llms()
        if name not in llms:
            raise UserError(f"'{name}' is not an LLM of the system; LLMs: {', '.join(llms)}")
        request.shared[key] = system_llm(request.system, name, request.shared.get("store"))
    llm: LLM = request.shared[key]
    return llm


def llm_adapter(request: AdapterRequest) -> Any:
    """``kind: llm``: an :class:`LLMStep`, or an agent when the step has ``agent:``."""
    llm = shared_llm(request, request.component)
    options = dict(request.step.options)
    agent = request.step.agent
    if agent is None:
        allowed = {"template", "system", "json_schema", "max_tokens", "stop", "temperature"}
        unknown = sorted(set(options) - allowed)
        if unknown:
            raise UserError(f"step '{request.step.name}': options {unknown} are not LLM step "
                            f"options; allowed: {', '.join(sorted(allowed))}")
        return LLMStep(llm, name=request.step.name, prompt=_prompt_source(request, options),
                       **options)
    from compound.workflow.agent import Agent

    tools = agent_tools(request, agent.tools)
    return Agent(llm=llm, tools=tools, instructions=agent.instructions,
                 max_steps=agent.max_steps, max_tokens=agent.max_tokens,
                 max_cost_usd=agent.max_cost_usd, max_tokens_per_call=agent.max_tokens_per_call,
                 max_repeats=agent.max_repeats, max_time_s=agent.max_time_s,
                 tool_choice=agent.tool_choice, name=request.step.name)


def _prompt_source(request: AdapterRequest, options: Mapping[str, Any]) -> PromptSource | None:
    """The registry entry of an LLM step with a template in a named workflow (None: the
    spec's text only). A run context's store is read first; else the one the caller shares
    (``shared["store"]``: serving's, the CLI's)."""
    template = options.get("template")
    if not request.workflow or not isinstance(template, str):
        return None
    from compound.orchestration.prompts import PromptSource

    name = f"{request.workflow}.{request.step.name}"
    shared = request.shared
    return PromptSource(name, template=template, system=str(options.get("system") or ""),
                        store=lambda: shared.get("store"),
                        pinned=(shared.get(PINNED_PROMPTS) or {}).get(name))


def agent_tools(request: AdapterRequest, names: list[str]) -> list[Tool]:
    """The tools an agent's ``tools:`` list names: a ``tools:`` entry, an MCP server's
    tool (``SERVER.TOOL``), or an MCP server (all of its tools).

    Raises:
        UserError: a name that is none of these, or two tools models would see under one
            name.
    """
    from compound.orchestration.mcp_tools import mcp_server_tools, mcp_tool

    system = request.system
    tools: list[Tool] = []
    for name in names:
        if name in system.tools:
            tools.append(tool_from_spec(name, system.tools[name]))
        elif name in system.mcp_servers:
            tools.extend(mcp_server_tools(system, name, request.shared))
        elif name.partition(".")[0] in system.mcp_servers:
            tools.append(mcp_tool(system, name, request.shared))
        else:
            known = [*system.tools, *system.mcp_servers]
            raise UserError(
                f"step '{request.step.name}' agent tool '{name}' is not declared under "
                f"'tools' or 'mcp_servers'{did_you_mean(name, known)}"
            )
    seen: dict[str, Tool] = {}
    for tool in tools:
        if tool.name in seen and seen[tool.name] is not tool:
            raise UserError(
                f"step '{request.step.name}': two of the agent's tools are both called "
                f"'{tool.name}' ({seen[tool.name]!r} and {tool!r}); give an MCP server a "
                "'prefix' so that models can tell them apart")
        seen[tool.name] = tool
    return tools


def tool_adapter(request: AdapterRequest) -> Any:
    """``tools:`` entry: the tool's function runs with the step's inputs; an MCP server's
    tool (``SERVER.TOOL``): the tool's required arguments are the step's inputs."""
    if isinstance(request.spec, str):
        from compound.orchestration.mcp_tools import McpToolStep, mcp_tool

        return McpToolStep(mcp_tool(request.system, request.spec, request.shared))
    return tool_from_spec(request.component, request.spec)


def tool_from_spec(name: str, spec: ToolSpec) -> Tool:
    """The tool a spec entry declares, checking its side-effect permission.

    Raises:
        UserError: the function cannot be imported, or it is marked as side-effecting in
            code while the spec does not allow side effects.
    """
    from compound.code.references import resolve
    from compound.orchestration.tools import Tool

    target = resolve(spec.function, what=f"tool '{name}'")
    code_side_effects = bool(getattr(target, "side_effects", False))
    if code_side_effects and not spec.side_effects:
        raise UserError(
            f"tool '{name}' ({spec.function}) has side effects (declared in its code) but "
            f"the spec does not allow them; add 'side_effects: true' under tools.{name} "
            "if it may run"
        )
    function = target.function if isinstance(target, Tool) else target
    return Tool(function, name=name, description=spec.description or None,
                side_effects=spec.side_effects, timeout_s=spec.timeout_s)


def function_adapter(request: AdapterRequest) -> Any:
    """``uses: module:function``: a plain Python function."""
    from compound.code.references import resolve

    return resolve(request.component, what=f"step '{request.step.name}'")
