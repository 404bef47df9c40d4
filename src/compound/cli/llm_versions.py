"""What `compound models show|promote|rollback` and `compound finetune` print for an LLM's
versions (its fine-tuned adapters): the versions table and a promotion's outcome."""

from __future__ import annotations

from typing import TYPE_CHECKING

from compound.console import console, plain, styled

if TYPE_CHECKING:
    from rich.table import Table

    from compound.lifecycle.finetune.promotion import LLMPromotion
    from compound.store import Store
    from compound.system import System


def show_versions(system: System, store: Store, name: str) -> None:
    """Print the versions of LLM ``name``."""
    from rich.table import Table

    from compound.intelligence.llm.versions import LLMRegistry, embedded_llm

    embedded_llm(system, name)
    versions = LLMRegistry(store).versions(name)
    if not versions:
        console.print(f"LLM '{name}' has no versions yet: it runs as the spec says; "
                      f"'compound finetune {system.source} {name}' trains an adapter")
        return
    table = Table(title=f"versions of {name}", title_justify="left")
    for column in ("version", "stage", "source", "adapter sha256", "training", "metrics"):
        table.add_column(column)
    for v in versions:
        t = v.training
        trained = (f"{t.get('examples', '?')} examples, {t.get('steps', '?')} steps, "
                   f"{t.get('seconds', '?')} s, loss {t.get('final_loss', '?')}" if t else "-")
        metrics = ", ".join(f"{k} {x:.3f}" for k, x in list(v.metrics.items())[:3]) or "-"
        table.add_row(str(v.version), v.stage, v.source, v.adapter_sha256[:12] or "-",
                      plain(trained), plain(metrics))
    console.print(table)


def promote_version(system: System, store: Store, name: str, version: int, *,
                    eval_name: str | None, limit: int | None) -> bool:
    """Evaluate ``version`` of LLM ``name`` against production, promote it if the gate
    passes, print the outcome; whether it was promoted."""
    from compound.lifecycle.finetune.promotion import promote_llm

    result = promote_llm(system, store, name, version, eval_name=eval_name, limit=limit,
                         progress=True)
    report(result)
    return result.decision.promoted


def report(result: LLMPromotion) -> None:
    """Print a promotion's metrics side by side, its gate and its decision."""
    from compound.intelligence.ml.report import gate_table

    console.print(comparison_table(result))
    decision = result.decision
    if decision.checks:
        console.print(gate_table(decision.checks))
    left_out = (f"; {result.excluded} training rows left out" if result.excluded else "")
    console.print(styled("decided on {rows} rows of eval '{eval}' (runs {run} and baseline "
                         "{base}){left}", rows=result.candidate.counts.get("total", 0),
                         eval=result.candidate.eval, run=result.candidate.id,
                         base=result.baseline.id, left=left_out))
    console.print(plain(decision.message, style="green" if decision.promoted else "red"))


def comparison_table(result: LLMPromotion) -> Table:
    """Each metric of the eval for production and the candidate, and the change."""
    from rich.table import Table

    base = {m.name: m.value for m in result.baseline.metrics}
    table = Table(title="candidate against production, same rows", title_justify="left")
    for column in ("metric", "production", "candidate", "change"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for metric in result.candidate.metrics:
        before, after = base.get(metric.name), metric.value
        change = ("-" if before is None or after is None else f"{after - before:+.3f}")
        table.add_row(plain(metric.name), _shown(before), _shown(after), change)
    return table


def _shown(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
