"""The metrics table a training run ends with, and a model version's details, for the
terminal."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.table import Table

    from compound.gating import GateCheck
    from compound.intelligence.ml.selection import Selection
    from compound.intelligence.ml.training import TrainResult
    from compound.intelligence.registry import ModelVersion

def metrics_table(result: TrainResult) -> Table:
    """Test metrics, calibration and row counts of a training run."""
    from rich.table import Table

    record = result.record
    title = f"{result.name}" + (f" version {record.version} ({record.stage})" if record else "")
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    table.add_column("test", justify="right")
    for name, value in result.metrics.items():
        marker = " (primary)" if name == result.primary else ""
        table.add_row(f"{name}{marker}", f"{value:.4f}")
    if result.calibration:
        cal = result.calibration
        table.add_section()
        table.add_row("calibration", f"{cal['method']} on {cal.get('rows', 0):,} rows")
        if "ece_before" in cal:
            table.add_row("ECE before -> after",
                          f"{cal['ece_before']:.4f} -> {cal['ece_after']:.4f}")
    table.add_section()
    table.add_row("rows", ", ".join(f"{k} {v:,}" for k, v in result.rows.items()))
    table.add_row("training seconds", f"{result.seconds:.1f}")
    return table


def selection_table(selection: Selection) -> Table:
    """The learners a training run compared, with their cross-validated metric (mean ± std
    over the folds of the training rows) and mean fit seconds; the chosen one marked."""
    from rich.table import Table

    table = Table(title=f"learners compared ({selection.metric}, {selection.folds}-fold "
                  "cross-validation on the training rows)", title_justify="left")
    for column in ("", "learner", selection.metric, "fit s"):
        table.add_column(column, justify="left" if column in ("", "learner") else "right")
    for index, candidate in enumerate(selection.candidates):
        chosen = index == selection.chosen
        table.add_row("chosen" if chosen else ("spec" if index == 0 else ""), candidate.label,
                      f"{candidate.mean:.4f} ± {candidate.std:.4f}",
                      f"{sum(candidate.fit_seconds) / len(candidate.fit_seconds):.2f}",
                      style="bold" if chosen else None)
    return table


def per_class_table(report: dict[str, Any], *, limit: int = 15) -> Table | None:
    """The classes with the lowest F1 first (the ones to look at), or None."""
    from rich.table import Table

    per_class = report.get("per_class")
    if not per_class:
        return None
    table = Table(title=f"per class (lowest F1 first, {min(limit, len(per_class))} shown)",
                  title_justify="left")
    for column in ("class", "precision", "recall", "f1", "support"):
        table.add_column(column, justify="left" if column == "class" else "right")
    ranked = sorted(per_class.items(), key=lambda item: item[1]["f1"])[:limit]
    for label, s in ranked:
        table.add_row(label, f"{s['precision']:.3f}", f"{s['recall']:.3f}", f"{s['f1']:.3f}",
                      str(s["support"]))
    return table


def version_table(record: ModelVersion) -> Table:
    """Everything the registry keeps about one version."""
    import datetime as dt

    from rich.table import Table

    table = Table(title=f"{record.ref} ({record.stage})", title_justify="left", show_header=False)
    table.add_column("field")
    table.add_column("value")
    created = dt.datetime.fromtimestamp(record.created).isoformat(timespec="seconds")
    table.add_row("task / learner", f"{record.task} / {record.learner}")
    table.add_row("created", created)
    table.add_row("target", record.target)
    table.add_row("features", ", ".join(record.features))
    for split, facts in record.data.items():
        table.add_row(f"data: {split}", f"{facts.get('path')} ({facts.get('rows')} rows, "
                      f"sha256 {str(facts.get('sha256'))[:12]}...)")
    for name, value in record.metrics.items():
        table.add_row(f"metric: {name}", f"{value:.4f}")
    for part, what in (("gate", "the promotion gate reads these"),
                       ("final", "reported only, never read by a promotion")):
        found = record.parts.get(part)
        if found:
            shown = ", ".join(f"{k} {v:.4f}" for k, v in list(found.items())[:3])
            table.add_row(f"{part} rows", f"{shown} ({what})")
    if record.churn:
        table.add_row("churn", churn_text(record.churn))
    if record.calibration:
        cal = record.calibration
        table.add_row("calibration", f"{cal.get('method')} ({cal.get('rows', 0)} rows); ECE "
                      f"{cal.get('ece_before', float('nan')):.4f} -> "
                      f"{cal.get('ece_after', float('nan')):.4f}")
    if "selection" in record.report:
        from compound.intelligence.ml.selection import describe, selection_from

        table.add_row("learner chosen", describe(selection_from(record.report["selection"])))
    table.add_row("params", ", ".join(f"{k}={v}" for k, v in record.params.items()))
    table.add_row("libraries", ", ".join(f"{k} {v}" for k, v in record.libraries.items()))
    table.add_row("artifact", f"{record.artifact_key} ({record.artifact_bytes:,} bytes, "
                  f"sha256 {record.artifact_sha256[:12]}...)")
    table.add_row("training seconds", f"{record.training_seconds:.1f}")
    if record.note:
        table.add_row("note", record.note)
    return table


def churn_text(churn: dict[str, Any]) -> str:
    """``0.0312 of 1,540 gate rows changed label vs v1 (confident flips 0.0045, both >= 0.8;
    negative flips 0.0100)``."""
    negative = churn.get("negative_flips")
    return (f"{churn['churn']:.4f} of {churn['rows']:,} gate rows changed label vs "
            f"v{churn['against']} (confident flips {churn['confident_churn']:.4f}, both "
            f">= {churn['confidence']:g}"
            + (f"; negative flips {negative:.4f}" if negative is not None else "") + ")")


def gate_table(checks: list[GateCheck]) -> Table:
    """The promotion gate's checks."""
    from rich.table import Table

    from compound.console import plain

    table = Table(title="promotion gate", title_justify="left")
    for column in ("criterion", "status", "detail"):
        table.add_column(column)
    colours = {"pass": "green", "fail": "red", "regressed": "red", "unmeasured": "yellow"}
    for check in checks:
        table.add_row(plain(check.name), plain(check.status, style=colours[check.status]),
                      plain(check.message))
    return table
