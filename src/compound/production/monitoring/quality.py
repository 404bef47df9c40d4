"""Quality over time from live traffic: online evaluators score a sample of runs as they end.

An online evaluator is a reference-free metric (no expected answer exists for live traffic:
``json_valid``, a length limit, an LLM judge with a rubric) applied to a sample of runs. Each
score goes to the stream ``quality`` (run id, metric, value, reason) and into the rollups, so
the dashboard charts the mean per interval next to the users' own signals (thumbs-up rate,
mean rating).

Scoring happens off the request path, on a worker thread, after the response has gone.

Example:
    >>> from compound.store import MemoryStore
    >>> store = MemoryStore()
    >>> short = OnlineEvaluator("short", lambda prediction: len(prediction) < 20, sample_rate=1.0)
    >>> short.score({"text": "a brief answer"})
    (1.0, '')
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from compound.production.serving_spec import OnlineEvalSpec
    from compound.store.base import Store

STREAM = "quality"


def output_text(output: Any) -> str:
    """The text a metric reads from a workflow's output: its ``text`` (or ``answer``,
    ``label``) field when it has one, else the output as JSON."""
    if isinstance(output, str):
        return output
    if isinstance(output, Mapping):
        for key in ("text", "answer", "label", "content"):
            if isinstance(output.get(key), str):
                return str(output[key])
    import json

    return json.dumps(output, ensure_ascii=False, default=str)


class OnlineEvaluator:
    """A reference-free metric scored on a sample of runs.

    Args:
        name: the series name in the dashboard and the store.
        metric: a function of ``prediction`` (and optionally ``inputs``) returning a number,
            bool or :class:`~compound.metrics.base.Score`; a registered metric's
            name; or a ``module:function`` reference.
        sample_rate: the share of runs scored.
        workflows: the workflows whose runs it scores (empty: all).
        options: the metric's options.
    """

    def __init__(self, name: str, metric: Callable[..., Any] | str, *, sample_rate: float = 1.0,
                 workflows: list[str] | None = None, options: Mapping[str, Any] | None = None,
                 seed: int | None = None) -> None:
        from compound.metrics.registry import (
            as_metric,
            get_metric,
            metric_from_function,
        )

        if isinstance(metric, str):
            found = metric_from_function(metric) if ":" in metric else get_metric(metric)
        else:
            found = as_metric(metric, name)
        self.name = name
        self.bound = found.bind(options)
        self.sample_rate = sample_rate
        self.workflows = set(workflows or [])
        self._random = random.Random(seed)

    @classmethod
    def from_spec(cls, name: str, spec: OnlineEvalSpec) -> OnlineEvaluator:
        return cls(name, spec.metric, sample_rate=spec.sample_rate, workflows=spec.workflows,
                   options=spec.options)

    def wants(self, workflow: str) -> bool:
        """Whether to score this run (its workflow, and the sample)."""
        if self.workflows and workflow not in self.workflows:
            return False
        return self.sample_rate >= 1.0 or self._random.random() < self.sample_rate

    def score(self, output: Any, inputs: Mapping[str, Any] | None = None
              ) -> tuple[float | None, str]:
        """The metric's value (None: not applicable) and its reason."""
        result = self.bound.score_row(prediction=output_text(output), output=output,
                                      inputs=dict(inputs or {}))
        return result.value, result.reason


def record_score(store: Store, *, evaluator: str, workflow: str, run_id: str,
                 value: float, reason: str) -> None:
    """Keep one online score (stream ``quality``)."""
    store.append(STREAM, {"metric": evaluator, "workflow": workflow, "run_id": run_id,
                          "value": value, "reason": reason[:500]})
