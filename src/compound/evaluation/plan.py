"""From an eval's spec to what the runner executes: dataset, examples, target, metrics, judge.

:class:`EvalPlan` is also the Python entry point: build one by hand (any dataset, any target)
and give it to :class:`~compound.evaluation.runner.EvalRunner`.

Example:
    >>> from compound.evaluation.datasets import Dataset
    >>> from compound.evaluation.targets import FunctionTarget
    >>> ds = Dataset([{"q": "2+2?", "a": "4"}], name="arith")
    >>> plan = EvalPlan.simple("arith", ds, FunctionTarget(lambda x: "4"), ["exact_match"],
    ...                        inputs=["q"], expected="a")
    >>> [m.name for m in plan.metrics], plan.examples[0].inputs
    (['exact_match'], {'q': '2+2?'})
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from compound.errors import UserError
from compound.evaluation.datasets import Dataset, Example
from compound.evaluation.spec import BootstrapSpec, EvalSpec, JudgeSpec, MetricSpec, SuiteSpec
from compound.metrics.base import BoundMetric, Metric
from compound.metrics.registry import get_metric, metric_from_function
from compound.specfile import did_you_mean

if TYPE_CHECKING:
    from compound.evaluation.cache import OutputCache
    from compound.evaluation.spec import TargetSpec
    from compound.evaluation.targets import Target
    from compound.intelligence.llm.versions import LLMVersion
    from compound.orchestration.prompts import PromptVersion
    from compound.store import Store
    from compound.system import System


@dataclass(frozen=True)
class NamedMetric:
    """A metric as an eval measures it: its name there, options, aggregate, tolerance."""

    name: str
    bound: BoundMetric
    aggregate: str
    tolerance: float | None = None

    @property
    def metric(self) -> Metric:
        return self.bound.metric


@dataclass
class EvalPlan:
    """Everything one eval run needs.

    Attributes:
        name: the eval's name (runs of the same name are compared).
        dataset: the dataset version evaluated (after split and sample).
        examples: its rows as examples.
        target: what produces outputs.
        metrics: what is measured.
        judge: the judge model (``complete``-able), if any.
        judge_spec: the judge's settings (rubric, human labels, min kappa).
        suites: behavioural suites to run after the dataset.
        seed, concurrency, bootstrap, max_error_rate: how to run and gate.
        system: the system's name, for the record.
    """

    name: str
    dataset: Dataset
    examples: list[Example]
    target: Target
    metrics: list[NamedMetric]
    judge: Any = None
    judge_spec: JudgeSpec | None = None
    suites: list[SuiteSpec] = field(default_factory=list)
    seed: int = 0
    concurrency: int = 4
    bootstrap: BootstrapSpec = field(default_factory=BootstrapSpec)
    max_error_rate: float | None = None
    system: str = ""

    @classmethod
    def simple(
        cls,
        name: str,
        dataset: Dataset,
        target: Target,
        metrics: Sequence[str | MetricSpec | Metric],
        *,
        inputs: Sequence[str] | Mapping[str, str] | None = None,
        expected: str | None = None,
        **settings: Any,
    ) -> EvalPlan:
        """A plan from a dataset, a target and metric names (or Metric objects)."""
        named = []
        for item in metrics:
            if isinstance(item, Metric):
                named.append(NamedMetric(item.name, item.bind(), item.aggregate))
            else:
                spec = MetricSpec(name=item) if isinstance(item, str) else item
                named.append(resolve_metric(spec))
        return cls(name=name, dataset=dataset,
                   examples=dataset.examples(inputs=inputs, expected=expected),
                   target=target, metrics=named, **settings)


def resolve_metric(spec: MetricSpec, *, base: str | None = None) -> NamedMetric:
    """The metric a :class:`MetricSpec` names, bound to its options."""
    if spec.function:
        found = metric_from_function(spec.function, base=base)
    else:
        found = get_metric(spec.registered_name)
    return NamedMetric(
        name=spec.name, bound=found.bind(spec.options),
        aggregate=spec.aggregate or found.aggregate, tolerance=spec.tolerance,
    )


def load_dataset(system: System, spec: EvalSpec, store: Store | None) -> Dataset:
    """The eval's dataset: from a file, a shared dataset or the store; saved to the store."""
    from compound.evaluation.dataset_store import DatasetRegistry

    d = spec.dataset
    if d.path.startswith("store:"):
        if store is None:
            raise UserError(f"dataset '{d.path}' is in the store, but no store was given")
        registry = DatasetRegistry(store)
        name = d.path.removeprefix("store:")
        if d.build and not registry.list(name.split("@")[0]):
            from compound.code.references import resolve

            build = resolve(d.build, base=str(system.base_dir), what="dataset build")
            build(system, store)
        dataset = registry.load(name)
    else:
        path = system.resolve_path(d.path)  # a file, or shared:NAME/FILE
        dataset = Dataset.from_file(path, format=d.format, name=d.name, id_field=d.id,
                                    split_field=d.split_field)
        if store is not None:
            DatasetRegistry(store).save(dataset)
    if d.split:
        dataset = dataset.select_split(d.split)
    return dataset


def plan_eval(
    system: System,
    name: str,
    *,
    store: Store | None,
    limit: int | None = None,
    use_cache: bool = True,
    prompts: Mapping[str, PromptVersion] | None = None,
    llm_versions: Mapping[str, LLMVersion] | None = None,
) -> EvalPlan:
    """The plan for the eval ``name`` of ``system``.

    Args:
        system: the loaded spec.
        name: which entry of ``evals:``.
        store: for the dataset registry, the output cache and the prompt registry.
        limit: evaluate only the first ``limit`` examples (after ``sample``).
        use_cache: reuse cached model outputs.
        prompts: prompt versions by name that a workflow's LLM steps use instead of the
            production versions (:mod:`compound.orchestration.prompts`).
        llm_versions: LLM versions by name (their adapters) that the target uses instead of
            the production versions (:mod:`compound.intelligence.llm.versions`).
    """
    from compound.evaluation.cache import OutputCache
    from compound.strategy.cache.llm import CachedLLM

    if name not in system.evals:
        raise UserError(
            f"system '{system.name}' has no eval named '{name}'{did_you_mean(name, system.evals)};"
            f" declared evals: {', '.join(system.evals) or 'none'}"
        )
    spec = system.evals[name]
    dataset = load_dataset(system, spec, store)
    if spec.sample:
        dataset = dataset.sample(spec.sample, seed=spec.seed)
    if limit:
        dataset = dataset.head(limit)
    cache = OutputCache(store, enabled=use_cache) if store is not None else None
    target = build_target(spec.target, system, cache=cache, seed=spec.seed, store=store,
                          prompts=prompts, llm_versions=llm_versions)
    from compound.loop_defaults import eval_defaults

    defaults = eval_defaults(system, name)  # what the loop type measures when spec is silent
    metric_specs = spec.metric_specs() or defaults or _metrics_from_criteria(system, name)
    base = str(system.base_dir)
    judge = None
    judged = any(m.registered_name == "llm_judge" for m in defaults)
    if spec.judge is not None or judged:
        from compound.intelligence.llm import build_llm

        judge_name = (spec.judge.model if spec.judge else None) or system.default_llm()
        judge = build_llm(system.llms()[judge_name])
        judge = judge if cache is None else CachedLLM(judge, cache)
    return EvalPlan(
        name=name, dataset=dataset,
        examples=dataset.examples(inputs=spec.dataset.inputs, expected=spec.dataset.expected),
        target=target, metrics=[resolve_metric(m, base=base) for m in metric_specs],
        judge=judge, judge_spec=spec.judge, suites=list(spec.suites), seed=spec.seed,
        concurrency=spec.concurrency, bootstrap=spec.bootstrap,
        max_error_rate=spec.max_error_rate, system=system.name,
    )


def _metrics_from_criteria(system: System, name: str) -> list[MetricSpec]:
    from compound.metrics.registry import available_metrics

    known = set(available_metrics())
    specs = []
    for key, criterion in system.criteria.items():
        metric_name = criterion.metric or key
        if metric_name in known:
            specs.append(MetricSpec(name=metric_name))
    if not specs:
        raise UserError(
            f"eval '{name}' declares no metrics and no criterion names a registered metric; "
            f"add 'metrics:' to the eval (available: {', '.join(sorted(known))})"
        )
    return list({s.name: s for s in specs}.values())


def build_target(
    spec: TargetSpec, system: System, *, cache: OutputCache | None, seed: int = 0,
    store: Store | None = None, prompts: Mapping[str, PromptVersion] | None = None,
    llm_versions: Mapping[str, LLMVersion] | None = None,
) -> Target:
    """The target an eval's ``target:`` section describes (``store`` serves trained models,
    rails, a workflow's prompts and the LLMs' adapters; the system's own store when None;
    ``prompts`` pins prompt versions of a workflow's steps, ``llm_versions`` LLM versions)."""
    if spec.kind == "function":
        assert spec.function is not None
        from compound.code.references import resolve

        fn = resolve(spec.function, base=system.base_dir, what="target.function")
        from compound.evaluation.targets import FunctionTarget

        return FunctionTarget(fn, options=spec.options, name=spec.function)
    if spec.kind == "workflow":
        from compound.evaluation.workflow_target import WorkflowTarget

        assert spec.workflow is not None
        return WorkflowTarget.from_system(system, spec.workflow,
                                          cache=cache if spec.cache else None,
                                          output=spec.output, store=store, prompts=prompts,
                                          llm_versions=llm_versions)
    if spec.kind == "rail":
        from compound.evaluation.component_targets import RailTarget

        assert spec.rail is not None
        return RailTarget.from_system(system, spec.rail, store=store, contexts=spec.contexts)
    if spec.model in system.predictors():
        from compound.evaluation.component_targets import PredictorTarget

        return PredictorTarget.from_system(system, spec.model, store=store,
                                           output=spec.output)  # type: ignore[arg-type]
    from compound.evaluation.targets import LLMTarget
    from compound.intelligence.llm.versions import system_llm

    name = spec.model or system.default_llm()
    llm = system_llm(system, name, store, (llm_versions or {}).get(name))
    return LLMTarget(
        llm, prompt=spec.prompt, system=spec.system, json_schema=spec.json_schema,
        output=spec.output, contexts=spec.contexts, max_tokens=spec.max_tokens,
        temperature=spec.temperature, seed=seed, cache=cache if spec.cache else None,
        name=name,
    )
