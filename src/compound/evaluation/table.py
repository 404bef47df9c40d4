"""Eval results as Rich tables: each metric with its interval, the baseline and the gate.

Example:
    >>> from compound.evaluation.results import MetricSummary, RunSummary
    >>> run = RunSummary(id="qa-1", eval="qa", counts={"total": 2, "ok": 2, "error": 0,
    ...                  "invalid": 0}, metrics=[MetricSummary(name="f1", metric="token_f1",
    ...                  value=0.5, low=0.2, high=0.8, n=2)])
    >>> import io
    >>> from rich.console import Console
    >>> console = Console(width=120, record=True, color_system=None, file=io.StringIO())
    >>> console.print(run_table(run))
    >>> "0.500" in console.export_text()
    True
"""

from __future__ import annotations

from typing import Any

from compound.evaluation.results import GateCheck, RunSummary

STATUS_STYLE = {"pass": "green", "fail": "bold red", "regressed": "bold red",
                "unmeasured": "yellow"}


def fmt(value: float | None, digits: int = 3) -> str:
    """A number for a table cell; ``-`` when absent."""
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def run_table(run: RunSummary, baseline: RunSummary | None = None) -> Any:
    """The metrics of ``run`` with 95% intervals, the baseline's values and the gate."""
    from rich.table import Table

    from compound.console import plain

    counts = run.counts
    rows_note = (
        f"{counts.get('total', 0)} rows: {counts.get('ok', 0)} ok, "
        f"{counts.get('error', 0)} errors, {counts.get('invalid', 0)} invalid"
    )
    base_note = f"baseline {baseline.id}" if baseline else "no baseline run"
    if baseline and baseline.dataset.get("version") != run.dataset.get("version"):
        base_note += f" (on dataset version {baseline.dataset.get('version')})"
    table = Table(
        title=plain(f"eval {run.eval} · run {run.id}\n{run.dataset.get('name')}@"
                    f"{run.dataset.get('version')} · {rows_note} · {run.cached} cached · "
                    f"spent ${run.spent_usd:.4f} · {base_note}"),
        title_justify="left",
    )
    for column in ("metric", "value", "95% CI", "n", "n/a", "baseline", "Δ", "gate"):
        table.add_column(column, justify="left" if column in ("metric", "gate") else "right",
                         no_wrap=column != "gate")
    checks: dict[str, list[GateCheck]] = {}
    for check in run.gate:
        checks.setdefault(check.metric, []).append(check)
    base = {m.name: m.value for m in baseline.metrics} if baseline else {}
    for m in run.metrics:
        ci = f"{fmt(m.low)}–{fmt(m.high)}" if m.low is not None else "-"
        na = str(m.not_applicable) if not m.errors else f"{m.not_applicable}+{m.errors}err"
        previous = base.get(m.name)
        change = plain("-")
        if previous is not None and m.value is not None:
            delta = m.value - previous
            worse = delta < 0 if m.higher_is_better else delta > 0
            colour = "red" if worse and abs(delta) > 1e-12 else "green"
            shown = f"{delta:+,.0f}" if abs(delta) >= 100 else f"{delta:+.3f}"
            change = plain(shown, style=colour)
        table.add_row(plain(m.name), fmt(m.value), ci, str(m.n), na, fmt(previous), change,
                      _gate_cell(checks.get(m.name, [])))
    for check in run.gate:
        if check.metric not in {m.name for m in run.metrics}:
            table.add_row(plain(check.name), fmt(check.value), "-", "-", "-",
                          fmt(check.baseline), "-", _gate_cell([check]))
    return table


def _gate_cell(checks: list[GateCheck]) -> Any:
    from rich.text import Text

    cell = Text()
    for index, check in enumerate(checks):
        rule = ""
        if check.threshold is not None:
            rule = f" {'≥' if check.direction == 'higher' else '≤'}{check.threshold:g}"
        cell.append("; " if index else "")
        cell.append(check.status, style=STATUS_STYLE[check.status])
        cell.append(rule)
    return cell


def suites_table(run: RunSummary) -> Any:
    """Pass rates of the behavioural suites, per kind of case."""
    from rich.table import Table

    from compound.console import plain

    table = Table(title=plain(f"behavioural suites of {run.eval}"), title_justify="left")
    for column in ("suite", "case", "passed", "total", "pass rate"):
        table.add_column(column, justify="left" if column in ("suite", "case") else "right")
    for suite in run.suites:
        for case, (ok, total) in suite.by_case.items():
            table.add_row(plain(suite.kind), plain(case), str(ok), str(total), f"{ok / total:.1%}")
        errors = f" ({suite.errors} errors)" if suite.errors else ""
        table.add_row(plain(suite.kind, style="bold"), "all", str(suite.passed), str(suite.total),
                      plain(f"{suite.pass_rate:.1%}", style="bold") + errors)
    return table


def errors_table(rows: list[Any], limit: int = 10) -> Any:
    """The first rows that failed or were invalid, with their error."""
    from rich.table import Table

    from compound.console import plain

    table = Table(title="rows not scored normally", title_justify="left")
    for column in ("row", "id", "status", "error"):
        table.add_column(column)
    for row in [r for r in rows if r.status != "ok"][:limit]:
        error = f"{row.error_type + ': ' if row.error_type else ''}{row.error or ''}"[:160]
        table.add_row(str(row.index), plain(row.id[:24]), row.status, plain(error))
    return table
