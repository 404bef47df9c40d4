"""The system spec: what one `compound.yaml` declares (steps 1 and 2 of the framework).

A system has a loop type (``interaction``, ``prediction`` or ``hybrid``), a task in words,
success criteria (named metrics with thresholds, which become the evaluation gates) and
components referenced by name: models, retrievers, tools, guardrails and workflows.

Example:
    >>> spec = System.from_yaml('''
    ... name: faq
    ... loop: interaction
    ... task: Answer questions about our product.
    ... criteria:
    ...   answer_f1: {threshold: 0.6}
    ... ''')
    >>> spec.loop, list(spec.models)
    ('interaction', ['llm'])
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from compound.code.references import CodeReference, is_reference
from compound.errors import SpecError, UserError
from compound.evaluation.spec import EvalSpec
from compound.intelligence.spec import LLMSpec, ModelSpec, PredictorSpec
from compound.orchestration.spec import McpServerSpec, RetrieverSpec, ToolSpec
from compound.privacy.spec import RedactionSpec
from compound.production.serving_spec import ServeSpec
from compound.production.spec import RailSpec
from compound.specfile import (
    SpecModel,
    did_you_mean,
    dotted,
    format_validation_errors,
    load_yaml,
)
from compound.strategy.spec import StrategySpec
from compound.workflow.spec import WorkflowSpec

PUBLIC_PREFIX = "shared:"
LoopType = Literal["interaction", "prediction", "hybrid"]
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]*$"
ComponentName = Annotated[str, Field(pattern=NAME_PATTERN)]
# Components a step may use without declaring them, and the step kind each one is built by
# (an adapter under the ``compound.steps`` entry points). A declared component of the same
# name takes precedence.
BUILTIN_COMPONENTS: dict[str, str] = {
    "context": "context",  # retrieved passages -> the prompt, under a token budget
    "critique": "critique",  # a draft critiqued against principles and revised
}


class Criterion(SpecModel):
    """A success criterion: a metric, a threshold it must meet, and the regression tolerance.

    ``direction: higher`` means the metric must be at least ``threshold``; ``lower`` means at
    most. ``tolerance`` is how far a candidate may fall behind the production baseline before
    the gate calls it a regression.
    """

    metric: str | None = Field(default=None, description="metric name; defaults to the key")
    threshold: float
    direction: Literal["higher", "lower"] = "higher"
    tolerance: float = Field(default=0.0, ge=0.0)
    description: str = ""

    def held_direction(self, *, lower_is_better: bool) -> Literal["higher", "lower"]:
        """The direction the gate holds this criterion to: its own ``direction:`` when the
        spec gives one, else its metric's (``lower_is_better``, from the metric's
        definition)."""
        if "direction" in self.model_fields_set:
            return self.direction
        return "lower" if lower_is_better else "higher"

    def passes(self, value: float) -> bool:
        """Whether ``value`` meets the threshold in ``direction`` as written (the gate,
        :mod:`compound.gating`, holds a criterion without one in its metric's direction)."""
        from compound.gating import meets

        return meets(value, self.threshold, self.direction)

    def regressed(self, value: float, baseline: float) -> bool:
        """Whether ``value`` is worse than ``baseline`` by more than the tolerance."""
        from compound.gating import gain

        return gain(value, baseline, self.direction) < -self.tolerance - 1e-12


class StoreSpec(SpecModel):
    """Where the system keeps runs, traces, datasets, models and feedback."""

    path: str | None = Field(default=None, description="SQLite file, relative to the spec")
    url: str | None = Field(default=None, description="postgresql://... for the scale path")
    retention_days: Annotated[float, Field(gt=0)] | None = Field(
        default=None, description="runs and traces older than this many days are pruned")
    redact: RedactionSpec = Field(
        default_factory=RedactionSpec,
        description="secrets and personal data redacted from every record before it is "
                    "written (on by default; false turns it off)")


FINDING_ID = r"^[a-z][a-z0-9-]*$"


class DesignReviewSpec(SpecModel):
    """What `compound check --review` holds the system to, and the findings it accepts.

    A silenced finding still shows, marked silenced with its reason; only unsilenced ones
    fail ``--review --strict``.
    """

    silence: dict[Annotated[str, Field(pattern=FINDING_ID)], str] = Field(
        default_factory=dict,
        description="finding id -> why it does not apply to this system (a reason is required)")
    resolution: float = Field(
        default=0.1, gt=0.0, le=0.5,
        description="thin-eval: the widest half-width a criterion's 95% interval may have at "
                    "its threshold")

    @field_validator("silence")
    @classmethod
    def _reasons_given(cls, value: dict[str, str]) -> dict[str, str]:
        for finding, reason in value.items():
            if not reason.strip():
                raise ValueError(f"silencing '{finding}' needs a reason: say why the finding "
                                 "does not apply to this system")
        return value


class System(SpecModel):
    """A validated `compound.yaml`. Build it with :meth:`load` or :meth:`from_yaml`."""

    version: Literal[1] = 1
    name: Annotated[str, Field(min_length=1)]
    loop: LoopType
    task: Annotated[str, Field(min_length=1)]
    criteria: dict[ComponentName, Criterion] = Field(default_factory=dict)
    models: dict[ComponentName, ModelSpec] = Field(default_factory=dict)
    retrievers: dict[ComponentName, RetrieverSpec] = Field(default_factory=dict)
    tools: dict[ComponentName, ToolSpec] = Field(default_factory=dict)
    mcp_servers: dict[ComponentName, McpServerSpec] = Field(default_factory=dict)
    guardrails: dict[ComponentName, RailSpec] = Field(default_factory=dict)
    workflows: dict[ComponentName, WorkflowSpec] = Field(default_factory=dict)
    evals: dict[ComponentName, EvalSpec] = Field(default_factory=dict)
    strategy: StrategySpec = Field(default_factory=StrategySpec)
    store: StoreSpec = Field(default_factory=StoreSpec)
    serve: ServeSpec = Field(default_factory=ServeSpec)
    design_review: DesignReviewSpec = Field(default_factory=DesignReviewSpec)
    source: Path | None = Field(default=None, exclude=True, repr=False)

    @field_validator("name")
    @classmethod
    def _name_is_a_word(cls, value: str) -> str:
        if value.strip() != value or "\n" in value:
            raise ValueError("the name must be one line without surrounding spaces")
        return value

    @model_validator(mode="before")
    @classmethod
    def _defaults_from_loop(cls, data: Any) -> Any:
        """An interaction or hybrid system gets the embedded LLM when it declares none."""
        if not isinstance(data, dict) or data.get("loop") not in ("interaction", "hybrid"):
            return data
        models = data.get("models")
        if models is None:
            models = {}
        if not isinstance(models, dict):
            return data
        declares_llm = any(
            isinstance(m, dict) and m.get("kind", "llm") == "llm" for m in models.values()
        )
        if not declares_llm and "llm" not in models:
            data = {**data, "models": {"llm": {"kind": "llm", "provider": "embedded"}, **models}}
        return data

    @model_validator(mode="after")
    def _check_components(self, info: ValidationInfo) -> System:
        if info.context and info.context.get("defer_references"):
            return self
        problems = [f"{dotted(loc)}: {message}" for loc, message in self.reference_problems()]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def reference_problems(self) -> Iterator[tuple[tuple[str | int, ...], str]]:
        """Cross-component problems: unknown references, cycles, missing models.

        Yields:
            the location in the spec and the message, for each problem.
        """
        predictors = [n for n, m in self.models.items() if isinstance(m, PredictorSpec)]
        if self.loop in ("prediction", "hybrid") and not predictors:
            yield ("loop",), (
                f"a {self.loop} system needs at least one model with 'kind: predictor' "
                "(a trained ML model); add one under 'models', or use 'loop: interaction'"
            )
        for name, predictor in self.predictors().items():
            for criterion in predictor.criteria or ():
                if criterion not in self.criteria:
                    yield ("models", name, "criteria"), (
                        f"criterion '{criterion}' is not declared under 'criteria'"
                        f"{did_you_mean(criterion, self.criteria)}"
                    )
        for name in self.mcp_servers:
            if name in self.tools:
                yield ("mcp_servers", name), (
                    f"'{name}' names both a tool and an MCP server; an agent's tools list "
                    "could not tell them apart: rename one")
        components = self.component_names()
        for wf_name, workflow in self.workflows.items():
            steps = {step.name for step in workflow.steps}
            for index, step in enumerate(workflow.steps):
                here = ("workflows", wf_name, "steps", index)
                mcp_problem = self._mcp_tool_problem(step.uses)
                if mcp_problem is not None:
                    yield (*here, "uses"), f"step '{step.name}': {mcp_problem}"
                elif (step.uses not in components and not is_reference(step.uses)
                        and not self._is_mcp_tool(step.uses)):
                    yield (*here, "uses"), (
                        f"step '{step.name}' uses unknown component "
                        f"'{step.uses}'{did_you_mean(step.uses, components)}; declared components:"
                        f" {', '.join(sorted(components)) or 'none'}"
                    )
                for need in step.needs:
                    if need not in steps:
                        yield (*here, "needs"), (
                            f"step '{step.name}' needs unknown step "
                            f"'{need}'{did_you_mean(need, steps)}"
                        )
            cycle = workflow.find_cycle()
            if cycle:
                yield ("workflows", wf_name, "steps"), (
                    f"steps form a cycle {' -> '.join(cycle)}; "
                    "a workflow must be acyclic (use a step's 'loop' with 'max_iterations' "
                    "to repeat work)"
                )
        for rail_name, rail in self.guardrails.items():
            for ref in rail.model_refs():
                if ref in self.models:
                    continue
                yield ("guardrails", rail_name), (
                    f"model '{ref}' is not declared under "
                    f"'models'{did_you_mean(ref, self.models)}"
                )
        for name, retriever in self.retrievers.items():
            for ref in retriever.model_refs():
                if ref not in self.models:
                    yield ("retrievers", name), (
                        f"model '{ref}' is not declared under 'models'"
                        f"{did_you_mean(ref, self.models)}"
                    )
        yield from self._eval_reference_problems()
        from compound.orchestration.context.template_checks import template_problems

        yield from template_problems(
            workflows=self.workflows, evals=self.evals, routers=self.strategy.routers,
            llms=set(self.llms()), predictors=set(self.predictors()),
        )
        yield from self.strategy.reference_problems(
            self.models, llms=set(self.llms()), predictors=set(self.predictors())
        )

    def _is_mcp_tool(self, name: str) -> bool:
        server, dot, _ = name.partition(".")
        return bool(dot) and server in self.mcp_servers

    def _mcp_tool_problem(self, name: str) -> str | None:
        """Why ``SERVER.TOOL`` names no tool the spec allows, or None."""
        if not self._is_mcp_tool(name):
            return None
        server, _, tool = name.partition(".")
        allowed = self.mcp_servers[server].tools
        if allowed is not None and tool not in allowed:
            return (f"'{name}': tool '{tool}' is not in mcp_servers.{server}.tools"
                    f"{did_you_mean(tool, allowed)}; allowed: {', '.join(allowed)}")
        return None

    def _eval_reference_problems(self) -> Iterator[tuple[tuple[str | int, ...], str]]:
        llms = self.llms()
        for name, ev in self.evals.items():
            here = ("evals", name, "target")
            target = ev.target
            if target.model is not None and target.model not in self.models:
                yield (*here, "model"), (
                    f"model '{target.model}' is not declared under 'models'"
                    f"{did_you_mean(target.model, self.models)}; declared models (LLMs and "
                    f"predictors): {', '.join(self.models) or 'none'}"
                )
            elif target.model in self.predictors():
                yield from _predictor_target_problems(here, target)
            judge = ev.judge.model if ev.judge else None
            if judge is not None and judge not in llms:
                yield ("evals", name, "judge", "model"), (
                    f"LLM '{judge}' is not declared under 'models'{did_you_mean(judge, llms)}; "
                    f"declared LLMs: {', '.join(llms) or 'none'}"
                )
            if target.rail is not None and target.rail not in self.guardrails:
                yield (*here, "rail"), (
                    f"rail '{target.rail}' is not declared under 'guardrails'"
                    f"{did_you_mean(target.rail, self.guardrails)}; declared rails: "
                    f"{', '.join(self.guardrails) or 'none'}"
                )
            workflow = target.workflow
            if workflow is not None and workflow not in self.workflows:
                yield (*here, "workflow"), (
                    f"workflow '{workflow}' is not declared under 'workflows'"
                    f"{did_you_mean(workflow, self.workflows)}"
                )
            elif workflow is not None and target.output is not None:
                steps = [s.name for s in self.workflows[workflow].steps]
                step = target.output.split(".")[0]
                if step not in steps:
                    yield (*here, "output"), (
                        f"'{target.output}' must be STEP.FIELD of workflow '{workflow}', but "
                        f"it has no step '{step}'{did_you_mean(step, steps)}; its steps: "
                        f"{', '.join(steps)}"
                    )

    # -- access -----------------------------------------------------------------------------

    def code_references(self) -> list[CodeReference]:
        """Every ``module:attribute`` the spec names, in spec order."""
        found: list[CodeReference] = []
        components = self.component_names()
        for wf_name, workflow in self.workflows.items():
            for index, step in enumerate(workflow.steps):
                if step.uses not in components and is_reference(step.uses):
                    found.append(CodeReference(("workflows", wf_name, "steps", index, "uses"),
                                               step.uses, f"step '{step.name}'"))
        for name, tool in self.tools.items():
            found.append(CodeReference(("tools", name, "function"), tool.function,
                                       f"tool '{name}'"))
        for name, ev in self.evals.items():
            here: tuple[str | int, ...] = ("evals", name)
            if ev.dataset.build:
                found.append(CodeReference((*here, "dataset", "build"), ev.dataset.build,
                                           f"eval '{name}' dataset build"))
            if ev.target.function:
                found.append(CodeReference((*here, "target", "function"), ev.target.function,
                                           f"eval '{name}' target"))
            for index, item in enumerate(ev.metrics):
                if not isinstance(item, str) and item.function:
                    found.append(CodeReference((*here, "metrics", index, "function"),
                                               item.function,
                                               f"eval '{name}' metric '{item.name}'"))
        for name, online in self.serve.online_evals.items():
            if ":" in online.metric:
                found.append(CodeReference(("serve", "online_evals", name, "metric"),
                                           online.metric, f"online eval '{name}'"))
        return found

    def component_names(self) -> set[str]:
        """Every name a workflow step may use (besides a ``module:function`` path), the
        built-in components (:data:`BUILTIN_COMPONENTS`) included."""
        return {
            *self.models, *self.retrievers, *self.tools, *self.guardrails, *self.workflows,
            *self.strategy.component_names(), *BUILTIN_COMPONENTS,
        }

    def llms(self) -> dict[str, LLMSpec]:
        """The declared LLMs, in declaration order."""
        return {n: m for n, m in self.models.items() if isinstance(m, LLMSpec)}

    def predictors(self) -> dict[str, PredictorSpec]:
        """The declared trained ML models, in declaration order."""
        return {n: m for n, m in self.models.items() if isinstance(m, PredictorSpec)}

    def default_llm(self) -> str:
        """The LLM used when a command names none: ``llm`` if declared, else the first."""
        llms = self.llms()
        if not llms:
            raise UserError(
                f"system '{self.name}' declares no LLM; add one under 'models' "
                "(e.g. 'llm: {kind: llm, provider: embedded}')"
            )
        return "llm" if "llm" in llms else next(iter(llms))

    @property
    def base_dir(self) -> Path:
        """The folder relative paths in the spec are resolved against."""
        return self.source.parent if self.source else Path.cwd()

    def resolve_path(self, path: str | os.PathLike[str]) -> Path:
        """A path from the spec, made absolute against the spec's folder.

        ``shared:NAME/FILE`` (e.g. ``shared:banking77/train.jsonl``) names a public dataset,
        found through :func:`compound.public_data.dataset_path` (``$COMPOUND_DATA``,
        ``../shared/datasets``, the user cache), so a spec works in any clone.
        """
        text = os.fspath(path)
        if text.startswith(PUBLIC_PREFIX):
            from compound.public_data import UnsafeDatasetPath, dataset_path

            try:
                return dataset_path(text[len(PUBLIC_PREFIX):])
            except UnsafeDatasetPath as exc:
                raise UnsafeDatasetPath(f"{self._where(text)}{exc}") from None
        candidate = Path(text).expanduser()
        return candidate if candidate.is_absolute() else (self.base_dir / candidate).resolve()

    def _where(self, text: str) -> str:
        """``file:line: `` of the first line of the spec mentioning ``text`` (or ``file: ``)."""
        if self.source is None:
            return ""
        try:
            lines = Path(self.source).read_text(encoding="utf-8").splitlines()
        except OSError:
            return f"{self.source}: "
        line = next((i for i, content in enumerate(lines, 1) if text in content), None)
        return f"{self.source}:{line}: " if line else f"{self.source}: "

    def store_path(self) -> Path:
        """The SQLite file: the spec's ``store.path``, else ``$COMPOUND_HOME``, else ``.compound/``
        next to the spec."""
        if self.store.path:
            return self.resolve_path(self.store.path)
        home = os.environ.get("COMPOUND_HOME")
        if home:
            return Path(home).expanduser().resolve() / "compound.db"
        return self.base_dir / ".compound" / "compound.db"

    # -- loading ----------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> System:
        """Read and validate a spec file (or a folder holding `compound.yaml`)."""
        spec_path = Path(path)
        if spec_path.is_dir():
            spec_path = spec_path / "compound.yaml"
        if not spec_path.exists():
            folder = spec_path.parent if spec_path.name == "compound.yaml" else (
                spec_path.with_suffix(""))
            new = folder if not folder.exists() else "NEW_FOLDER"
            raise UserError(
                f"{spec_path}: no such spec file; create a new system with 'compound init {new}' "
                "(a folder with a commented compound.yaml that passes 'compound up' as made)"
            )
        from compound.yaml_loader import check_size

        check_size(spec_path.stat().st_size, source=str(spec_path))  # before reading it
        try:
            text = spec_path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise SpecError(
                [f"{spec_path}: not UTF-8 text (byte {exc.start}); save the file as UTF-8"],
                path=str(spec_path),
            ) from None
        return cls.from_yaml(text, source=spec_path)

    @classmethod
    def from_yaml(cls, text: str, *, source: str | os.PathLike[str] | None = None) -> System:
        """Validate spec text; ``source`` names the file in error messages."""
        label = str(source) if source is not None else "<spec>"
        doc = load_yaml(text, source=label)
        if doc.data is None:
            raise SpecError(
                [f"{label}: the spec is empty; it needs at least 'name', 'loop' and 'task' "
                 "(run 'compound init' for a starting point)"],
                path=label,
            )
        if not isinstance(doc.data, dict):
            raise SpecError(
                [f"{label}:1: the spec must be a mapping of keys (name, loop, task, ...); "
                 f"received a {type(doc.data).__name__}"],
                path=label,
            )
        try:
            system = cls.model_validate(doc.data, context={"defer_references": True})
        except ValidationError as exc:
            problems = format_validation_errors(exc.errors(), doc, source=label)
            raise SpecError(problems, path=label) from None
        references = [
            {"type": "reference", "loc": loc, "msg": message, "input": None}
            for loc, message in system.reference_problems()
        ]
        if references:
            problems = format_validation_errors(references, doc, source=label)
            raise SpecError(problems, path=label)
        if source is not None:
            system = system.model_copy(update={"source": Path(source).resolve()})
            system.make_importable()
        return system

    def make_importable(self) -> None:
        """Put the spec's folder on ``sys.path`` (appended: see :mod:`compound.code.references`),
        so its own Python code is found by the ``module:function`` references in the spec
        (steps, tools, evaluation targets)."""
        from compound.code.guard import remember_spec_folder
        from compound.code.references import make_importable

        remember_spec_folder(self.base_dir.resolve())  # compound check takes it off sys.path
        make_importable(self.base_dir)


_LLM_ONLY = ("prompt", "system", "json_schema", "contexts", "max_tokens", "temperature")


def _predictor_target_problems(
    here: tuple[str, ...], target: Any
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """A predictor target takes its features from the example: no prompt or LLM settings."""
    for key in _LLM_ONLY:
        if key in target.model_fields_set:
            yield (*here, key), (
                f"'{key}' is for an LLM target, but '{target.model}' is a predictor: its "
                "features come from the example's inputs; remove it"
            )
    if target.output is not None and target.output not in ("label", "probability", "value"):
        yield (*here, "output"), (
            f"a predictor target's output is label, probability or value; received "
            f"'{target.output}'"
        )

