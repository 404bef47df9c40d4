"""`compound serve`, `compound keys` and `compound drift`: serving a system over HTTP, its API
keys, and a drift check from the command line.

The store is found as the other commands find it: ``--home DIR`` (``DIR/compound.db``), else
the spec's store, else ``$COMPOUND_HOME``, else ``.compound/compound.db`` here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from compound.cli import app
from compound.console import console, console_err, styled

if TYPE_CHECKING:

    from compound.store import Store

keys_app = typer.Typer(help="Create, list and revoke the API keys of a served system.",
                       no_args_is_help=True)
app.add_typer(keys_app, name="keys")

HOME = Annotated[Path | None, typer.Option(
    "--home", help="folder of the store (DIR/compound.db); default: the spec's store, "
    "$COMPOUND_HOME, or .compound/ here")]
SPEC = Annotated[Path | None, typer.Option("--spec", help="a compound.yaml whose store to use")]


def _store(home: Path | None, spec: Path | None) -> Store:
    from compound.store import open_store

    if home is not None:
        return open_store(path=home.expanduser() / "compound.db")  # redacting, like any other
    if spec is not None:
        from compound.system import System

        return open_store(System.load(spec))
    return open_store()


@app.command("serve")
def serve_command(
    target: Annotated[str, typer.Argument(
        help="a compound.yaml (or its folder), or 'module:attribute' naming a FastAPI app, "
        "a Workflow (or a list of them), or a function returning one")],
    host: Annotated[str | None, typer.Option(help="address to bind (default: the spec's "
                                                  "serve.host, 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default: serve.port, 8000)")] = None,
    no_auth: Annotated[bool, typer.Option(
        "--no-auth", help="serve without API keys (local development only)")] = False,
    home: HOME = None,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level")] = "warning",
    on: Annotated[str, typer.Option(
        "--on", help="'local': one process (uvicorn); 'ray': Ray Serve replicas of the same "
        "app (pip install 'compound[ray]')")] = "local",
    replicas: Annotated[int, typer.Option(
        min=1, help="with --on ray: how many replicas")] = 1,
    address: Annotated[str | None, typer.Option(
        help="with --on ray: a Ray cluster to join ('auto', HOST:PORT, ray://HOST:10001); "
        "default: a Ray instance on this machine for this command. A cluster needs a "
        "PostgreSQL store")] = None,
) -> None:
    """Serve a system over HTTP: an endpoint per workflow (JSON and Server-Sent Events), an
    OpenAI-compatible chat endpoint, feedback, Prometheus /metrics and the /dashboard.

    With --on ray --replicas N, the same app runs as N Ray Serve replicas behind one
    address, sharing the store (docs/deploy.md)."""
    import os

    from compound.errors import UserError, require

    require("fastapi", extra="serve", what="compound serve")
    require("uvicorn", extra="serve", what="compound serve")
    from compound.production.serving import serve
    from compound.production.serving.address import check_can_listen
    from compound.production.serving.targets import app_from_target, is_python_target

    if on not in ("local", "ray"):
        raise UserError(f"--on takes 'local' or 'ray', not {on!r}")
    if on == "local" and (replicas != 1 or address is not None):
        raise UserError("--replicas and --address go with --on ray; one process serves "
                        "without them")
    overrides: dict[str, Any] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    if no_auth:
        overrides["auth"] = False
    if on == "ray":
        require("ray.serve", extra="ray", what="compound serve --on ray")
        if not is_python_target(target):  # a replica may start in another folder
            target = str(Path(target).resolve())
        home = home.expanduser().resolve() if home is not None else None
    # built here too on --on ray: a bad spec or an unfit store fails before Ray starts
    application = app_from_target(target, home=home, overrides=overrides)
    settings = application.state.compound.spec
    state = application.state.compound
    bind_host, bind_port = overrides.get("host", settings.host), overrides.get(
        "port", settings.port)
    if address is None:  # joining a cluster, Ray's proxies listen on its nodes
        check_can_listen(bind_host, bind_port)
    if not settings.auth and bind_host not in ("127.0.0.1", "localhost", "::1"):
        console_err.print(styled("[bold yellow]warning:[/] serving without API keys on {host}; "
                                 "anyone who can reach it can run your models", host=bind_host))
    if settings.auth and state.keys.count_active() == 0:
        from compound.production.serving.state import key_command

        console_err.print(styled("[yellow]no API key exists yet; create one with[/] {command}",
                                 command=key_command(state, "write")))
    base = f"http://{bind_host}:{bind_port}"
    if on == "local":
        console_err.print(styled("serving [bold]{name}[/] at {base}  (dashboard {base}/dashboard, "
                                 "API docs {base}/docs)", name=state.name, base=base))
        serve(application, host=bind_host, port=bind_port, log_level=log_level)
        return
    from compound.production.serving.ray_serve import (
        RayServing,
        check_store,
        describe_store,
        run_on_ray,
    )

    check_store(state.store, address=address, replicas=replicas)
    serving = RayServing(target=target, host=bind_host, port=bind_port, replicas=replicas,
                         home=str(home) if home is not None else None, overrides=overrides,
                         base=os.getcwd(), address=address,
                         store=describe_store(state.store))
    name = state.name
    state.store.close()
    del application, state  # each replica builds its own
    console_err.print(styled("starting {replicas} Ray Serve replica(s) of [bold]{name}[/] "
                             "(store: {store}); each warms up before it takes requests",
                             replicas=replicas, name=name, store=serving.store))

    def ready(ray_address: str) -> None:
        console_err.print(styled("serving [bold]{name}[/] at {base} on Ray ({address}), "
                                 "{replicas} replica(s)  (dashboard {base}/dashboard); Ctrl-C "
                                 "stops", name=name, base=base, address=ray_address,
                                 replicas=replicas))

    run_on_ray(serving, on_ready=ready, exit_after_s=60.0)  # Ctrl-C stops it within a minute


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="who or what uses the key, e.g. 'web-app'")],
    scope: Annotated[str, typer.Option(help="read, write or admin (they nest)")] = "write",
    spec: SPEC = None,
    home: HOME = None,
) -> None:
    """Create a key and print its secret (shown once; only its hash is kept)."""
    from compound.production.serving.keys import ApiKeys

    secret, info = ApiKeys(_store(home, spec)).create(name, scope=scope)  # type: ignore[arg-type]
    console_err.print(f"created key {info.key_id} ('{info.name}', scope {info.scope}); the "
                      "secret below is not stored anywhere, keep it now:")
    console.print(secret, markup=False)


@keys_app.command("list")
def keys_list(spec: SPEC = None, home: HOME = None) -> None:
    """List the keys (never their secrets)."""
    import time

    from rich.table import Table

    from compound.production.serving.keys import ApiKeys

    table = Table("id", "name", "scope", "created", "status")
    for key in ApiKeys(_store(home, spec)).list():
        created = time.strftime("%Y-%m-%d %H:%M", time.localtime(key.created))
        table.add_row(key.key_id, key.name, key.scope, created,
                      "revoked" if key.revoked else "active")
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="the key's id (from 'compound keys list')")],
    spec: SPEC = None,
    home: HOME = None,
) -> None:
    """Revoke a key; servers stop accepting it within seconds."""
    from compound.errors import UserError
    from compound.production.serving.keys import ApiKeys

    if not ApiKeys(_store(home, spec)).revoke(key_id):
        raise UserError(f"no key '{key_id}'; 'compound keys list' shows the ids")
    console_err.print(f"revoked key {key_id}")


@app.command("drift")
def drift_command(
    spec_path: Annotated[Path, typer.Argument(help="the served system's compound.yaml")],
    home: HOME = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the reports as JSON")] = False,
) -> None:
    """Check the served workflows' inputs, and their models' behaviour, for drift against
    their reference now."""
    import json

    from rich.table import Table

    from compound.production.monitoring.behaviour import BehaviourMonitor
    from compound.production.monitoring.drift_monitor import DriftMonitor
    from compound.system import System

    system = System.load(spec_path)
    store = _store(home, spec_path)
    monitor = DriftMonitor(store, system.serve.drift)
    behaviour = BehaviourMonitor(store, system.serve.drift, drift=monitor)
    inputs = [monitor.check(name) for name in system.workflows]
    models = [behaviour.check(name) for name in system.workflows]
    if as_json:
        console.print_json(json.dumps({"reports": [r.to_dict() for r in inputs],
                                       "behaviour": [r.to_dict() for r in models]}))
        return
    table = Table("workflow", "field", "kind", "PSI", "KS", "p", "status", title="inputs",
                  title_justify="left")
    for report in inputs:
        if not report.fields:
            table.add_row(report.workflow, "-", "-", "-", "-", "-", report.status)
        for f in report.fields:
            table.add_row(report.workflow, f.field, f.kind, _fmt(f.psi), _fmt(f.ks_statistic),
                          _fmt(f.p_value), "drift" if f.drifted else "ok")
    console.print(table)
    table = Table("workflow", "signal", "model", "reference", "current", "change", "p",
                  "status", title="model behaviour", title_justify="left")
    for found in models:
        if not found.signals:
            table.add_row(found.workflow, "-", "-", "-", "-", "-", "-", found.status)
        for s in found.signals:
            versions = [f"v{v}" for v in s.versions.get("current", [])]
            table.add_row(found.workflow, s.signal, " ".join([s.model or "-", *versions]),
                          _fmt(s.reference_mean), _fmt(s.current_mean), f"{s.change:+.3g}",
                          _fmt(s.p_value), "drift" if s.drifted else "ok")
    console.print(table)
    for found in models:
        for s in found.signals:
            if s.drifted:
                console.print(styled("[bold red]behaviour drift[/] in {workflow}: {what}",
                                     workflow=found.workflow, what=s.describe()))


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"
