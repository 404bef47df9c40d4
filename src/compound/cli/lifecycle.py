"""`compound up`: build what is missing, evaluate against the success criteria, serve."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from compound.cli import app
from compound.console import console, console_err, plain, styled

if TYPE_CHECKING:
    from compound.lifecycle.up import BuildStep
    from compound.production.serving_spec import ServeSpec
    from compound.system import System


@app.command()
def up(
    spec: Annotated[Path, typer.Argument(help="a compound.yaml, or a folder holding one")],
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="serve after the scorecard")
    ] = True,
    limit: Annotated[
        int | None, typer.Option(help="evaluate only the first N examples of each eval", min=1)
    ] = None,
    ask: Annotated[
        str | None, typer.Option(help="once serving, send this question to the first workflow "
                                       "and print the answer")
    ] = None,
    serve_seconds: Annotated[
        float | None, typer.Option(help="stop serving after this many seconds (default: until "
                                         "Ctrl-C)", min=0)
    ] = None,
    force: Annotated[
        bool, typer.Option(help="serve even when a success criterion fails")
    ] = False,
    strict: Annotated[
        bool, typer.Option(help="a failed latency criterion fails too (by default it warns, "
                                "since it depends on how busy the machine is)")
    ] = False,
    host: Annotated[str | None, typer.Option(help="address to bind (default serve.host)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default serve.port)")] = None,
) -> None:
    """Run the whole loop for a system: train and index what is missing, evaluate against the
    success criteria and print the scorecard, then serve with the dashboard.

    Exits 1 (without serving) when a quality criterion fails, unless --force. A failed latency
    criterion is reported with the machine's load and only warns, unless --strict.
    """
    from compound.cli.scorecard import print_whole, report_scorecard, scorecard_table
    from compound.lifecycle.up import build_missing, evaluate
    from compound.store import open_store
    from compound.system import System

    system = System.load(spec)
    if serve:  # before minutes of training: the address it will serve on is free
        from compound.production.serving.address import check_can_listen

        settings = _serve_settings(system, host=host, port=port)
        check_can_listen(settings.host, settings.port)
    # the task goes under the rule, wrapped: a rule cuts what does not fit on one line
    console.rule(styled("[bold]{name}[/] ({loop})", name=system.name, loop=system.loop))
    console.print(plain(" ".join(system.task.split())))
    store = open_store(system)
    with console_err.status("building", spinner="dots") as status:
        steps = build_missing(system, store, console=console_err,
                              notify=lambda message: status.update(plain(message)))
    print_whole(console, _build_table(steps))
    if not system.evals:
        console_err.print(styled("[yellow]the spec declares no evals; no scorecard[/]"))
        card = None
    else:
        card = evaluate(system, store, limit=limit, progress=True)
        print_whole(console, scorecard_table(card, strict=strict))
    store.close()
    blocking = card is not None and card.blocking(strict=strict)
    if card is not None:
        report_scorecard(console_err, card, strict=strict)
    _design_review(system)
    if not serve:
        if ask and system.workflows:
            _ask_locally(system, ask)
        raise SystemExit(1 if blocking else 0)
    if blocking and not force:
        console_err.print("not serving a system that fails its criteria; fix it, or pass --force")
        raise SystemExit(1)
    _serve(system, host=host, port=port, ask=ask, seconds=serve_seconds)


def _design_review(system: System) -> None:
    """The review's open findings, after the scorecard: they warn, never block `up`."""
    from rich.text import Text

    from compound.cli.design_review import review_table
    from compound.design_review import review

    found = review(system)
    if found.open:
        console.print(review_table(found, silenced=False))
    console_err.print(Text.assemble(
        ("design review", "bold yellow" if found.open else "bold green"),
        f": {found.summary()}" + (" (warnings: they do not stop `compound up`; `compound "
                                  "check SPEC --review` explains each)" if found.open else "")))


def _serve_settings(system: System, *, host: str | None, port: int | None) -> ServeSpec:
    """The spec's ``serve:`` settings with ``--host`` and ``--port`` applied."""
    overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    return system.serve.model_copy(update=overrides)


def _serve(system: object, *, host: str | None, port: int | None, ask: str | None,
           seconds: float | None) -> None:
    from compound.errors import require

    require("fastapi", extra="serve", what="compound up (serving)")
    from compound.production.serving import app_from_system, serve
    from compound.production.serving.address import check_can_listen
    from compound.production.serving.keys import ApiKeys
    from compound.store import open_store

    settings = _serve_settings(system, host=host, port=port)  # type: ignore[arg-type]
    check_can_listen(settings.host, settings.port)  # still free after the build
    application = app_from_system(system, spec=settings)  # type: ignore[arg-type]
    base = f"http://{settings.host}:{settings.port}"
    secret = None
    if settings.auth:
        with open_store(system) as store:  # type: ignore[arg-type]
            secret, info = ApiKeys(store).create(f"up-{int(time.time())}", scope="write")
        console_err.print(f"created API key {info.key_id} for this session (scope write; only "
                          "its hash is stored):")
        console.print(f"  {secret}", markup=False)
    workflows = list(system.workflows)  # type: ignore[attr-defined]
    # the key rides in the URL fragment, which the browser never sends: the dashboard's script
    # reads it, keeps it in the tab's session storage and removes it from the address bar
    dashboard = f"{base}/dashboard" + (f"#key={secret}" if secret else "")
    console_err.print(f"serving at {base}  API docs {base}/docs", markup=False)
    console_err.print(f"dashboard (opens signed in): {dashboard}", markup=False)
    if workflows:
        auth = f"-H 'Authorization: Bearer {secret}' " if secret else ""
        console_err.print(f"try: curl -s {auth}-H 'Content-Type: application/json' "
                          f"{base}/v1/workflows/{workflows[0]} -d '{{\"question\": \"...\"}}'")
    if ask and workflows:
        threading.Thread(target=_ask, args=(base, workflows[0], ask, secret), daemon=True).start()
    if seconds is not None:
        threading.Timer(seconds, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    serve(application, host=settings.host, port=settings.port)


ASK_READY_S = 900.0  # models warm up before the server is ready: minutes on a busy machine
ASK_TIMEOUT_S = 300.0  # the question's whole answer, in total


def _ask(base: str, workflow: str, question: str, secret: str | None) -> None:
    """Wait until the server is ready (every model warmed up: minutes on a busy machine), send
    one question, print what the served system answers.

    Each request is bounded in total (a server trickling its answer is given up), not per
    read: the readiness probe by 2 s, the question by :data:`ASK_TIMEOUT_S`.
    """
    import httpx

    from compound.intelligence.llm.bounded_http import bounded_client
    from compound.intelligence.llm.deadline import Deadline
    from compound.intelligence.llm.errors import LLMError

    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    client = bounded_client(httpx, timeout_s=ASK_TIMEOUT_S, follow_redirects=False)
    with client:
        deadline = time.monotonic() + ASK_READY_S
        while time.monotonic() < deadline:
            try:
                with Deadline.scope(2.0, label="the readiness probe's 2s"):
                    if client.get(f"{base}/readyz").status_code == 200:
                        break
            except (httpx.HTTPError, LLMError):
                pass
            time.sleep(0.5)
        try:
            with Deadline.scope(ASK_TIMEOUT_S, label=f"--ask's limit of {ASK_TIMEOUT_S:g}s"):
                response = client.post(f"{base}/v1/workflows/{workflow}",
                                       json={"question": question}, headers=headers)
        except (httpx.HTTPError, LLMError) as exc:
            console_err.print(styled("[red]asking the served system failed:[/] {exc}",
                                     exc=exc))
            return
    console_err.print(f"asked the served system: {question!r} -> HTTP {response.status_code}")
    try:
        console.print_json(json.dumps(response.json()))
    except ValueError:
        console.print(response.text, markup=False)


def _ask_locally(system: object, question: str) -> None:
    """Without a server: run the first workflow on the question in-process and print it."""
    import dataclasses

    from compound.store import open_store
    from compound.workflow import build_workflow
    from compound.workflow.runs import start

    name = next(iter(system.workflows))  # type: ignore[attr-defined]
    flow = build_workflow(system, name)  # type: ignore[arg-type]
    with open_store(system) as store:  # type: ignore[arg-type]
        result = start(flow, {"question": question}, store=store)
    output = result.output
    if dataclasses.is_dataclass(output) and not isinstance(output, type):
        output = dataclasses.asdict(output)
    console_err.print(f"asked workflow '{name}': {question!r} (run {result.run_id}, "
                      f"{result.duration_s:.2f}s; 'compound trace {result.run_id}' shows it)")
    console.print_json(json.dumps(output, default=str))


def _build_table(steps: list[BuildStep]) -> object:
    from rich.table import Table

    table = Table(title="build", title_justify="left")
    for column in ("component", "kind", "what happened", "seconds"):
        table.add_column(column, justify="right" if column == "seconds" else "left")
    for step in steps:
        colour = "green" if step.ok else "red"
        table.add_row(step.component, step.kind, plain(step.action, style=colour),
                      f"{step.seconds:.1f}")
    return table

