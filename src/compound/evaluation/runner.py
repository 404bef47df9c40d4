"""The eval runner: a target over every example, in parallel, resumable, every row accounted for.

Each row's result is written to the store as soon as it is known, under a key that depends only
on the row, so a run killed midway resumes where it stopped (same run id, no row lost, none
twice) when the same eval is run again with the same configuration. Model outputs go through
the output cache, so re-running what already ran costs nothing.

Nothing is dropped silently: a row with a missing field is ``invalid``, a row the target failed
on is ``error`` (its quality metrics score the metric's ``on_error`` value, 0 by default, so
failures count against the system), a metric that raised is counted per metric; all three are
stored, counted and shown. A target whose output is structured (a record with no text) under a
metric comparing labels or numbers stops the run with a :class:`~compound.errors.UserError`
saying which field to score, instead of scoring 0 on every row.

Example:
    >>> from compound.evaluation.datasets import Dataset
    >>> from compound.evaluation.plan import EvalPlan
    >>> from compound.evaluation.targets import FunctionTarget
    >>> from compound.store import MemoryStore
    >>> ds = Dataset([{"q": "2+2?", "a": "4"}, {"q": "3+3?", "a": "6"}, {"q": "1+1?"}], name="m")
    >>> plan = EvalPlan.simple("math", ds, FunctionTarget(lambda x: "4"), ["exact_match"],
    ...                        inputs=["q"], expected="a")
    >>> run = EvalRunner(MemoryStore(), progress=False).run(plan)
    >>> run.counts, run.metric("exact_match").value
    ({'total': 3, 'ok': 2, 'error': 0, 'invalid': 1}, 0.5)
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Protocol

from compound.errors import UserError
from compound.evaluation.datasets import Example, content_hash
from compound.evaluation.intervals import bootstrap, bootstrap_corpus
from compound.evaluation.plan import EvalPlan, NamedMetric
from compound.evaluation.results import (
    MetricSummary,
    RowResult,
    RunRepository,
    RunSummary,
    compact,
)
from compound.evaluation.targets import MissingInput, TargetOutput, as_output, fingerprint_of
from compound.store import Store


def plan_fingerprint(plan: EvalPlan) -> str:
    """What must match for a run to be resumed: data, target, metrics and seed."""
    metrics = [[m.name, m.metric.name, dict(m.bound.options), m.aggregate] for m in plan.metrics]
    return content_hash([plan.name, plan.dataset.version, [e.id for e in plan.examples],
                         fingerprint_of(plan.target), metrics, plan.seed])


class RowExecutor(Protocol):
    """Evaluates rows of a plan wherever it runs them, yielding each :class:`RowResult` as
    it is known (in any order: rows are stored by index). Closing the iterator early
    cancels what is pending."""

    def evaluate(
        self, runner: EvalRunner, plan: EvalPlan, todo: list[tuple[int, Example]]
    ) -> Iterator[RowResult]: ...


class ThreadRows:
    """The local executor: the target loaded once, rows on ``plan.concurrency`` threads
    (fewer when the target says it answers fewer at a time)."""

    def evaluate(
        self, runner: EvalRunner, plan: EvalPlan, todo: list[tuple[int, Example]]
    ) -> Iterator[RowResult]:
        load = getattr(plan.target, "load", None)
        if callable(load):
            load()
        workers = row_workers(plan)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            pending: set[Future[RowResult]] = set()
            queue = iter(todo)
            try:
                while True:
                    while len(pending) < workers * 2:
                        item = next(queue, None)
                        if item is None:
                            break
                        pending.add(pool.submit(runner.evaluate_row, plan, *item))
                    if not pending:
                        break
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        yield future.result()
            finally:
                for future in pending:
                    future.cancel()


def row_workers(plan: EvalPlan) -> int:
    """How many rows of ``plan`` one process evaluates at a time: the eval's
    ``concurrency``, capped by the target's ``max_concurrency`` (an in-process model)."""
    limit = getattr(plan.target, "max_concurrency", None)
    return min(plan.concurrency, limit) if limit else plan.concurrency


class EvalRunner:
    """Runs :class:`~compound.evaluation.plan.EvalPlan` objects and stores their results.

    Args:
        store: where runs, rows and cached outputs live.
        progress: show a Rich progress bar (on stderr).
        on_row: called with each row result as it is stored (for tests and live views).
        rows: who evaluates the rows: :class:`ThreadRows` (threads in this process, the
            default) or another :class:`RowExecutor`, such as Ray actors
            (:class:`compound.scale.eval.RayRows`). Planning, storing each row, resuming and
            summarising stay here whichever it is.
    """

    def __init__(
        self,
        store: Store,
        *,
        progress: bool = True,
        on_row: Callable[[RowResult], None] | None = None,
        rows: RowExecutor | None = None,
    ) -> None:
        self.store = store
        self.runs = RunRepository(store)
        self.progress = progress
        self.on_row = on_row
        self.rows = rows if rows is not None else ThreadRows()

    def run(self, plan: EvalPlan, *, resume: bool = True, run_id: str | None = None) -> RunSummary:
        """Run ``plan`` (or finish an interrupted run of it) and return the summary.

        Args:
            plan: what to run.
            resume: continue the latest unfinished run of the same plan, if any.
            run_id: use this id (resuming it if it exists).
        """
        fingerprint = plan_fingerprint(plan)
        run = None
        if run_id is not None and self.store.get("eval_runs", run_id) is not None:
            run = self.runs.get(run_id)
        elif resume and run_id is None:
            run = self.runs.incomplete(plan.name, fingerprint)
        if run is None:
            run = RunSummary(
                id=run_id or new_run_id(plan.name), eval=plan.name, system=plan.system,
                fingerprint=fingerprint, seed=plan.seed,
                dataset={"name": plan.dataset.name, "version": plan.dataset.version,
                         "rows": len(plan.examples), "source": plan.dataset.source},
                target={"name": getattr(plan.target, "name", type(plan.target).__name__),
                        "fingerprint": fingerprint_of(plan.target)},
            )
            self.runs.save(run)
        done = self.runs.done_indices(run.id)
        todo = [(i, ex) for i, ex in enumerate(plan.examples) if i not in done]
        if todo:
            self._execute(plan, run, todo, already=len(done))
        return self.finish(plan, run)

    # -- rows -------------------------------------------------------------------------------

    def _execute(
        self, plan: EvalPlan, run: RunSummary, todo: list[tuple[int, Example]], already: int
    ) -> None:
        with _Progress(self.progress, f"{plan.name} ({run.id})", len(plan.examples),
                       already) as bar:
            rows = self.rows.evaluate(self, plan, todo)
            try:
                for row in rows:
                    self.runs.put_row(run.id, row)
                    if self.on_row is not None:
                        self.on_row(row)
                    bar.advance(row.status)
            finally:
                close = getattr(rows, "close", None)
                if callable(close):
                    close()  # a generator cancels what it has pending

    def evaluate_row(self, plan: EvalPlan, index: int, example: Example) -> RowResult:
        """Run the target on one example and score it; never raises for a row's failure."""
        human = None
        if plan.judge_spec is not None and plan.judge_spec.human_field:
            human = example.row.get(plan.judge_spec.human_field)
        base = {"index": index, "id": example.id, "inputs": compact(dict(example.inputs)),
                "expected": compact(example.expected), "human": human}
        if not example.valid:
            return RowResult(status="invalid", error="; ".join(example.problems), **base)
        try:
            output = plan.target.run(example.inputs)
            if not isinstance(output, TargetOutput):
                output = as_output(output)
        except MissingInput as exc:
            return RowResult(status="invalid", error=str(exc), **base)
        except UserError:  # a configuration mistake would fail every row: stop and say so
            raise
        except Exception as exc:  # a failing row is recorded, not fatal
            scores = {m.name: m.metric.on_error for m in plan.metrics if not m.metric.corpus}
            return RowResult(status="error", error=str(exc)[:2000],
                             error_type=type(exc).__name__, scores=scores, **base)
        if output.structured is not None:  # would score 0 on every row: stop and say why
            from compound.evaluation.checks import refuse_structured

            refuse_structured(plan, output)
        row = RowResult(
            status="ok", output=output.text, data=compact(output.data),
            contexts=len(output.contexts), latency_s=output.latency_s, cost_usd=output.cost_usd,
            tokens=output.prompt_tokens + output.completion_tokens, cached=output.cached,
            **base,
        )
        available = {"prediction": output.text, "reference": example.expected, "output": output,
                     "example": example, "inputs": example.inputs, "contexts": output.contexts,
                     "judge": plan.judge}
        for named in plan.metrics:
            if named.metric.corpus:
                continue
            try:
                score = named.bound.score_row(**available)
            except Exception as exc:  # a metric bug must not lose the row
                row.metric_errors[named.name] = f"{type(exc).__name__}: {exc}"[:500]
                row.scores[named.name] = None
                continue
            row.scores[named.name] = score.value
            if score.reason:
                row.reasons[named.name] = score.reason[:1000]
        return row

    # -- summary ----------------------------------------------------------------------------

    def finish(self, plan: EvalPlan, run: RunSummary) -> RunSummary:
        """Summarise the stored rows of ``run`` (metrics, suites, judge agreement) and save."""
        rows = self.runs.rows(run.id)
        statuses = [r.status for r in rows]
        run.counts = {"total": len(plan.examples), "ok": statuses.count("ok"),
                      "error": statuses.count("error"), "invalid": statuses.count("invalid")}
        run.cached = sum(r.cached for r in rows)
        run.spent_usd = sum(r.cost_usd for r in rows if not r.cached)
        run.metric_errors = {}
        run.metrics = [self._summarise(plan, named, rows, run.metric_errors)
                       for named in plan.metrics]
        if plan.suites:
            from compound.evaluation.suites import run_suite

            run.suites = [run_suite(s, plan, progress=self.progress) for s in plan.suites]
        run.judge_agreement = _agreement(plan, rows)
        run.status = "complete"
        run.finished = time.time()
        self.runs.save(run)
        return run

    def _summarise(
        self, plan: EvalPlan, named: NamedMetric, rows: list[RowResult], errors: dict[str, str]
    ) -> MetricSummary:
        metric = named.metric
        scored = [r for r in rows if r.status != "invalid"]
        b = plan.bootstrap
        common = {"name": named.name, "metric": metric.name, "aggregate": named.aggregate,
                  "higher_is_better": metric.higher_is_better}
        if metric.corpus:
            usable = [r for r in scored if r.status == "ok" or metric.on_error is not None]
            try:
                value, low, high = bootstrap_corpus(
                    named.bound.score_corpus, [r.output for r in usable],
                    [r.expected for r in usable], resamples=min(b.resamples, 200),
                    confidence=b.confidence, seed=plan.seed,
                )
            except Exception as exc:  # shown as a metric error, the run still completes
                errors[named.name] = f"{type(exc).__name__}: {exc}"[:500]
                return MetricSummary(value=None, n=0, errors=1, **common)
            return MetricSummary(value=value, low=low, high=high, n=len(usable),
                                 not_applicable=len(scored) - len(usable), **common)
        values = [r.scores[named.name] for r in scored if r.scores.get(named.name) is not None]
        failed = sum(named.name in r.metric_errors for r in scored)
        missing = len(scored) - len(values) - failed
        if not values:
            return MetricSummary(value=None, n=0, not_applicable=missing, errors=failed, **common)
        value, low, high = bootstrap(
            [float(v) for v in values if v is not None], how=named.aggregate,
            resamples=b.resamples, confidence=b.confidence, seed=plan.seed,
        )
        return MetricSummary(value=value, low=low, high=high, n=len(values),
                             not_applicable=missing, errors=failed, **common)


def new_run_id(eval_name: str) -> str:
    """``<eval>-<UTC time>-<4 hex>``: sortable by time, unique."""
    return f"{eval_name}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{secrets.token_hex(2)}"


def _agreement(plan: EvalPlan, rows: list[RowResult]) -> dict[str, Any] | None:
    spec = plan.judge_spec
    judged = [m for m in plan.metrics if m.metric.name == "llm_judge"]
    if spec is None or not spec.human_field or not judged:
        return None
    from compound.evaluation.judges.agreement import judge_agreement

    low, high = spec.scale
    name = judged[0].name
    pairs = [
        (round(low + float(r.scores[name]) * (high - low)), int(r.human))  # type: ignore[arg-type]
        for r in rows
        if r.status == "ok" and r.scores.get(name) is not None and _is_int(r.human)
    ]
    if len(pairs) < 2:
        return {"n": len(pairs), "kappa": None, "trusted": False, "min_kappa": spec.min_kappa}
    agreement = judge_agreement([p[0] for p in pairs], [p[1] for p in pairs],
                                min_kappa=spec.min_kappa)
    return {"n": agreement.n, "kappa": agreement.kappa, "observed": agreement.observed,
            "trusted": agreement.trusted, "min_kappa": spec.min_kappa, "metric": name}


def _is_int(value: Any) -> bool:
    try:
        return value is not None and float(value) == int(float(value))
    except (TypeError, ValueError):
        return False


class _Progress:
    """A Rich progress bar on stderr counting rows, errors and invalid rows."""

    def __init__(self, enabled: bool, title: str, total: int, already: int) -> None:
        self.enabled = enabled
        self.title = title
        self.total = total
        self.already = already
        self.counts = {"ok": 0, "error": 0, "invalid": 0}
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from compound.console import row_progress

            # the title holds the eval's name from the spec: shown as text, never as markup
            self._progress = row_progress()
            self._progress.__enter__()
            note = f" (resuming: {self.already} done)" if self.already else ""
            self._task = self._progress.add_task(
                self.title + note, total=self.total, completed=self.already, status="",
            )
        return self

    def advance(self, status: str) -> None:
        self.counts[status] = self.counts.get(status, 0) + 1
        if self._progress is not None:
            detail = ", ".join(f"{v} {k}" for k, v in self.counts.items() if k != "ok" and v)
            self._progress.update(self._task, advance=1, status=detail)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)
