"""A Rich progress bar over the stages of training, or nothing when there is no console.

Example:
    >>> with Stages(None, "training intent") as stages:
    ...     stages.at(0.5, "fitting")
    ...     stages.span(0.5, 1.0)(0.5, "tree 10")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from compound.intelligence.ml.learners.base import FitProgress

if TYPE_CHECKING:
    from rich.console import Console


class Stages:
    """A progress bar from 0 to 1, labelled with the current stage.

    Args:
        console: where to draw (the CLI passes stderr); None draws nothing.
        title: the bar's label.
    """

    def __init__(self, console: Console | None, title: str) -> None:
        self.console = console
        self.title = title
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> Stages:
        if self.console is not None:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("{task.description}", markup=False), BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),
                TimeElapsedColumn(), TextColumn("{task.fields[stage]}", markup=False),
                console=self.console, transient=False,
            )
            self._progress.__enter__()
            self._task = self._progress.add_task(self.title, total=1.0, stage="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)

    def at(self, fraction: float, stage: str) -> None:
        """Move the bar to ``fraction`` and show ``stage``."""
        if self._progress is not None:
            self._progress.update(self._task, completed=fraction, stage=stage)

    def span(self, start: float, end: float) -> FitProgress:
        """A callback mapping a step's own 0-1 progress onto ``[start, end]`` of the bar."""

        def report(fraction: float, stage: str) -> None:
            self.at(start + (end - start) * min(max(fraction, 0.0), 1.0), stage)

        return report
