"""`compound eval` (the gate CI uses) and `compound datasets ...` (versioned eval datasets).

Exit codes of `compound eval`: 0 every gate passed; 1 a criterion failed or a metric regressed
beyond its tolerance (the failing checks are named); 2 a user error.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from compound.cli import app
from compound.cli.scale import ACTORS_OPTION, ON_OPTION
from compound.console import console, console_err, plain, styled
from compound.scale.cluster import DEFAULT_ACTORS

if TYPE_CHECKING:
    from compound.evaluation.report import EvalReport
    from compound.evaluation.results import RunRepository
    from compound.evaluation.runner import EvalRunner
    from compound.store import Store
    from compound.system import System

SPEC_ARG = Annotated[
    Path, typer.Argument(help="a compound.yaml, or a folder holding one", show_default=False)
]


@app.command("eval")
def eval_command(
    spec: SPEC_ARG,
    name: Annotated[
        list[str] | None, typer.Option("--name", "-n", help="run only this eval (repeatable)")
    ] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="write an HTML report with plots here")
    ] = None,
    baseline: Annotated[
        str | None,
        typer.Option(help="run id to compare with; default the last run that passed its gate; "
                     "'none' for no comparison"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print results as JSON")] = False,
    limit: Annotated[
        int | None, typer.Option(help="evaluate only the first N examples", min=1)
    ] = None,
    fresh: Annotated[
        bool, typer.Option(help="start a new run instead of resuming an interrupted one")
    ] = False,
    cache: Annotated[bool, typer.Option(help="reuse cached model outputs")] = True,
    strict: Annotated[
        bool, typer.Option(help="fail when a criterion is measured by no eval")
    ] = False,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
    compare: Annotated[
        str | None,
        typer.Option(help="judge this run's answers against another run's, pair by pair, with "
                     "positions swapped (uses the eval's judge)"),
    ] = None,
    on: ON_OPTION = None,
    actors: ACTORS_OPTION = DEFAULT_ACTORS,
) -> None:
    """Run a system's evals, print each metric with its 95% interval against the baseline,
    and exit 1 when a criterion fails or a metric regresses beyond its tolerance."""
    from compound.errors import UserError
    from compound.evaluation.runner import EvalRunner
    from compound.store import open_store
    from compound.system import System

    system = System.load(spec)
    if not system.evals:
        raise UserError(
            f"{system.source}: the system declares no evals; add an 'evals:' section (a dataset,"
            " a target and metrics), see the eval docs"
        )
    names = name or list(system.evals)
    store = open_store(system)
    with ExitStack() as stack:
        rows = None
        if on is not None:
            from compound.scale.cluster import RayCluster
            from compound.scale.eval import RayRows

            stack.enter_context(RayCluster(on, cpus=actors))
            rows = RayRows(spec, actors=actors, limit=limit, use_cache=cache)
        runner = EvalRunner(store, progress=progress and not as_json, rows=rows)
        _run_evals(system, store, runner, names, report=report, baseline=baseline,
                   as_json=as_json, limit=limit, fresh=fresh, cache=cache, strict=strict,
                   compare=compare)


def _run_evals(system: System, store: Store, runner: EvalRunner, names: list[str], *,
               report: Path | None, baseline: str | None, as_json: bool, limit: int | None,
               fresh: bool, cache: bool, strict: bool, compare: str | None) -> None:
    from compound.evaluation.gates import check_gate, failures, passed
    from compound.evaluation.plan import plan_eval
    from compound.evaluation.report import EvalReport, write_report
    from compound.evaluation.results import RunRepository
    from compound.evaluation.table import STATUS_STYLE, errors_table, run_table, suites_table

    repo = RunRepository(store)
    reports: list[EvalReport] = []
    all_failures: list[str] = []
    for eval_name in names:
        plan = plan_eval(system, eval_name, store=store, limit=limit, use_cache=cache)
        run = runner.run(plan, resume=not fresh)
        base = None
        if baseline and baseline.lower() != "none":
            base = repo.get(baseline)
        elif baseline is None:
            base = repo.baseline(eval_name, exclude=run.id,
                                 dataset_version=run.dataset.get("version"))
        spec_metrics = system.evals[eval_name].metric_specs()
        checks = check_gate(
            run, criteria=_criteria_for(system, run.values()),
            tolerances={m.name: m.tolerance for m in spec_metrics}, baseline=base,
            max_error_rate=plan.max_error_rate,
        )
        run.gate, run.baseline = checks, base.id if base else None
        run.gate_passed = passed(checks)
        repo.save(run)
        all_failures += [f"{eval_name}: {c.name} {c.status} ({c.message})"
                         for c in failures(checks)]
        rows = repo.rows(run.id)
        reports.append(EvalReport(run=run, rows=rows, history=repo.runs(eval_name)[-20:],
                                  baseline=base))
        if not as_json:
            console.print(run_table(run, base))
            for check in checks:
                if check.status != "pass" and check.message:
                    style = STATUS_STYLE[check.status]
                    console.print("  ", plain(check.status, style=style),
                                  f" {check.name}: {check.message}", sep="")
            for metric_name, problem in run.metric_errors.items():
                console.print(styled("  [red]metric error[/] {name}: {problem}", name=metric_name,
                                     problem=problem))
            if run.suites:
                console.print(suites_table(run))
            if run.judge_agreement:
                _print_agreement(run.judge_agreement)
            if run.counts.get("error") or run.counts.get("invalid"):
                console.print(errors_table(rows))
        if compare is not None:
            _print_pairwise(system, eval_name, repo, run.id, repo.get(compare).id)
    if report is not None:
        path = write_report(report, reports, title=f"{system.name}: eval report")
        console_err.print(f"report written to {path}")
    if as_json:
        console.print_json(json.dumps([r.run.model_dump(mode="json") for r in reports]))
    if strict:
        measured = {m.name for r in reports for m in r.run.metrics}
        for key, criterion in system.criteria.items():
            metric_name = criterion.metric or key
            if metric_name not in measured:
                all_failures.append(f"criterion {key}: no eval measures '{metric_name}'")
    if all_failures:
        console_err.print(styled("[bold red]gate failed:[/]\n{failures}",
                                 failures="\n".join(f"  - {f}" for f in all_failures)))
        # SystemExit, not typer.Exit: the entry point runs Typer with standalone_mode=False,
        # where an Exit's code would be returned and lost.
        raise SystemExit(1)
    console_err.print(styled("[green]gate passed[/]"))


def _criteria_for(system: System, values: dict[str, float | None]) -> dict:
    """The criteria a run is gated on: those whose metric it measured. (``--strict`` checks
    afterwards that every criterion was measured by some eval.)"""
    return {k: c for k, c in system.criteria.items() if (c.metric or k) in values}


def _print_pairwise(system: System, eval_name: str, repo: RunRepository, run_id: str,
                    other: str) -> None:
    from compound.evaluation.cache import OutputCache
    from compound.evaluation.compare import compare_runs
    from compound.evaluation.judges import PairwiseJudge
    from compound.intelligence.llm import build_llm
    from compound.strategy.cache.llm import CachedLLM

    judge_spec = system.evals[eval_name].judge
    model = (judge_spec.model if judge_spec else None) or system.default_llm()
    judge = PairwiseJudge(CachedLLM(build_llm(system.llms()[model]), OutputCache(repo.store)))
    result = compare_runs(repo, run_id, other, judge)
    console.print(
        f"pairwise ({model} judging, both orders) {run_id} vs {other} over {result.n} "
        f"examples: wins {result.wins_a}, losses {result.wins_b}, ties {result.ties} -> win "
        f"rate {result.win_rate_a:.3f}; {result.inconsistent} verdicts flipped with the order "
        f"(position A picked {result.position_a_rate:.0%} of the time)"
    )


def _print_agreement(agreement: dict) -> None:
    kappa = agreement.get("kappa")
    verdict = styled("[green]trusted[/]" if agreement.get("trusted") else "[red]not trusted[/]")
    shown = "-" if kappa is None else f"{kappa:.3f}"
    console.print(
        f"judge agreement with human labels: Cohen's kappa {shown} over {agreement.get('n')} "
        f"rows (needs {agreement.get('min_kappa')}): ", verdict, sep=""
    )


# -- datasets --------------------------------------------------------------------------------

datasets_app = typer.Typer(
    help="Versioned eval datasets: add, list, show and diff.", no_args_is_help=True
)
app.add_typer(datasets_app, name="datasets")


def _open(spec: Path) -> tuple[System, Store]:
    from compound.store import open_store
    from compound.system import System

    system = System.load(spec)
    return system, open_store(system)


@datasets_app.command("add")
def datasets_add(
    spec: SPEC_ARG,
    file: Annotated[
        Path | None, typer.Argument(help="a .jsonl or .csv file (or use --from-traces)")
    ] = None,
    from_traces: Annotated[
        bool, typer.Option(help="one row per traced workflow run, with its feedback")
    ] = False,
    workflow: Annotated[
        str | None, typer.Option(help="with --from-traces: only runs of this workflow")
    ] = None,
    corrected_only: Annotated[
        bool, typer.Option(help="with --from-traces: only runs whose feedback has a correction")
    ] = False,
    name: Annotated[str | None, typer.Option(help="dataset name; default the file name")] = None,
    id_field: Annotated[str | None, typer.Option("--id", help="field with stable ids")] = None,
    split: Annotated[
        list[str] | None,
        typer.Option(help="assign splits by hashed id, e.g. --split train=0.8 --split test=0.2"),
    ] = None,
    seed: Annotated[int, typer.Option(help="seed of the split assignment")] = 0,
) -> None:
    """Store a version of a dataset (identified by its content hash)."""
    from compound.errors import UserError
    from compound.evaluation.dataset_store import DatasetRegistry
    from compound.evaluation.datasets import Dataset

    _, store = _open(spec)
    if from_traces:
        from compound.evaluation.trace_datasets import dataset_from_traces

        def corrected(row: dict) -> bool:
            return isinstance(row.get("feedback"), dict) and bool(row["feedback"].get("correction"))

        dataset = dataset_from_traces(store, name=name or workflow or "traces", workflow=workflow,
                                      where=corrected if corrected_only else None)
        if not len(dataset):
            raise UserError("no traced runs matched; run a workflow with 'compound run' first "
                            "(and record feedback for --corrected-only)")
    elif file is None:
        raise UserError("give a .jsonl/.csv FILE, or --from-traces")
    else:
        dataset = Dataset.from_file(file, name=name, id_field=id_field)
    if split:
        fractions = {}
        for item in split:
            key, _, value = item.partition("=")
            try:
                fractions[key] = float(value)
            except ValueError:
                raise UserError(f"--split expects NAME=FRACTION, received '{item}'") from None
        dataset = dataset.with_splits(fractions, seed=seed)
    info = DatasetRegistry(store).save(dataset)
    console.print(f"stored {info.ref}: {info.rows} rows, splits {info.splits}")


@datasets_app.command("list")
def datasets_list(spec: SPEC_ARG) -> None:
    """Every stored dataset version."""
    import time

    from rich.table import Table

    from compound.evaluation.dataset_store import DatasetRegistry

    _, store = _open(spec)
    table = Table(title="datasets", title_justify="left")
    for column in ("name", "version", "rows", "splits", "source", "created"):
        table.add_column(column)
    for info in DatasetRegistry(store).list():
        splits = ", ".join(f"{k} {v}" for k, v in info.splits.items())
        created = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.created))
        table.add_row(info.name, info.version, str(info.rows), splits, info.source[-50:], created)
    console.print(table)


@datasets_app.command("show")
def datasets_show(
    spec: SPEC_ARG,
    ref: Annotated[str, typer.Argument(help="NAME (latest) or NAME@VERSION")],
    rows: Annotated[int, typer.Option(help="how many rows to print")] = 5,
) -> None:
    """A dataset version: fields, splits and its first rows."""
    from compound.evaluation.dataset_store import DatasetRegistry

    _, store = _open(spec)
    registry = DatasetRegistry(store)
    info = registry.info(ref)
    dataset = registry.load(info.ref)
    console.print(styled("[bold]{ref}[/]: {rows} rows from {source}", ref=info.ref, rows=info.rows,
                         source=info.source))
    console.print(f"fields: {', '.join(info.fields)}")
    console.print(f"splits: {', '.join(f'{k} {v}' for k, v in info.splits.items())}")
    for row in dataset.rows[:rows]:
        console.print(json.dumps(row, ensure_ascii=False)[:400], markup=False)


@datasets_app.command("diff")
def datasets_diff(
    spec: SPEC_ARG,
    a: Annotated[str, typer.Argument(help="NAME@VERSION (the older)")],
    b: Annotated[str, typer.Argument(help="NAME@VERSION (the newer)")],
    show: Annotated[int, typer.Option(help="ids to list per kind of change")] = 10,
) -> None:
    """Rows added, removed and changed between two versions (matched by id)."""
    from compound.evaluation.dataset_store import DatasetRegistry

    _, store = _open(spec)
    diff = DatasetRegistry(store).diff(a, b)
    console.print(styled("[bold]{a}[/] -> [bold]{b}[/]: ", a=diff.a, b=diff.b),
                  f"{len(diff.added)} added, {len(diff.removed)} removed, "
                  f"{len(diff.changed)} changed, {diff.unchanged} unchanged", sep="")
    for label, ids in (("added", diff.added), ("removed", diff.removed),
                       ("changed", diff.changed)):
        if ids:
            more = f" (+{len(ids) - show} more)" if len(ids) > show else ""
            console.print(f"  {label}: {', '.join(ids[:show])}{more}", markup=False)
