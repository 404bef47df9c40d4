"""Training work as Ray tasks (``compound train --on ray``, ``compound improve --on ray``):
the folds of a cross-fitted model fitted in parallel, each a task.

What a task gets is what the local loop would use (the same encoded rows, folds and seeds),
so the out-of-fold scores, the calibrator fitted on them and the registered model are the
ones a local run gives. The rows are put in Ray's object store once and shared by the tasks.

Example:
    >>> fan_out = RayFanOut()
    >>> fan_out.cpus
    1
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from compound.ray_runtime import ray_module, unwrap


class RayFanOut:
    """A :class:`~compound.intelligence.ml.crossfit.FanOut` of Ray tasks.

    Args:
        cpus: CPUs each task reserves (a learner may use more threads than one).
    """

    def __init__(self, *, cpus: int = 1) -> None:
        self.cpus = cpus
        self.tasks = 0  # sent so far, so that a command can say when nothing was


    def map(self, fn: Callable[..., Any], shared: tuple[Any, ...],
            items: Sequence[tuple[Any, ...]]) -> list[Any]:
        """``[fn(*shared, *item) for item in items]``, each call a Ray task."""
        ray = ray_module()
        task = ray.remote(num_cpus=self.cpus, max_retries=0)(fn)
        refs = [ray.put(value) for value in shared]  # sent once, read by every task
        self.tasks += len(items)
        try:
            return list(ray.get([task.remote(*refs, *item) for item in items]))
        except Exception as exc:
            raise unwrap(exc) from None
