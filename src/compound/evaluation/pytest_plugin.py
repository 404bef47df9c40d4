"""A pytest plugin for writing evals as tests.

Installed with compound (entry point ``pytest11``), or enabled in a ``conftest.py`` with
``pytest_plugins = ["compound.evaluation.pytest_plugin"]``. It adds one fixture,
``compound_eval``, and imports nothing heavy until a test uses it::

    from compound.evaluation import Dataset, FunctionTarget

    def test_faq_answers(compound_eval):
        ds = Dataset.from_file("evals/faq.jsonl")
        run = compound_eval.run(ds, FunctionTarget(my_system), ["token_f1", "contains"],
                                inputs=["question"], expected="answer")
        compound_eval.require(run, token_f1=0.6, contains=0.8)

A failed requirement fails the test with the metric table (values, intervals, error counts).
Runs go to an in-memory store; ``--compound-store PATH`` keeps them (and the output cache, so
re-running unchanged tests costs nothing) in a SQLite file instead. The terminal summary lists
every eval run in the session.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from compound.evaluation.datasets import Dataset
    from compound.evaluation.results import RunSummary
    from compound.store import Store

_RUNS_KEY = pytest.StashKey[list[Any]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("compound", "compound evals")
    group.addoption(
        "--compound-store", default=None, metavar="PATH",
        help="SQLite file keeping eval runs and cached model outputs across sessions",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "compound_eval: an evaluation written as a test")
    config.stash[_RUNS_KEY] = []


class EvalSession:
    """What the ``compound_eval`` fixture gives a test.

    Args:
        store: where runs and cached outputs go.
        name: the default eval name (the test's name).
        record: the session's list of runs, for the terminal summary.
    """

    def __init__(self, store: Store, *, name: str, record: list[Any]) -> None:
        self.store = store
        self.name = name
        self.record = record

    def run(
        self,
        dataset: Dataset,
        target: Any,
        metrics: Sequence[Any],
        *,
        name: str | None = None,
        inputs: Sequence[str] | dict[str, str] | None = None,
        expected: str | None = None,
        **settings: Any,
    ) -> RunSummary:
        """Run ``target`` over ``dataset`` and score it (see :class:`EvalPlan.simple`)."""
        from compound.evaluation.plan import EvalPlan
        from compound.evaluation.runner import EvalRunner
        from compound.evaluation.targets import FunctionTarget, Target

        if not isinstance(target, Target) and callable(target):
            target = FunctionTarget(target)
        plan = EvalPlan.simple(name or self.name, dataset, target, metrics, inputs=inputs,
                               expected=expected, **settings)
        run = EvalRunner(self.store, progress=False).run(plan)
        self.record.append(run)
        return run

    def require(self, run: RunSummary, **minimums: float) -> None:
        """Fail the test unless each named metric reaches its minimum (for lower-is-better
        metrics, stays at or under it).

        Raises:
            AssertionError: listing every unmet requirement and the run's table.
        """
        from compound.evaluation.table import run_table

        problems = []
        for metric_name, bound in minimums.items():
            try:
                summary = run.metric(metric_name)
            except KeyError as exc:
                problems.append(str(exc.args[0]))
                continue
            value = summary.value
            ok = value is not None and (
                value >= bound if summary.higher_is_better else value <= bound
            )
            if not ok:
                op = ">=" if summary.higher_is_better else "<="
                problems.append(f"{metric_name} = {value if value is None else f'{value:.4g}'},"
                                f" needs {op} {bound:g}")
        if problems:
            from compound.console import new_console

            buffer = io.StringIO()
            new_console(file=buffer, width=110, color_system=None).print(run_table(run))
            raise AssertionError("eval requirements not met:\n  " + "\n  ".join(problems)
                                 + "\n" + buffer.getvalue())


@pytest.fixture
def compound_eval(request: pytest.FixtureRequest) -> Iterator[EvalSession]:
    """Run evals inside a test and require metric levels; see the module docstring."""
    from compound.store import MemoryStore, SQLiteStore

    path = request.config.getoption("--compound-store")
    store: Store = SQLiteStore(path) if path else MemoryStore()
    try:
        yield EvalSession(store, name=request.node.name, record=request.config.stash[_RUNS_KEY])
    finally:
        store.close()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    runs = config.stash.get(_RUNS_KEY, [])
    if not runs:
        return
    terminalreporter.section("compound evals")
    for run in runs:
        values = ", ".join(
            f"{m.name}={m.value:.3f}" if m.value is not None else f"{m.name}=-" for m in run.metrics
        )
        counts = run.counts
        terminalreporter.write_line(
            f"{run.eval}: {values} ({counts.get('total', 0)} rows, {counts.get('error', 0)} "
            f"errors, {counts.get('invalid', 0)} invalid)"
        )
