"""`compound train` and `compound models show|promote|rollback`: trained ML models, and the
versions of embedded LLMs (their fine-tuned adapters, :mod:`compound.cli.llm_versions`).

Exit codes: 0 done; 1 a promotion refused by the gate, or a runtime failure (a corrupt
artifact); 2 a user error (bad spec, missing column, unknown model).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from compound.cli import app
from compound.cli.models import models_app
from compound.cli.scale import ON_OPTION, fanned_out
from compound.console import console, console_err, plain, styled

if TYPE_CHECKING:
    from compound.store import Store
    from compound.system import System

SPEC_ARG = Annotated[
    Path, typer.Argument(help="a compound.yaml, or a folder holding one", show_default=False)
]
MODEL_ARG = Annotated[str, typer.Argument(
    help="the model's name under 'models': a trained model, or an embedded LLM (its adapters)")]


@app.command()
def train(
    spec: SPEC_ARG,
    component: Annotated[
        str | None, typer.Argument(help="the predictor to train; all of them when omitted")
    ] = None,
    promote: Annotated[
        bool, typer.Option(help="promote the new version if it passes the promotion gate")
    ] = False,
    details: Annotated[bool, typer.Option(help="also show per-class scores")] = False,
    on: ON_OPTION = None,
) -> None:
    """Train predictors declared in the spec and register each as a candidate version
    (with --on ray, a cross-fitted model's folds, and each fold of each of its 'candidates'
    learners, are fitted in parallel as Ray tasks)."""
    from compound.errors import UserError
    from compound.intelligence.ml.report import metrics_table, per_class_table, selection_table
    from compound.intelligence.ml.training import train as train_model
    from compound.store import open_store
    from compound.system import System

    system = System.load(spec)
    names = [component] if component else list(system.predictors())
    if not names:
        raise UserError(
            f"system '{system.name}' declares no trained model (kind: predictor) under 'models'"
        )
    refused = False
    with open_store(system) as store, fanned_out(on) as fan_out:
        for name in names:
            sent = getattr(fan_out, "tasks", 0)
            result = train_model(system, name, store=store, console=console_err,
                                 fan_out=fan_out)
            if fan_out is not None and getattr(fan_out, "tasks", 0) == sent:
                console_err.print(styled(
                    "note: --on {on}: model '{name}' has no cross-fitted folds and no "
                    "'candidates' to compare, so nothing went to Ray; it was trained here",
                    on=on or "", name=name))
            if result.selection is not None:
                console.print(selection_table(result.selection))
            console.print(metrics_table(result))
            if details and (table := per_class_table(result.report)) is not None:
                console.print(table)
            assert result.record is not None
            console.print(
                styled("registered [bold]{ref}[/] as a candidate", ref=result.record.ref),
                "" if promote else f"; promote it with: compound models promote {spec} {name}",
                sep="",
            )
            if promote:
                refused |= not _promote(system, store, name, result.record.version)
    if refused:
        raise SystemExit(1)


@models_app.command("show")
def show(
    spec: SPEC_ARG,
    name: MODEL_ARG,
    version: Annotated[
        int | None, typer.Option(help="the version; production (else the newest) when omitted")
    ] = None,
) -> None:
    """A model's versions, and everything recorded about one of them (an LLM: its adapters)."""
    from rich.table import Table

    from compound.intelligence.ml.report import selection_table, version_table
    from compound.intelligence.ml.selection import selection_from
    from compound.intelligence.registry import ModelRegistry, predictor_spec
    from compound.store import open_store
    from compound.system import System

    system = System.load(spec)
    if name in system.llms():
        from compound.cli.llm_versions import show_versions

        with open_store(system) as store:
            show_versions(system, store, name)
        return
    predictor_spec(system, name)
    with open_store(system) as store:
        registry = ModelRegistry(store)
        versions = registry.versions(name)
        if not versions:
            console.print(f"model '{name}' has no versions yet; train it with: "
                          f"compound train {spec} {name}")
            return
        chosen = (registry.get(name, version) if version is not None
                  else registry.production(name) or versions[-1])
    table = Table(title=f"versions of {name}", title_justify="left")
    for column in ("version", "stage", "metrics", "churn", "data sha256"):
        table.add_column(column)
    for record in versions:
        metrics = ", ".join(f"{k} {v:.4f}" for k, v in list(record.metrics.items())[:3])
        digest = str(record.data.get("train", {}).get("sha256", ""))[:12]
        churn = record.churn
        shown = (f"{churn['churn']:.4f} vs v{churn['against']} (confident "
                 f"{churn['confident_churn']:.4f}, negative "
                 f"{churn.get('negative_flips') or 0:.4f})" if churn else "-")
        table.add_row(str(record.version), record.stage, metrics, shown, digest)
    console.print(table)
    console.print(version_table(chosen))
    if "selection" in chosen.report:
        console.print(selection_table(selection_from(chosen.report["selection"])))


@models_app.command("promote")
def promote_command(
    spec: SPEC_ARG,
    name: MODEL_ARG,
    version: Annotated[
        int | None, typer.Option(help="the candidate; the newest candidate when omitted")
    ] = None,
    eval_name: Annotated[str | None, typer.Option(
        "--eval", help="an LLM's version: the eval to judge it on (the one running the LLM "
                       "when omitted)")] = None,
    limit: Annotated[int | None, typer.Option(
        help="an LLM's version: evaluate only the first N examples", min=1)] = None,
) -> None:
    """Make a candidate the production version, if it meets the criteria and does not regress
    (an LLM's version is evaluated against production on the spec's eval first)."""
    from compound.store import open_store
    from compound.system import System

    system = System.load(spec)
    with open_store(system) as store:
        if name in system.llms():
            from compound.cli.llm_versions import promote_version

            chosen = version if version is not None else _newest_llm_candidate(store, name)
            promoted = promote_version(system, store, name, chosen, eval_name=eval_name,
                                       limit=limit)
        else:
            promoted = _promote(system, store, name, version)
    if not promoted:
        raise SystemExit(1)


@models_app.command("rollback")
def rollback(spec: SPEC_ARG, name: MODEL_ARG) -> None:
    """Restore the production version that came before the current one."""
    from compound.intelligence.llm.versions import LLMRegistry, embedded_llm
    from compound.intelligence.registry import ModelRegistry, predictor_spec
    from compound.store import open_store
    from compound.system import System

    system = System.load(spec)
    if name in system.llms():
        embedded_llm(system, name)
    else:
        predictor_spec(system, name)
    with open_store(system) as store:
        registry: ModelRegistry | LLMRegistry = (
            LLMRegistry(store) if name in system.llms() else ModelRegistry(store))
        before = registry.production(name)
        restored = registry.rollback(name)
    console.print(styled("rolled back [bold]{name}[/]: version {before} archived, version "
                         "{after} is in production again", name=name,
                         before=before.version if before else "-", after=restored.version))


def _newest_llm_candidate(store: Store, name: str) -> int:
    from compound.errors import UserError
    from compound.intelligence.llm.versions import LLMRegistry

    candidates = [v.version for v in LLMRegistry(store).versions(name)
                  if v.stage == "candidate"]
    if not candidates:
        raise UserError(f"LLM '{name}' has no candidate version to promote; train one with "
                        f"'compound finetune SPEC {name}'")
    return candidates[-1]


def _promote(system: System, store: Store, name: str, version: int | None) -> bool:
    from compound.intelligence.ml.report import gate_table
    from compound.intelligence.promotion import spec_gate
    from compound.intelligence.registry import ModelRegistry, predictor_spec

    predictor_spec(system, name)
    decision = ModelRegistry(store).promote(name, version, **spec_gate(system, name))
    if decision.checks:
        console.print(gate_table(decision.checks))
    if decision.rows:
        console.print(decision.rows, markup=False, highlight=False)
    colour = "green" if decision.promoted else "red"
    console.print(plain(decision.message, style=colour))
    return decision.promoted
