"""Where Ray work runs: ``--on ray`` (a local Ray started for the command, stopped after it)
or ``--on ray://HOST:PORT`` (a running cluster, through the Ray client).

A remote address is probed with a plain TCP connection first, so a wrong or unreachable one
fails in seconds with a message saying so, instead of after the Ray client's minute of
retries. When Ray is already initialised in the process (a test session, a notebook), that
Ray is used and left running.

Starting, joining and stopping Ray is :class:`compound.ray_runtime.RayRuntime`'s, which
`compound serve --on ray` uses too. Workers receive the driver's ``COMPOUND_*`` environment
(the store, the datasets folder), so an actor opens the store the command opened. On a
remote cluster the spec folder must be at the same path on every node, and the store should
be one they all reach (PostgreSQL, ``store.url``): with SQLite each node would keep its own
output cache.

Example:
    >>> parse_on("ray"), parse_on("ray://10.0.0.5:10001")
    (None, 'ray://10.0.0.5:10001')
    >>> try:
    ...     parse_on("spark")
    ... except UserError as exc:
    ...     print(str(exc)[:57])
    --on expects 'ray' or 'ray://HOST:PORT'; received 'spark'
"""

from __future__ import annotations

from types import TracebackType

from compound.errors import UserError
from compound.ray_runtime import RayRuntime

#: Actors when ``--actors`` is not given: enough to overlap model latency, few enough that
#: the system is not loaded too many times.
DEFAULT_ACTORS = 4


def parse_on(on: str) -> str | None:
    """The Ray address ``--on`` names: None for a local Ray, else the ``ray://`` address.

    Raises:
        UserError: ``on`` is neither ``ray`` nor ``ray://HOST:PORT``.
    """
    if on == "ray":
        return None
    if on.startswith("ray://"):
        host, _, port = on.removeprefix("ray://").rpartition(":")
        if host and port.isdigit():
            return on
    raise UserError(f"--on expects 'ray' or 'ray://HOST:PORT'; received {on!r} (for example "
                    "--on ray for a local Ray, --on ray://head-node:10001 for a cluster)")


class RayCluster:
    """Ray for one command: connected on entry, and stopped on exit when it started it.

    Args:
        on: ``ray`` or ``ray://HOST:PORT`` (see :func:`parse_on`).
        cpus: logical CPUs of a local Ray (at least the actors a command asks for, so that
            each gets its slot); None: the machine's cores.

    Raises:
        UserError: a bad ``on``, ``compound[ray]`` missing, or the address unreachable.
    """

    def __init__(self, on: str, *, cpus: int | None = None) -> None:
        self.address = parse_on(on)
        self.on = on
        self.cpus = cpus
        self._runtime = RayRuntime(address=self.address, cpus=cpus,
                                   hint=", or use --on ray for a local Ray")

    def __enter__(self) -> RayCluster:
        self._runtime.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._runtime.__exit__(kind, exc, tb)
