"""`compound review ...` (the human review queue) and `compound route calibrate` (a confidence
router's threshold, calibrated on labelled data to the spec's target)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from compound.cli import app
from compound.console import console, console_err, plain

if TYPE_CHECKING:
    from compound.strategy.review import ReviewItem, ReviewQueue
    from compound.system import System

SPEC_ARG = Annotated[
    Path, typer.Argument(help="a compound.yaml, or a folder holding one", show_default=False)
]
QUEUE_OPT = Annotated[
    str | None, typer.Option("--queue", help="the queue; default the spec's strategy.review.queue")
]

review_app = typer.Typer(help="List, show and resolve requests waiting for a person.",
                         no_args_is_help=True)
route_app = typer.Typer(help="Routers: calibrate a confidence router's threshold.",
                        no_args_is_help=True)
app.add_typer(review_app, name="review")
app.add_typer(route_app, name="route")


def _queue(spec: Path, queue: str | None) -> tuple[System, ReviewQueue]:
    from compound.store import open_store
    from compound.strategy.review import ReviewQueue
    from compound.system import System

    system = System.load(spec)
    review = system.strategy.review
    return system, ReviewQueue(open_store(system), queue=queue or review.queue,
                               labels=review.labels)


def _short(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


@review_app.command("list")
def review_list(
    spec: SPEC_ARG,
    status: Annotated[str, typer.Option(help="open, approved, corrected, rejected or all")
                      ] = "open",
    queue: QUEUE_OPT = None,
    limit: Annotated[int | None, typer.Option(min=1, help="show at most N")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Items of the review queue, oldest first."""
    from rich.table import Table

    from compound.errors import UserError

    allowed = ("open", "approved", "corrected", "rejected", "all")
    if status not in allowed:
        raise UserError(f"--status must be one of {', '.join(allowed)}; received {status!r}")
    _, review = _queue(spec, queue)
    items = review.entries(status=status, limit=limit)  # type: ignore[arg-type]
    if as_json:
        console.print_json(json.dumps([i.to_dict() for i in items], default=str))
        return
    counts = review.counts()
    table = Table(title=f"review queue '{review.queue}': " + ", ".join(
        f"{n} {s}" for s, n in counts.items()), title_justify="left")
    for column in ("id", "status", "reason", "proposed", "confidence", "input"):
        table.add_column(column)
    for item in items:
        table.add_row(str(item.id), item.status, item.reason, _short(item.proposed, 28),
                      "-" if item.confidence is None else f"{item.confidence:.2f}",
                      _short(item.input))
    console.print(table)
    if not items:
        console_err.print(f"no {status} items" if status != "all" else "the queue is empty")


def _show(item: ReviewItem) -> None:
    from rich.table import Table

    table = Table(show_header=False, title=f"review item {item.id}", title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    rows: list[tuple[str, Any]] = [
        ("status", item.status), ("reason", item.reason), ("source", item.source or "-"),
        ("proposed", item.proposed), ("confidence", item.confidence),
        ("run", item.run_id or "-"), ("input", item.input),
    ]
    if item.context:
        rows.append(("context", item.context))
    if item.resolution is not None:
        r = item.resolution
        rows += [("resolution", f"{r.action} -> {r.label!r}"), ("reviewer", r.reviewer or "-"),
                 ("note", r.note or "-")]
    for key, value in rows:
        table.add_row(key, value if isinstance(value, str) else json.dumps(value, default=str))
    console.print(table)


@review_app.command("show")
def review_show(
    spec: SPEC_ARG,
    item: Annotated[str, typer.Argument(help="the item's id (see 'compound review list')")],
    queue: QUEUE_OPT = None,
) -> None:
    """One item in full: the request, the proposal, why it is here."""
    _, review = _queue(spec, queue)
    _show(review.get(item))


@review_app.command("resolve")
def review_resolve(
    spec: SPEC_ARG,
    item: Annotated[str, typer.Argument(help="the item's id")],
    approve: Annotated[bool, typer.Option("--approve", help="the proposal is right")] = False,
    correct: Annotated[str | None, typer.Option("--correct", metavar="LABEL",
                                                help="the right answer")] = None,
    reject: Annotated[bool, typer.Option("--reject", help="no answer is right")] = False,
    reviewer: Annotated[str, typer.Option(help="who decided")] = "",
    note: Annotated[str, typer.Option(help="why")] = "",
    queue: QUEUE_OPT = None,
) -> None:
    """Approve, correct or reject an item; approved and corrected ones become labelled data."""
    from compound.errors import UserError

    chosen = [a for a, on in (("approve", approve), ("correct", correct is not None),
                              ("reject", reject)) if on]
    if len(chosen) != 1:
        raise UserError("give exactly one of --approve, --correct LABEL or --reject")
    _, review = _queue(spec, queue)
    resolved = review.resolve(item, chosen[0], label=correct,  # type: ignore[arg-type]
                              reviewer=reviewer, note=note)
    label = resolved.resolution.label if resolved.resolution else None
    console.print(f"item {resolved.id} {resolved.status}"
                  + (f": {label!r}" if label is not None else ""))


@review_app.command("export")
def review_export(
    spec: SPEC_ARG,
    out: Annotated[Path, typer.Argument(help="JSONL file to write")],
    queue: QUEUE_OPT = None,
) -> None:
    """Write approved and corrected items as {"input", "label"} rows (training data)."""
    _, review = _queue(spec, queue)
    rows = review.labelled()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(r, default=str) + "\n" for r in rows), encoding="utf-8")
    console.print(f"wrote {len(rows)} labelled rows to {out}")


@route_app.command("calibrate")
def route_calibrate(
    spec: SPEC_ARG,
    router: Annotated[str, typer.Argument(help="a router with 'kind: confidence'")],
    data: Annotated[Path | None, typer.Option(
        help="labelled JSONL/CSV; default the router's calibration_dataset, else the "
        "model's out-of-fold predictions (split.cross_fit)")] = None,
    plot: Annotated[Path | None, typer.Option(help="write the curve as SVG here")] = None,
    save: Annotated[bool, typer.Option(help="keep the chosen threshold in the store")] = True,
    confidence_level: Annotated[float | None, typer.Option(
        min=0.5, max=0.999, help="require a Wilson lower bound at this level; default the "
        "router's confidence_level (0.95)")] = None,
) -> None:
    """Choose the router's threshold on labelled data to meet its target; show the curve."""
    from compound.strategy.thresholds import calibrate_router

    calibration, version = calibrate_router(spec, router, data=data,
                                            confidence_level=confidence_level, save=save)
    console.print(calibration.table(every=max(1, len(calibration.points) // 25)))
    if calibration.source:
        console.print(f"calibrated on {calibration.source}", markup=False)
    chosen = calibration.chosen
    if chosen is None:
        console_err.print(plain(f"no threshold meets {calibration.target}", style="red"))
    else:
        console.print(
            f"chosen threshold {chosen.threshold:.4f}: {chosen.coverage:.1%} answered by the "
            f"model at {chosen.covered_accuracy:.2%} accuracy, ${chosen.cost_per_1k_usd:.4f} "
            f"per 1,000 requests (model version {version})"
            + ("; saved" if save else ""))
        console.print(calibration.expected(), markup=False)
    if plot is not None:
        from compound.strategy.plot import calibration_svg

        plot.parent.mkdir(parents=True, exist_ok=True)
        plot.write_text(calibration_svg(calibration, title=f"router {router}: "
                                        f"{calibration.target}"), encoding="utf-8")
        console.print(f"plot: {plot}")
    if chosen is None:
        raise typer.Exit(1)
