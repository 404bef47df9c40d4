"""Ray for one command: the one place compound starts or joins Ray.

Every command that runs on Ray goes through :class:`RayRuntime`: ``compound eval``,
``predict``, ``train`` and ``improve`` with ``--on ray`` (through
:class:`compound.scale.cluster.RayCluster`) and ``compound serve --on ray`` (through
:func:`compound.production.serving.ray_serve.run_on_ray`). What it does:

* **joins** the Ray at ``address`` (``ray://HOST:PORT`` through the Ray client, ``HOST:PORT``
  or ``auto`` as a driver of that cluster), probing a ``HOST:PORT`` with a plain TCP
  connection first, so that a wrong or unreachable address fails in seconds with a message
  saying so instead of after the Ray client's minute of retries;
* or **starts** a Ray instance on this machine for this command only (``address`` None),
  sized to at least ``cpus`` logical CPUs, without a dashboard;
* **forwards** the driver's environment that workers need to find what it found (every
  ``COMPOUND_*`` variable, the OpenTelemetry endpoints) to every worker, as the job's
  ``runtime_env``;
* on exit, **stops** the Ray it started (or leaves the cluster it joined), and leaves a Ray
  that was already initialised in the process (a test session, a notebook) running.

A worker of an already-initialised Ray did not get the job's environment: tasks and actors
that must open the driver's store also call :func:`apply_env` with :func:`forwarded_env`.

Example:
    >>> sorted(forwarded_env({"COMPOUND_HOME": "/srv/c", "HOME": "/root",
    ...                       "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel:4318"}))
    ['COMPOUND_HOME', 'OTEL_EXPORTER_OTLP_ENDPOINT']
    >>> probe_target("ray://10.0.0.5:10001"), probe_target("10.0.0.5:6379"), probe_target("auto")
    (('10.0.0.5', 10001), ('10.0.0.5', 6379), None)
    >>> RayRuntime(address="ray://head:10001").joins
    True
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from compound.errors import MissingDependency, RuntimeFailure, UserError

#: How long the reachability probe of an address waits.
CONNECT_TIMEOUT_S = 5.0
#: Variables a worker receives besides every ``COMPOUND_*`` one: where traces go.
FORWARDED_ENV = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def ray_module(what: str = "Running on Ray (--on ray)") -> Any:
    """The ``ray`` module, or a :class:`MissingDependency` naming the extra."""
    try:
        import ray
    except ImportError:
        raise MissingDependency(what, "ray", "ray") from None
    return ray


def forwarded_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables of ``environ`` (this process's when None) that workers receive: every
    non-empty ``COMPOUND_*`` one (the store, the datasets folder) and :data:`FORWARDED_ENV`."""
    source = os.environ if environ is None else environ
    return {key: value for key, value in source.items()
            if value and (key.startswith("COMPOUND_") or key in FORWARDED_ENV)}


def apply_env(env: Mapping[str, str]) -> None:
    """Set the driver's forwarded variables in a worker (a process of its own): the
    ``COMPOUND_*`` ones the driver lacks are removed, so that the worker opens what the
    driver opened."""
    for key in [k for k in os.environ if k.startswith("COMPOUND_") and k not in env]:
        del os.environ[key]
    os.environ.update(env)


def probe_target(address: str) -> tuple[str, int] | None:
    """The host and port a TCP probe of ``address`` connects to; None for a form that names
    none (``auto``)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def probe(address: str, *, hint: str = "") -> None:
    """Connect to ``address`` over TCP and disconnect: a user error saying why, within
    :data:`CONNECT_TIMEOUT_S`, when nothing listens there.

    Args:
        address: ``ray://HOST:PORT`` or ``HOST:PORT`` (other forms are not probed).
        hint: what else the user may do, appended to the message.
    """
    target = probe_target(address)
    if target is None:
        return
    try:
        with socket.create_connection(target, timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else exc.strerror or str(exc)
        raise UserError(
            f"cannot reach Ray at {address} ({reason}); start a cluster there with "
            "'ray start --head' (its client server listens on port 10001), check the host "
            f"and port{hint}"
        ) from None


class RayRuntime:
    """Ray while a block runs: joined or started on entry, stopped on exit when it started it.

    Args:
        address: the cluster to join (``ray://HOST:PORT``, ``HOST:PORT``, ``auto``); None
            starts a Ray instance on this machine for this block.
        cpus: logical CPUs a started Ray has at least (each actor or replica its slot); it
            has the machine's cores when that is more.
        object_store_bytes: the object store of a started Ray; None: Ray's default share of
            memory.
        worker_logs: show the workers' output here (Ray Serve replicas); off for batch work,
            whose failures come back as exceptions.
        what: what needs Ray, for the message when it is not installed.
        hint: appended to the message about an unreachable address (what else to run).
        env: what workers receive; :func:`forwarded_env` when None.

    Raises:
        UserError: ``compound[ray]`` missing, or the address unreachable.
    """

    def __init__(self, *, address: str | None = None, cpus: int | None = None,
                 object_store_bytes: int | None = None, worker_logs: bool = False,
                 what: str = "Running on Ray (--on ray)", hint: str = "",
                 env: Mapping[str, str] | None = None) -> None:
        self.address = address
        self.cpus = cpus
        self.object_store_bytes = object_store_bytes
        self.worker_logs = worker_logs
        self.what = what
        self.hint = hint
        self.env = dict(forwarded_env() if env is None else env)
        #: True while this block holds a Ray it started or joined (False: one that was
        #: initialised before, which it leaves alone)
        self.owned = False

    @property
    def joins(self) -> bool:
        """Whether the block joins a cluster rather than starting a Ray of its own."""
        return self.address is not None

    @property
    def started_here(self) -> bool:
        """Whether this block started the Ray instance it runs on (and so stops it)."""
        return self.owned and not self.joins

    def __enter__(self) -> RayRuntime:
        ray = ray_module(self.what)
        if self.address is not None:
            probe(self.address, hint=self.hint)
        if ray.is_initialized():
            return self
        options: dict[str, Any] = {
            "runtime_env": {"env_vars": self.env}, "logging_level": logging.WARNING,
            "log_to_driver": self.worker_logs, "configure_logging": False}
        if self.address is not None:
            try:
                ray.init(self.address, **options)
            except ConnectionError as exc:
                raise UserError(f"cannot connect to Ray at {self.address} ({exc}); check "
                                "that a Ray head with the client server runs there") from None
        else:
            if self.object_store_bytes is not None:
                options["object_store_memory"] = self.object_store_bytes
            ray.init(address="local", num_cpus=max(self.cpus or 0, os.cpu_count() or 1),
                     include_dashboard=False, **options)
        self.owned = True
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.owned:
            ray_module(self.what).shutdown()
            self.owned = False


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
