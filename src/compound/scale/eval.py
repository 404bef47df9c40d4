"""An eval's rows over Ray actors (``compound eval --on ray``).

The driver plans the eval exactly as a local run does and keeps everything but the rows:
the run record, each row stored as it arrives (so an interrupted run resumes, locally or
on Ray), the summary with its intervals, and the gate. Each actor loads the system once
(models, indexes, rails) by planning the same eval from the spec file, checks that its plan
is the driver's (same data, target, metrics and seed), and evaluates the batches of row
indices it is sent with the local runner's own :meth:`~EvalRunner.evaluate_row`. Model calls
go through the same output cache in the same store, so a row computed before is not
computed again.

Example (a sketch; ``compound eval SPEC --on ray --actors 8`` does this)::

    with RayCluster("ray", cpus=8):
        runner = EvalRunner(store, rows=RayRows(spec_path, actors=8))
        summary = runner.run(plan_eval(system, "qa", store=store))
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compound.evaluation.runner import EvalRunner, plan_fingerprint, row_workers
from compound.ray_runtime import apply_env, forwarded_env, ray_module, unwrap
from compound.scale.cluster import DEFAULT_ACTORS

if TYPE_CHECKING:
    from compound.evaluation.datasets import Example
    from compound.evaluation.plan import EvalPlan
    from compound.evaluation.results import RowResult

class EvalWorker:
    """One Ray actor's half: the system built once, then batches of rows evaluated.

    Args:
        spec: the spec file (a path every worker can read).
        eval_name, limit, use_cache: as given to :func:`~compound.evaluation.plan.plan_eval`.
        env: the driver's ``COMPOUND_*`` variables (which store to open).
    """

    def __init__(self, spec: str, eval_name: str, *, limit: int | None, use_cache: bool,
                 env: dict[str, str]) -> None:
        self.spec = spec
        self.eval_name = eval_name
        self.limit = limit
        self.use_cache = use_cache
        self.env = env
        self._plan: EvalPlan | None = None
        self._runner: EvalRunner | None = None

    def load(self, fingerprint: str) -> int:
        """Plan the eval, check it is the driver's, load the target; returns the process id."""
        import os

        from compound.errors import UserError
        from compound.evaluation.plan import plan_eval
        from compound.store import open_store
        from compound.system import System

        apply_env(self.env)
        system = System.load(Path(self.spec))
        store = open_store(system)
        plan = plan_eval(system, self.eval_name, store=store, limit=self.limit,
                         use_cache=self.use_cache)
        if plan_fingerprint(plan) != fingerprint:
            raise UserError(
                f"eval '{self.eval_name}' planned on a Ray worker differs from the driver's "
                "(its data, target or metrics); the spec folder and the store must be the "
                "same files on every node"
            )
        load = getattr(plan.target, "load", None)
        if callable(load):
            load()
        self._plan, self._runner = plan, EvalRunner(store, progress=False)
        return os.getpid()

    def evaluate(self, indices: list[int]) -> list[RowResult]:
        """The rows at ``indices``, on the eval's threads (as many as a local run uses)."""
        assert self._plan is not None and self._runner is not None, "load() first"
        plan, runner = self._plan, self._runner
        items = [(i, plan.examples[i]) for i in indices]
        workers = min(row_workers(plan), len(items))
        if workers <= 1:
            return [runner.evaluate_row(plan, i, ex) for i, ex in items]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(lambda item: runner.evaluate_row(plan, *item), items))


class RayRows:
    """Rows evaluated by Ray actors: a :class:`~compound.evaluation.runner.RowExecutor`.

    Args:
        spec: the spec file the plan came from (actors plan from it too).
        actors: how many actors (each loads the system once).
        limit, use_cache: as the driver's plan was made (``--limit``, ``--cache``).
        batch: rows per message to an actor; None: about a quarter of an actor's share,
            at most 32, so that slow rows do not leave other actors idle at the end.

    Attributes:
        pids: the process id of each actor once loaded (tests read it).
        load_seconds: how long the actors took to be ready (bench reads it).
    """

    def __init__(self, spec: str | Path, *, actors: int = DEFAULT_ACTORS,
                 limit: int | None = None, use_cache: bool = True,
                 batch: int | None = None) -> None:
        self.spec = str(Path(spec).resolve())
        self.actors = actors
        self.limit = limit
        self.use_cache = use_cache
        self.batch = batch
        self.pids: list[int] = []
        self.load_seconds = 0.0

    def evaluate(
        self, runner: EvalRunner, plan: EvalPlan, todo: list[tuple[int, Example]]
    ) -> Iterator[RowResult]:
        import time

        ray = ray_module()
        count = max(1, min(self.actors, len(todo)))
        size = self.batch or max(1, min(32, math.ceil(len(todo) / (count * 4))))
        batches = [[i for i, _ in todo[start:start + size]]
                   for start in range(0, len(todo), size)]
        remote = ray.remote(num_cpus=1, max_restarts=0)(EvalWorker)
        started = time.perf_counter()
        workers = [remote.remote(self.spec, plan.name, limit=self.limit,
                                 use_cache=self.use_cache, env=forwarded_env())
                   for _ in range(count)]
        pending: dict[Any, Any] = {}
        try:
            try:
                self.pids = ray.get([w.load.remote(plan_fingerprint(plan)) for w in workers])
            except Exception as exc:
                raise unwrap(exc) from None
            self.load_seconds = time.perf_counter() - started
            queue = iter(batches)
            for worker in workers:  # two batches each: one running, one waiting
                for _ in range(2):
                    if (indices := next(queue, None)) is not None:
                        pending[worker.evaluate.remote(indices)] = worker
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                worker = pending.pop(ready[0])
                try:
                    rows = ray.get(ready[0])
                except Exception as exc:
                    raise unwrap(exc) from None
                if (indices := next(queue, None)) is not None:
                    pending[worker.evaluate.remote(indices)] = worker
                yield from rows
        finally:  # killing the actors drops what they still had to do
            for worker in workers:
                ray.kill(worker)

