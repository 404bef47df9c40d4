"""Evaluation as a product (step 6): versioned datasets, metrics, judges, behavioural suites,
a resumable runner with an output cache, the gate CI uses, and the HTML report.

Names are resolved on first use, so importing :mod:`compound.system` (which needs
:mod:`compound.evaluation.spec`) stays light.

Example:
    >>> from compound.evaluation import Dataset, EvalPlan, EvalRunner, FunctionTarget
    >>> from compound.store import MemoryStore
    >>> ds = Dataset([{"q": "Capital of France?", "a": "Paris"}], name="geo")
    >>> plan = EvalPlan.simple("geo", ds, FunctionTarget(lambda x: "Paris."), ["normalized_match"],
    ...                        inputs=["q"], expected="a")
    >>> EvalRunner(MemoryStore(), progress=False).run(plan).metric("normalized_match").value
    1.0
"""

import typing as _typing

from compound.lazy import attach as _attach

_EXPORTS: dict[str, str] = {
    "Dataset": "compound.evaluation.datasets",
    "Example": "compound.evaluation.datasets",
    "DatasetRegistry": "compound.evaluation.dataset_store",
    "dataset_from_stream": "compound.evaluation.trace_datasets",
    "dataset_from_traces": "compound.evaluation.trace_datasets",
    "EvalSpec": "compound.evaluation.spec",
    "EvalPlan": "compound.evaluation.plan",
    "plan_eval": "compound.evaluation.plan",
    "EvalRunner": "compound.evaluation.runner",
    "RunSummary": "compound.evaluation.results",
    "RowResult": "compound.evaluation.results",
    "RunRepository": "compound.evaluation.results",
    "OutputCache": "compound.evaluation.cache",
    "Target": "compound.evaluation.targets",
    "TargetOutput": "compound.evaluation.targets",
    "LLMTarget": "compound.evaluation.targets",
    "FunctionTarget": "compound.evaluation.targets",
    "Metric": "compound.metrics",
    "Score": "compound.metrics",
    "metric": "compound.metrics",
    "get_metric": "compound.metrics",
    "RubricJudge": "compound.evaluation.judges",
    "PairwiseJudge": "compound.evaluation.judges",
    "compare_pairwise": "compound.evaluation.judges",
    "cohen_kappa": "compound.evaluation.judges",
    "check_gate": "compound.evaluation.gates",
    "bootstrap": "compound.evaluation.intervals",
    "write_report": "compound.evaluation.report",
    "EvalReport": "compound.evaluation.report",
}

__all__ = [
    "Dataset",
    "DatasetRegistry",
    "EvalPlan",
    "EvalReport",
    "EvalRunner",
    "EvalSpec",
    "Example",
    "FunctionTarget",
    "LLMTarget",
    "Metric",
    "OutputCache",
    "PairwiseJudge",
    "RowResult",
    "RubricJudge",
    "RunRepository",
    "RunSummary",
    "Score",
    "Target",
    "TargetOutput",
    "bootstrap",
    "check_gate",
    "cohen_kappa",
    "compare_pairwise",
    "dataset_from_stream",
    "dataset_from_traces",
    "get_metric",
    "metric",
    "plan_eval",
    "write_report",
]

if _typing.TYPE_CHECKING:
    from compound.evaluation.cache import OutputCache
    from compound.evaluation.dataset_store import DatasetRegistry
    from compound.evaluation.datasets import Dataset, Example
    from compound.evaluation.gates import check_gate
    from compound.evaluation.intervals import bootstrap
    from compound.evaluation.judges import (
        PairwiseJudge,
        RubricJudge,
        cohen_kappa,
        compare_pairwise,
    )
    from compound.evaluation.plan import EvalPlan, plan_eval
    from compound.evaluation.report import EvalReport, write_report
    from compound.evaluation.results import RowResult, RunRepository, RunSummary
    from compound.evaluation.runner import EvalRunner
    from compound.evaluation.spec import EvalSpec
    from compound.evaluation.targets import FunctionTarget, LLMTarget, Target, TargetOutput
    from compound.evaluation.trace_datasets import dataset_from_stream, dataset_from_traces
    from compound.metrics import Metric, Score, get_metric, metric


__getattr__, __dir__ = _attach(__name__, _EXPORTS)
