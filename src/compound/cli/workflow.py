"""`compound run`, `resume`, `trace` and `replay`: running workflows and looking into runs.

Runs are kept in a store. Commands find it the same way: ``--home DIR`` (``DIR/compound.db``),
else the spec's store (``--spec``, or the spec being run), else ``$COMPOUND_HOME``, else
``.compound/compound.db`` in the current folder.

``run``, ``resume`` and ``replay`` run a spec's workflow behind the rails around its runs
(:func:`~compound.production.rails.steps.run_guard`), as serving does, through one function
(:func:`_behind_rails`); a run those rails escalate goes to the spec's review queue.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from compound.cli import app
from compound.console import console, console_err, styled

if TYPE_CHECKING:
    from collections.abc import Callable

    from compound.store import Store
    from compound.workflow.context import RunContext
    from compound.workflow.engine import RunResult
    from compound.workflow.graph import Workflow

HOME = Annotated[Path | None, typer.Option(
    "--home", help="folder of the store (DIR/compound.db); default: the spec's store, "
    "$COMPOUND_HOME, or .compound/ here")]
SPEC = Annotated[Path | None, typer.Option(
    "--spec", help="a compound.yaml whose store holds the run")]


def _store(home: Path | None, spec: Path | None = None) -> Store:
    from compound.store import open_store

    if home is not None:
        return open_store(path=home.expanduser() / "compound.db")  # redacting, like any other
    if spec is not None:
        from compound.system import System

        return open_store(System.load(spec))
    return open_store()


def _print_json(value: Any) -> None:
    from compound.json_values import NotJSONError, to_json

    try:
        console.print_json(json.dumps(to_json(value), ensure_ascii=False))
    except NotJSONError:
        console.print(repr(value), markup=False)


@app.command("run")
def run_command(
    target: Annotated[str, typer.Argument(
        help="a compound.yaml (or its folder), or a Python 'module:attribute' naming a "
        "Workflow or a function returning one")],
    workflow: Annotated[str | None, typer.Argument(
        help="the workflow to run (when the spec declares several)")] = None,
    input: Annotated[str, typer.Option("--input", "-i", help="the input as JSON")] = "{}",
    run_id: Annotated[str | None, typer.Option(help="use this run id (32 hex digits)")] = None,
    home: HOME = None,
) -> None:
    """Run a workflow, checkpointed and traced in the store; prints its output as JSON.

    The rails that guard the workflow (and that none of its steps uses) check its input
    before and its output after, as when it is served; what they decide is on stderr."""
    from compound.datafiles import NotJSON, parse_json
    from compound.errors import UserError
    from compound.workflow.context import RunContext
    from compound.workflow.loader import load_target
    from compound.workflow.runs import default_tracer

    try:  # parse_json: too deep or too long a number is an error too, not a traceback
        data = parse_json(input)
    except NotJSON as exc:
        at = "" if exc.pos is None else f" at char {exc.pos}"
        raise UserError(f"--input is not JSON ({exc.msg}{at}): {input[:200]!r}; "
                        "pass e.g. --input '{\"question\": \"...\"}'") from None
    if run_id is not None and (len(run_id) != 32 or any(c not in "0123456789abcdef"
                                                        for c in run_id)):
        raise UserError(f"--run-id must be 32 lowercase hex digits; received {run_id!r}")
    shared: dict[str, Any] = {}
    flow = load_target(target, workflow, shared=shared)
    spec = _spec_of(flow)
    store = _store(home, spec)
    shared["store"] = store  # the strategy's cache keeps its entries with the runs
    console_err.print(styled("[dim]run {run} of workflow '{name}'[/]", run=run_id or "(new)",
                             name=flow.name))
    tracer = default_tracer(store)
    try:
        output, result = _behind_rails(spec, flow, data, RunContext(
            store=store, tracer=tracer, run_id=run_id), store)
    finally:
        tracer.close()
    _print_json(output)
    if result is None:  # the input rails stopped it: no step ran
        return
    if result.step_seconds:
        console_err.print(styled("[dim]steps: {steps}[/]", steps=", ".join(
            f"{name} {seconds * 1e3:.1f} ms" for name, seconds in result.step_seconds.items())))
    if tracer.dropped:  # say so, and fail: a run whose trace is missing is not what was asked
        console_err.print(styled(
            "[bold red]failed:[/] run {run} completed in {took:.3f}s, but its trace was not "
            "recorded ({dropped} spans lost: {why}); 'compound trace {run}' will not show it. "
            "Fix that, then run again", run=result.run_id,
            took=result.duration_s, dropped=tracer.dropped, why=tracer.last_error))
        raise SystemExit(1)
    console_err.print(styled("[dim]run {run} completed in {took:.3f}s; 'compound trace {run}' "
                             "shows its spans[/]", run=result.run_id, took=result.duration_s))


def _behind_rails(spec: Path | None, flow: Workflow, input: Any, ctx: RunContext,
                  store: Store, execute: Callable[[Any, RunContext], RunResult] | None = None
                  ) -> tuple[Any, RunResult | None]:
    """Run ``flow`` on ``input`` behind the rails around the runs of the spec's workflow (none
    when it is not from a spec, or no rail guards it that way): the output the user gets and
    the run (None when the input rails stopped it). What the rails decided is said on stderr;
    an escalated run is queued in the spec's review queue in ``store``.

    Args:
        execute: runs the workflow (``flow.run`` by default; a resumed or replayed run's
            engine, :class:`~compound.workflow.runs.Rerun`).
    """
    execute = execute or (lambda value, context: flow.run(value, ctx=context))
    if spec is None:
        result = execute(input, ctx)
        return result.output, result
    from compound.production.rails.steps import guarded_run, run_guard
    from compound.strategy.review import ReviewQueue
    from compound.system import System

    system = System.load(spec)
    guard = run_guard(system, flow.name, store=store)
    if guard is None:
        result = execute(input, ctx)
        return result.output, result
    with guard:
        guarded = guarded_run(flow, input, guard, ctx=ctx, execute=execute,
                              review=ReviewQueue.of_system(system, store))
    _say_guarded(guarded)
    return guarded.output, guarded.run


def _spec_of(flow: Workflow) -> Path | None:
    """The spec a workflow was built from (None for a Python target)."""
    return Path(flow.source["spec"]) if flow.source and flow.source.get("spec") else None


def _say_guarded(guarded: Any) -> None:
    """What the rails around the run decided, on stderr, unless they simply allowed it."""
    if guarded.action == "allow":
        return
    colour = "yellow" if guarded.allowed else "bold red"
    console_err.print(styled(f"[{colour}]rails: {{action}}[/] {{reasons}}",
                             action=guarded.action, reasons="; ".join(guarded.reasons)))
    if guarded.review_id is not None:
        console_err.print(styled("[magenta]queued for review as item {item}[/] ('compound "
                                 "review list' shows the queue)", item=guarded.review_id))


@app.command("resume")
def resume_command(
    run_id: Annotated[str, typer.Argument(help="the run to continue")],
    home: HOME = None,
    spec: SPEC = None,
) -> None:
    """Continue a killed or failed run from its last completed step, without repeating
    side-effecting tool calls that completed; behind the rails around the run, as 'compound
    run' is."""
    from compound.workflow.loader import load_target
    from compound.workflow.runs import resuming
    from compound.workflow.state import load_run

    store = _store(home, spec)
    record = load_run(store, run_id)
    flow = load_target(record.get("target") or {})
    with resuming(flow, run_id, store=store) as again:
        output, _ = _behind_rails(_spec_of(flow), flow, again.input, again.ctx, store,
                                  again.execute)
    _print_json(output)
    console_err.print(styled("[dim]run {run} resumed and completed[/]", run=run_id))


@app.command("replay")
def replay_command(
    run_id: Annotated[str, typer.Argument(help="the run whose model outputs to reuse")],
    home: HOME = None,
    spec: SPEC = None,
) -> None:
    """Re-run a run's workflow with its recorded model outputs (no model is called and no
    side-effecting tool runs), behind the rails around the run as 'compound run' is; says
    whether the output matches the original."""
    from compound.json_values import to_json
    from compound.workflow.loader import load_target
    from compound.workflow.runs import replaying
    from compound.workflow.state import load_run

    store = _store(home, spec)
    record = load_run(store, run_id)
    flow = load_target(record.get("target") or {})
    with replaying(flow, run_id, store=store) as again:
        output, _ = _behind_rails(_spec_of(flow), flow, again.input, again.ctx, store,
                                  again.execute)
    _print_json(output)
    same = to_json(output) == record.get("output")
    verdict = "the same output as" if same else "[bold yellow]a different output from[/]"
    console_err.print(styled(f"replay {{replayed}} gave {verdict} run {{run}}",
                             replayed=again.ctx.run_id, run=run_id))


@app.command("trace")
def trace_command(
    run_id: Annotated[str, typer.Argument(help="the run to show")],
    home: HOME = None,
    spec: SPEC = None,
    show_io: Annotated[bool, typer.Option("--io", help="show inputs and outputs")] = False,
) -> None:
    """Print a run's span tree: timings, tokens, cost, stop reasons, errors, and what the
    context builder dropped."""
    from compound.workflow.state import RUNS
    from compound.workflow.tracing import read_spans, walk_tree

    store = _store(home, spec)
    record = store.get(RUNS, run_id) or {}
    spans = read_spans(store, run_id)
    if not spans and not record:
        from compound.workflow.state import load_run

        load_run(store, run_id)  # raises, listing recent runs
    if record:
        console.print(f"run {run_id}  workflow={record.get('workflow')}  "
                      f"status={record.get('status')}  tokens={record.get('tokens', 0)}  "
                      f"cost=${record.get('cost_usd', 0):.6f}", markup=False)
        if record.get("error"):
            console.print(f"  error: {record['error']}", markup=False)
    for depth, span in walk_tree(spans):
        console.print(_span_line(depth, span, show_io), markup=False)
    if not spans:
        console.print("(no spans recorded for this run)", markup=False)


def _span_line(depth: int, span: dict[str, Any], show_io: bool) -> str:
    a = span["attributes"]
    took = (span["end_ns"] - span["start_ns"]) / 1e6
    parts = [f"{'  ' * depth}{span['name']} [{span['kind']}] {took:.2f} ms"]
    if "gen_ai.usage.input_tokens" in a or "gen_ai.usage.output_tokens" in a:
        parts.append(f"tokens {a.get('gen_ai.usage.input_tokens', 0)}"
                     f"+{a.get('gen_ai.usage.output_tokens', 0)}")
    if a.get("compound.cost_usd"):
        parts.append(f"${a['compound.cost_usd']:.6f}")
    for key, label in (("compound.agent.stop_reason", "stop"),
                       ("compound.loop.stop_reason", "loop stop"),
                       ("compound.loop.iterations", "iterations"),
                       ("compound.tool.outcome", "outcome"),
                       ("compound.step.skipped", "skipped"),
                       ("compound.step.restored", "restored"),
                       ("compound.replayed", "replayed"),
                       ("compound.step.retries", "retries"),
                       ("compound.context.tokens", "context tokens"),
                       ("compound.prompt", "prompt")):
        if key in a:
            parts.append(f"{label}={a[key]}")
    if span["status"] != "ok":
        parts.append(f"{span['status'].upper()}: {span.get('error')}")
    lines = ["  ".join(parts)]
    dropped = a.get("compound.context.dropped")
    if dropped:
        pad = "  " * (depth + 1)
        lines.append(f"{pad}context dropped {len(dropped)}:")
        lines.extend(f"{pad}  - {item}" for item in dropped)
    if show_io:
        pad = "  " * (depth + 1)
        for key in ("compound.input", "gen_ai.input.messages", "gen_ai.tool.call.arguments",
                    "compound.output", "gen_ai.output.messages", "gen_ai.tool.call.result"):
            if key in a:
                lines.append(f"{pad}{key}: {json.dumps(a[key], ensure_ascii=False)[:500]}")
    return "\n".join(lines)
