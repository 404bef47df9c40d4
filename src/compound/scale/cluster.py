"""Where Ray work runs: ``--on ray`` (a local Ray started for the command, stopped after it)
or ``--on ray://HOST:PORT`` (a running cluster, through the Ray client).

A remote address is probed with a plain TCP connection first, so a wrong or unreachable one
fails in seconds with a message saying so, instead of after the Ray client's minute of
retries. When Ray is already initialised in the process (a test session, a notebook), that
Ray is used and left running.

Workers receive the driver's ``COMPOUND_*`` environment (the store, the datasets folder), so
an actor opens the store the command opened. On a remote cluster the spec folder must be at
the same path on every node, and the store should be one they all reach (PostgreSQL,
``store.url``): with SQLite each node would keep its own output cache.

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

import logging
import os
import socket
from types import TracebackType
from typing import Any

from compound.errors import MissingDependency, RuntimeFailure, UserError

#: Actors when ``--actors`` is not given: enough to overlap model latency, few enough that
#: the system is not loaded too many times.
DEFAULT_ACTORS = 4
#: How long the reachability probe of a ``ray://`` address waits.
CONNECT_TIMEOUT_S = 5.0


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


def ray_module() -> Any:
    """The ``ray`` module, or a :class:`MissingDependency` naming the extra."""
    try:
        import ray
    except ImportError:
        raise MissingDependency("Running on Ray (--on ray)", "ray", "ray") from None
    return ray


def compound_env() -> dict[str, str]:
    """The driver's ``COMPOUND_*`` variables, which workers set before opening anything."""
    return {k: v for k, v in os.environ.items() if k.startswith("COMPOUND_")}


def apply_env(env: dict[str, str]) -> None:
    """Set the driver's ``COMPOUND_*`` variables in a worker (a process of its own)."""
    for key in [k for k in os.environ if k.startswith("COMPOUND_") and k not in env]:
        del os.environ[key]
    os.environ.update(env)


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
        self._started = False

    def __enter__(self) -> RayCluster:
        ray = ray_module()
        if self.address is not None:
            _probe(self.address)
        if ray.is_initialized():
            return self
        if self.address is not None:
            try:
                ray.init(self.address, logging_level=logging.WARNING)
            except ConnectionError as exc:
                raise UserError(f"cannot connect to Ray at {self.address} ({exc}); check that "
                                "a Ray head with the client server runs there") from None
        else:
            ray.init(num_cpus=max(self.cpus or 0, os.cpu_count() or 1),
                     include_dashboard=False, logging_level=logging.WARNING,
                     log_to_driver=False, configure_logging=False)
        self._started = True
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._started:
            ray_module().shutdown()
            self._started = False


def _probe(address: str) -> None:
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else exc.strerror or str(exc)
        raise UserError(
            f"cannot reach Ray at {address} ({reason}); start a cluster there with "
            "'ray start --head' (its client server listens on port 10001), check the host "
            "and port, or use --on ray for a local Ray"
        ) from None


def unwrap(exc: BaseException) -> BaseException:
    """The exception a Ray task or actor raised, when it is one of compound's own (a user
    error stays a user error); a dead actor becomes a :class:`RuntimeFailure`."""
    ray = ray_module()
    cause = getattr(exc, "cause", None)
    if isinstance(exc, ray.exceptions.RayTaskError) and isinstance(cause, BaseException):
        return cause
    if isinstance(exc, ray.exceptions.RayActorError):
        return RuntimeFailure(f"a Ray worker died: {exc}")
    return exc
