"""The three families of errors compound raises, kept apart on purpose.

* :class:`UserError`: the user asked for something wrong (a bad spec, a bad argument, a
  missing column). The message says what was wrong, what was expected, what was received
  and what to do. The CLI prints it without a traceback and exits with code 2.
* :class:`RuntimeFailure`: the world failed (a model timed out, the store is unavailable).
  Strategies such as fallback chains act on the subclasses.
* Signals meant for a model (a tool error returned as an observation) are not exceptions at
  all: they are values the workflow layer hands back to the model.
"""

from __future__ import annotations


class CompoundError(Exception):
    """Base class of every error compound raises on purpose."""


class UserError(CompoundError):
    """Something the user asked for is wrong; the message says how to fix it."""


class SpecError(UserError):
    """A `compound.yaml` is invalid.

    Args:
        problems: one entry per problem, each already formatted with file, line and field.
        path: the spec file, when it came from a file.
    """

    def __init__(self, problems: list[str], *, path: str | None = None) -> None:
        self.problems = problems
        self.path = path
        head = f"{path}: " if path else ""
        count = f"{len(problems)} problems" if len(problems) > 1 else "1 problem"
        super().__init__(f"{head}invalid system spec ({count}):\n" + "\n".join(
            f"  - {problem}" for problem in problems
        ))


class MissingDependency(UserError):
    """An optional part of compound is used without its extra installed."""

    def __init__(self, what: str, extra: str, module: str) -> None:
        self.extra = extra
        super().__init__(
            f"{what} needs the optional dependency '{module}', which is not installed. "
            f"Install it with: pip install 'compound[{extra}]'"
        )


class RuntimeFailure(CompoundError):
    """Something outside the user's control failed while running."""


class StoreError(RuntimeFailure):
    """The store could not be opened, migrated, read or written."""


class StoreFull(StoreError):
    """A write did not happen because the store's disk (or its size cap) is full."""


def require(module: str, *, extra: str, what: str) -> object:
    """Import an optional dependency, or raise :class:`MissingDependency` naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependency(what, extra, module) from exc
