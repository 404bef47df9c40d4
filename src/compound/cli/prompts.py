"""`compound prompts list|show|diff|add|promote|rollback`: versioned prompts of LLM steps.

Every command first registers the spec's prompts whose text is not registered yet
(:func:`compound.orchestration.prompts.seed_from_spec`).

Exit codes: 0 done; 1 a promotion refused by the gate; 2 a user error (bad spec, unknown
prompt or version).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from compound.cli import app
from compound.console import console, console_err, plain, styled

if TYPE_CHECKING:
    from compound.orchestration.prompts import PromptRegistry
    from compound.system import System

prompts_app = typer.Typer(
    help="Versioned prompts of LLM steps: list, show, diff, add, promote and roll back.",
    no_args_is_help=True,
)
app.add_typer(prompts_app, name="prompts")

SPEC_ARG = Annotated[
    Path, typer.Argument(help="a compound.yaml, or a folder holding one", show_default=False)
]
NAME_ARG = Annotated[str, typer.Argument(help="the prompt: WORKFLOW.STEP of an LLM step")]
JSON_OPTION = Annotated[bool, typer.Option("--json", help="print JSON instead of tables")]


@contextmanager
def _registry(spec: Path, *, quiet: bool = False) -> Iterator[tuple[System, PromptRegistry]]:
    """The system and its prompt registry, with the spec's prompts registered."""
    from compound.orchestration.prompts import PromptRegistry, seed_from_spec
    from compound.store import open_store
    from compound.system import System

    system = System.load(spec)
    with open_store(system) as store:
        for record in seed_from_spec(system, store):
            if not quiet:
                console_err.print(styled("registered [bold]{ref}[/] from the spec ({stage})",
                                         ref=record.ref, stage=record.stage))
        yield system, PromptRegistry(store)


def _metrics(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in list(metrics.items())[:3]) or "-"


@prompts_app.command("list")
def list_command(spec: SPEC_ARG, as_json: JSON_OPTION = False) -> None:
    """Each prompt: its versions, the production version and its metrics."""
    from rich.table import Table

    with _registry(spec, quiet=as_json) as (_, registry):
        rows = []
        for name in registry.names():
            versions = registry.versions(name)
            current = registry.production(name)
            rows.append({
                "name": name, "versions": len(versions),
                "production": current.version if current else None,
                "source": current.source if current else None,
                "candidates": [v.version for v in versions if v.stage == "candidate"],
                "metrics": current.metrics if current else {},
            })
    if as_json:
        console.print_json(json.dumps(rows))
        return
    if not rows:
        console.print("no prompts: the system has no LLM step with a 'template' option, and "
                      "none was registered")
        return
    table = Table(title="prompts", title_justify="left")
    for column in ("prompt", "versions", "production", "candidates", "metrics"):
        table.add_column(column)
    for row in rows:
        production = "-" if row["production"] is None else f"{row['production']} ({row['source']})"
        table.add_row(plain(row["name"]), str(row["versions"]), plain(production),
                      ", ".join(map(str, row["candidates"])) or "-",
                      plain(_metrics(row["metrics"])))
    console.print(table)


def _split_ref(ref: str) -> tuple[str, int | None]:
    """``name@3`` as ``("name", 3)``; ``name`` as ``("name", None)``."""
    from compound.errors import UserError

    name, at, version = ref.rpartition("@")
    if not at:
        return ref, None
    if not version.isdigit():
        raise UserError(f"'{ref}': the version after '@' must be a whole number, as in "
                        f"{name}@2")
    return name, int(version)


@prompts_app.command("show")
def show(
    spec: SPEC_ARG,
    ref: Annotated[str, typer.Argument(
        help="NAME or NAME@VERSION; the production version (else the newest) when no version")],
    as_json: JSON_OPTION = False,
) -> None:
    """A prompt's versions, and everything one of them holds."""
    from rich.table import Table

    name, version = _split_ref(ref)
    with _registry(spec, quiet=as_json) as (_, registry):
        registry.known(name)
        versions = registry.versions(name)
        chosen = (registry.get(name, version) if version is not None
                  else registry.production(name) or versions[-1])
    if as_json:
        console.print_json(json.dumps(chosen.model_dump(mode="json")))
        return
    table = Table(title=f"versions of {name}", title_justify="left")
    for column in ("version", "stage", "source", "examples", "metrics", "note"):
        table.add_column(column)
    for record in versions:
        table.add_row(str(record.version), record.stage, record.source,
                      str(len(record.examples)), plain(_metrics(record.metrics)),
                      plain(record.note))
    console.print(table)
    detail = Table(title=f"{chosen.ref} ({chosen.stage})", title_justify="left",
                   show_header=False)
    detail.add_column("field", style="bold")
    detail.add_column("value")
    detail.add_row("template", plain(chosen.template))
    detail.add_row("system", plain(chosen.system or "-"))
    detail.add_row("instructions", plain(chosen.instructions or "-"))
    for number, example in enumerate(chosen.examples, 1):
        shown = example.input if isinstance(example.input, str) else json.dumps(
            example.input, ensure_ascii=False)
        detail.add_row(f"example {number}", plain(f"{shown}\n-> {example.output}"))
    if chosen.evaluated:
        detail.add_row("evaluated", plain(json.dumps(chosen.evaluated)))
    console.print(detail)


@prompts_app.command("diff")
def diff(
    spec: SPEC_ARG,
    name: NAME_ARG,
    a: Annotated[int, typer.Argument(help="the version to compare from")],
    b: Annotated[int, typer.Argument(help="the version to compare to")],
) -> None:
    """A unified diff of two versions' template, system message, instructions and examples."""
    with _registry(spec) as (_, registry):
        registry.known(name)
        text = registry.diff(name, a, b)
    if not text:
        console.print(styled("{name} versions {a} and {b} show the model the same prompt",
                             name=name, a=a, b=b))
        return
    styles = {"+": "green", "-": "red", "@": "cyan"}
    for line in text.splitlines():
        console.print(plain(line, style=styles.get(line[:1], "")), soft_wrap=True)


@prompts_app.command("add")
def add(
    spec: SPEC_ARG,
    name: NAME_ARG,
    template: Annotated[str | None, typer.Option(help="the template (else production's)")] = None,
    system: Annotated[str | None, typer.Option(help="the system message")] = None,
    instructions: Annotated[str | None, typer.Option(help="instructions after it")] = None,
    examples: Annotated[Path | None, typer.Option(
        help="a JSONL file of few-shot examples, one {\"input\": ..., \"output\": ...} a line")
    ] = None,
    note: Annotated[str, typer.Option(help="why this version")] = "",
) -> None:
    """Register a candidate version; what is not given is the production version's."""
    from compound.errors import UserError
    from compound.evaluation.prompt_promotion import spec_prompt
    from compound.orchestration.prompts import fields_problem

    rows = None if examples is None else _read_examples(examples)
    with _registry(spec) as (system_spec, registry):
        prompt = spec_prompt(system_spec, name)
        problem = None if template is None else fields_problem(
            template, prompt.template, what="--template")
        if problem is not None:
            raise UserError(problem)
        record = registry.register(name, template=template, system=system,
                                   instructions=instructions, examples=rows, note=note)
    console.print(styled("registered [bold]{ref}[/] as a candidate; promote it with: compound "
                         "prompts promote {spec} {name} {version}", ref=record.ref, spec=spec,
                         name=name, version=record.version))


def _read_examples(path: Path) -> list[dict[str, Any]]:
    from compound.datafiles import NotJSON, parse_json
    from compound.errors import UserError

    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UserError(f"cannot read the examples file {path}: {exc.strerror}") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = parse_json(line)
        except NotJSON as exc:
            raise UserError(f"{path}:{number}: not JSON ({exc.msg})") from None
        if not isinstance(row, dict) or set(row) != {"input", "output"}:
            raise UserError(f"{path}:{number}: expected {{\"input\": ..., \"output\": ...}}, "
                            f"received {line[:120]!r}")
        rows.append(row)
    return rows


@prompts_app.command("promote")
def promote(
    spec: SPEC_ARG,
    name: NAME_ARG,
    version: Annotated[int, typer.Argument(help="the candidate version")],
    eval_name: Annotated[str | None, typer.Option(
        "--eval", help="the eval to judge it on; the one running its workflow when omitted")
    ] = None,
    limit: Annotated[int | None, typer.Option(
        help="evaluate only the first N examples", min=1)] = None,
    as_json: JSON_OPTION = False,
) -> None:
    """Evaluate a version and the production one on the workflow's eval, and make the version
    production if it meets the criteria and does not regress."""
    from compound.evaluation.prompt_promotion import promote_prompt
    from compound.intelligence.ml.report import gate_table

    with _registry(spec, quiet=as_json) as (system, registry):
        result = promote_prompt(system, registry.store, name, version, eval_name=eval_name,
                                limit=limit, progress=not as_json)
    decision = result.decision
    if as_json:
        console.print_json(json.dumps({
            "prompt": name, "version": version, "promoted": decision.promoted,
            "replaced": decision.replaced, "message": decision.message,
            "checks": [c.model_dump(mode="json") for c in decision.checks],
            "candidate_run": result.candidate.id, "baseline_run": result.baseline.id}))
    else:
        if decision.checks:
            console.print(gate_table(decision.checks))
        console.print(styled("decided on {rows} rows of eval '{eval}' (runs {run} and baseline "
                             "{base})", rows=result.candidate.counts.get("total", 0),
                             eval=result.candidate.eval, run=result.candidate.id,
                             base=result.baseline.id))
        console.print(plain(decision.message, style="green" if decision.promoted else "red"))
    if not decision.promoted:
        raise SystemExit(1)


@prompts_app.command("rollback")
def rollback(spec: SPEC_ARG, name: NAME_ARG) -> None:
    """Restore the production version that came before the current one."""
    with _registry(spec) as (_, registry):
        registry.known(name)
        before = registry.production(name)
        restored = registry.rollback(name)
    console.print(styled("rolled back [bold]{name}[/]: version {before} archived, version "
                         "{after} is in production again", name=name,
                         before=before.version if before else "-", after=restored.version))
