"""Batch predictions over Ray actors (``compound predict ... --on ray``).

The driver reads the input file in chunks and writes the output file, in the input's order;
each actor builds the predictor or the workflow once from the spec file and predicts the
chunks it is sent. At most two chunks per actor are in flight, so a file of any size streams
through with bounded memory.

Example (a sketch; ``compound predict SPEC intent -i in.parquet -o out.parquet --on ray``
does this)::

    with RayCluster("ray", cpus=4), RayChunks(spec_path, "intent", actors=4) as chunks:
        predict_file(BatchModel(system, "intent"), "in.parquet", "out.parquet",
                     run_chunks=chunks)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from compound.ray_runtime import apply_env, forwarded_env, ray_module, unwrap
from compound.scale.cluster import DEFAULT_ACTORS


class PredictWorker:
    """One Ray actor's half: the model built once, then chunks predicted.

    Args:
        spec: the spec file (a path every worker can read).
        name: the predictor or workflow.
        env: the driver's ``COMPOUND_*`` variables (which store holds the model).
    """

    def __init__(self, spec: str, name: str, *, env: dict[str, str]) -> None:
        self.spec = spec
        self.name = name
        self.env = env
        self._model: Any = None

    def load(self) -> int:
        """Build and load the model; returns the process id."""
        import os

        from compound.production.batch.predict import BatchModel
        from compound.system import System

        apply_env(self.env)
        self._model = BatchModel(System.load(Path(self.spec)), self.name)
        self._model.load()
        return os.getpid()

    def predict(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        assert self._model is not None, "load() first"
        return self._model.predict(rows)


class RayChunks:
    """Predicts chunks on Ray actors and gives them back in order (a ``run_chunks`` for
    :func:`~compound.production.batch.predict.predict_file`). The actors start on the first
    file and serve the next ones too, until :meth:`close` (or the end of a ``with`` block).

    Args:
        spec: the spec file.
        name: the predictor or workflow.
        actors: how many actors (each loads the model once).

    Attributes:
        pids: the process id of each actor once loaded (tests read it).
    """

    def __init__(self, spec: str | Path, name: str, *, actors: int = DEFAULT_ACTORS) -> None:
        self.spec = str(Path(spec).resolve())
        self.name = name
        self.actors = actors
        self.pids: list[int] = []
        self._workers: list[Any] = []

    def __enter__(self) -> RayChunks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> list[Any]:
        """Start the actors and load the model in each (once: later files reuse them)."""
        if not self._workers:
            ray = ray_module()
            remote = ray.remote(num_cpus=1, max_restarts=0)(PredictWorker)
            self._workers = [remote.remote(self.spec, self.name, env=forwarded_env())
                             for _ in range(self.actors)]
            try:
                self.pids = ray.get([w.load.remote() for w in self._workers])
            except Exception as exc:
                self.close()
                raise unwrap(exc) from None
        return self._workers

    def close(self) -> None:
        """Stop the actors."""
        if self._workers:
            ray = ray_module()
            for worker in self._workers:
                ray.kill(worker)
            self._workers = []

    def __call__(self, chunks: Iterable[list[dict[str, Any]]]
                 ) -> Iterator[list[dict[str, Any]]]:
        ray = ray_module()
        workers = self.start()
        busy = dict.fromkeys(range(len(workers)), 0)
        pending: deque[tuple[Any, int]] = deque()
        for chunk in chunks:
            if len(pending) >= 2 * len(workers):
                yield self._oldest(ray, pending, busy)
            chosen = min(busy, key=busy.__getitem__)
            busy[chosen] += 1
            pending.append((workers[chosen].predict.remote(chunk), chosen))
        while pending:
            yield self._oldest(ray, pending, busy)

    @staticmethod
    def _oldest(ray: Any, pending: deque[tuple[Any, int]], busy: dict[int, int]
                ) -> list[dict[str, Any]]:
        ref, worker = pending.popleft()
        try:
            rows = ray.get(ref)
        except Exception as exc:
            raise unwrap(exc) from None
        busy[worker] -= 1
        return rows
