"""`compound serve --on ray`: the same app as `compound serve`, as Ray Serve replicas.

Each replica is a Ray actor that builds the app with the very function the single-process
server uses (:func:`~compound.production.serving.targets.app_from_target`), runs its
lifespan (warm-up, monitoring, the feedback writer) and answers HTTP through Ray Serve's
proxy on ``host:port``. Nothing is shared between replicas but the store, so the store
decides where replicas may run:

* **PostgreSQL** (``store.url`` or ``$COMPOUND_STORE_URL``): anywhere; every replica writes
  runs, traces and feedback to one database, and a feedback signal is acknowledged (201)
  only after its transaction committed there, so a replica that dies loses nothing it
  acknowledged.
* **SQLite**: only on this machine. Without ``--address`` the command starts its own Ray
  instance here, so every replica is a process of this machine, sharing the file as
  several `compound serve` processes would (WAL; writers take turns). With ``--address``
  the cluster may place a replica on another machine, where the file is a different file:
  that is refused (:func:`check_store`) rather than left to lose data.
* **Memory**: one process; refused with more than one replica.

Ray restarts a replica whose process dies; its requests in flight fail (the client retries
them), what it acknowledged is in the store. Each replica warms its models once, before Ray
routes it a request: its first health check waits for the warm-up.

Ray is started or joined by :class:`compound.ray_runtime.RayRuntime`, as for the batch
commands' ``--on ray``; replicas receive the command's ``COMPOUND_*`` variables (the store,
its home) and trace endpoints. Needs ``pip install 'compound[ray]'`` (Ray Serve) on this
machine and on every node.
"""

from __future__ import annotations

import asyncio
import faulthandler
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compound.errors import RuntimeFailure, UserError, require
from compound.ray_runtime import RayRuntime, forwarded_env

if TYPE_CHECKING:
    from fastapi import FastAPI

    from compound.store.base import Store

APP_NAME = "compound"
#: Ray Serve's own logs: warnings only, no access log line per request (compound counts
#: requests in /metrics; a line per request costs the replica as much as a small request)
QUIET = {"log_level": "WARNING", "enable_access_log": False}
#: how long Ray Serve's controller waits for its HTTP proxy to start and to answer a health
#: check before it kills it. Ray's 5 s (ready) and 10 s (health) are too short on a busy
#: laptop: with the two cores saturated the proxy, which imports Ray Serve and uvicorn, was
#: killed before it was ready and the command stopped. A variable set in the environment wins.
PROXY_PATIENCE = {"RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S": "30",
                  "RAY_SERVE_PROXY_HEALTH_CHECK_TIMEOUT_S": "30"}


def store_kind(store: Store) -> str:
    """``sqlite``, ``memory`` or ``shared`` (PostgreSQL, or any other server-backed store)."""
    from compound.store.memory import MemoryStore
    from compound.store.sqlite import SQLiteStore

    inner = getattr(store, "inner", store)
    if isinstance(inner, SQLiteStore):
        return "sqlite"
    if isinstance(inner, MemoryStore):
        return "memory"
    return "shared"


def describe_store(store: Store) -> str:
    """Where ``store`` keeps its data, without secrets: a file, or PostgreSQL's host/db."""
    inner = getattr(store, "inner", store)
    path = getattr(inner, "path", None)
    if path is not None:
        return f"SQLite {path}"
    where = getattr(inner, "where", None)
    return f"PostgreSQL {where}" if where else type(inner).__name__


def check_store(store: Store, *, address: str | None, replicas: int) -> None:
    """Refuse a store the replicas could not share.

    Raises:
        UserError: a SQLite file with ``--address`` (replicas may run on other machines), or
            a memory store with more than one replica.
    """
    kind = store_kind(store)
    fix = ("set 'store.url' in compound.yaml, or COMPOUND_STORE_URL, to a PostgreSQL "
           "database (docs/store.md; pip install 'compound[postgres]')")
    if kind == "sqlite" and address is not None:
        raise UserError(
            f"--on ray --address {address} may place replicas on other machines, and the "
            f"store is a SQLite file ({describe_store(store)}) that only this machine can "
            "open: a replica elsewhere would write its own file, and feedback it "
            f"acknowledged would be missing everywhere else. {fix[0].upper()}{fix[1:]}, or "
            "leave out --address to run every replica on this machine")
    if kind == "memory" and replicas > 1:
        raise UserError(
            f"--replicas {replicas} with a memory store: each replica would keep its own "
            f"runs, keys and feedback, in its own process. {fix[0].upper()}{fix[1:]}")


@dataclass(frozen=True)
class RayServing:
    """What ``compound serve --on ray`` deploys; every path absolute, so that a replica
    started elsewhere builds the same app.

    Args:
        target: a compound.yaml (absolute path) or ``module:attribute``.
        home: the store's folder, if given.
        overrides: ``serve:`` settings that win over the spec's.
        base: the folder ``module:attribute`` is imported from.
        replicas: how many replicas.
        address: a Ray cluster to join (``auto``, ``HOST:PORT``, ``ray://HOST:10001``);
            None starts a Ray instance on this machine for this command.
        host, port: where Ray Serve's proxy listens.
        store: what the replicas must open (from :func:`describe_store`): a replica that
            opens anything else refuses to start.
        warm_up_timeout_s: longest a replica's first health check waits for its warm-up.
    """

    target: str
    host: str
    port: int
    replicas: int = 2
    home: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    base: str = "."
    address: str | None = None
    store: str = ""
    warm_up_timeout_s: float = 600.0

    def build(self) -> FastAPI:
        """The app, as a replica builds it."""
        from compound.production.serving.targets import app_from_target

        return app_from_target(self.target, home=Path(self.home) if self.home else None,
                               overrides=self.overrides, base=self.base)


class ServedReplica:
    """One replica: builds the app in the replica's process, and reports healthy once its
    warm-up is over (Ray routes no request to it before)."""

    def __init__(self, serving: RayServing) -> None:
        self.serving = serving
        self._app: Any = None
        self._warmed = False

    def __serve_build_asgi_app__(self) -> FastAPI:
        from compound.production.serving.app import prepare_server_process

        self._app = self.serving.build()
        opened = describe_store(self._app.state.compound.store)
        if self.serving.store and opened != self.serving.store:
            raise UserError(
                f"this replica opened {opened}, where `compound serve --on ray` found "
                f"{self.serving.store}: give every node the same store (COMPOUND_STORE_URL "
                "or store.url) and the same spec path")
        prepare_server_process()
        return self._app  # type: ignore[no-any-return]

    async def check_health(self) -> None:
        if self._warmed or self._app is None:
            return
        ready = self._app.state.compound.ready
        await asyncio.to_thread(ready.wait, self.serving.warm_up_timeout_s)
        self._warmed = True  # problems, if any, are what /readyz reports, as in one process


def deployment(serving: RayServing) -> Any:
    """The Ray Serve application: ``serving.replicas`` copies of :class:`ServedReplica`."""
    serve: Any = require("ray.serve", extra="ray", what="compound serve --on ray")
    ingress = serve.ingress()(ServedReplica)
    options = serve.deployment(
        name="compound-app", num_replicas=serving.replicas,
        # compound's own queues and limits decide what waits and what is refused (503)
        max_ongoing_requests=256,
        ray_actor_options={"num_cpus": 1},
        health_check_period_s=5, graceful_shutdown_timeout_s=15, logging_config=QUIET)
    return options(ingress).bind(serving)


def exit_unless_done(seconds: float, what: str) -> threading.Thread:
    """A watchdog: when this process still runs ``seconds`` from now, it says so on stderr
    and exits with status 1, without waiting for anything else (atexit handlers included).
    With faulthandler on (``PYTHONFAULTHANDLER=1``) it first writes where each thread waits.
    """

    def watch() -> None:
        time.sleep(seconds)
        sys.stderr.write(f"{what} did not finish within {seconds:.0f} s; exiting without "
                         "waiting (`ray stop` ends Ray processes that linger)\n")
        if faulthandler.is_enabled():
            faulthandler.dump_traceback(sys.stderr, all_threads=True)
        sys.stderr.flush()
        os._exit(1)

    watchdog = threading.Thread(target=watch, name="compound-stop-watchdog", daemon=True)
    watchdog.start()
    return watchdog


def start_failure(exc: BaseException) -> str:
    """What to tell the user when Ray Serve could not start the app: the first line of Ray's
    reason (its actor details and stack stay in Ray's logs) and what to try."""
    cause = getattr(exc, "cause", None)  # what a Ray actor's method raised
    text = f"{type(cause).__name__}: {cause}" if isinstance(cause, BaseException) else str(exc)
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)  # Ray colours its own messages
    reason = next((line.strip() for line in text.splitlines() if line.strip()),
                  type(exc).__name__)
    return (f"Ray Serve did not start the app ({reason}); if the machine is busy, retry when "
            "it is quieter, with fewer --replicas, or with a longer "
            "RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S (30 s here); Ray's own logs are in "
            "/tmp/ray/session_latest/logs by default")


def run_on_ray(serving: RayServing, *, on_ready: Callable[[str], None],
               stop: threading.Event | None = None, shutdown_timeout_s: float = 30.0,
               exit_after_s: float | None = None) -> None:
    """Start Ray (or join ``serving.address``), deploy, call ``on_ready(ray_address)`` once
    every replica is warm, and serve until Ctrl-C, SIGTERM or ``stop``; then remove the
    deployment (each replica's lifespan ends: monitoring flushed, writers closed) and, when
    this command started Ray, stop it (a Ray already running in the process stays).

    Removing the deployment waits ``shutdown_timeout_s`` at most. ``exit_after_s`` is for a
    command whose process ends when this returns: that long after stopping began, a process
    still running (Ray's shutdown can wait on its own processes) exits with status 1
    (:func:`exit_unless_done`)."""
    ray: Any = require("ray", extra="ray", what="compound serve --on ray")
    serve: Any = require("ray.serve", extra="ray", what="compound serve --on ray")
    # a Ray instance for this command only, sized so that every replica has its CPU; requests
    # travel inline, so the object store stays small (Ray's minimum is 75 MiB)
    env = {**{key: os.environ.get(key, value) for key, value in PROXY_PATIENCE.items()},
           **forwarded_env()}
    runtime = RayRuntime(address=serving.address, cpus=serving.replicas,
                         object_store_bytes=128 << 20, worker_logs=True,
                         what="compound serve --on ray", env=env,
                         hint=", or leave out --address to start Ray on this machine")
    stop = stop or threading.Event()
    with runtime:
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            try:
                serve.start(http_options={"host": serving.host, "port": serving.port},
                            logging_config=QUIET)
                serve.run(deployment(serving), name=APP_NAME, route_prefix="/", blocking=False)
            except (ray.exceptions.RayError, TimeoutError) as exc:
                raise RuntimeFailure(start_failure(exc)) from None
            on_ready(ray.get_runtime_context().gcs_address)
            try:
                while not stop.wait(0.5):
                    pass
            except KeyboardInterrupt:
                pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            if exit_after_s is not None:  # Ray's own shutdown, here and at exit, included
                exit_unless_done(exit_after_s, "stopping Ray Serve and Ray")
            # bounded: after Ctrl-C, Ray's own processes may already be gone
            closing = threading.Thread(
                target=serve.shutdown if runtime.started_here else lambda: serve.delete(APP_NAME),
                name="compound-ray-shutdown", daemon=True)
            closing.start()
            closing.join(shutdown_timeout_s)
