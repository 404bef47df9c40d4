"""Rendering the report's HTML. Everything is escaped; styles and plots are inline."""

from __future__ import annotations

import json
import os
import time
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compound.evaluation.report.svg import bar_chart, line_chart
from compound.evaluation.results import RowResult, RunSummary

if TYPE_CHECKING:
    from compound.evaluation.report.document import EvalReport

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;color:#1f2933;margin:24px;
max-width:1200px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #e4e7eb}
h3{font-size:15px;margin-top:20px}
table{border-collapse:collapse;margin:8px 0}td,th{padding:4px 10px;border-bottom:1px solid #e4e7eb;
text-align:left;vertical-align:top}th{background:#f5f7fa}
.num{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:#1c7c3c;font-weight:600}.fail,.regressed{color:#c62828;font-weight:600}
.unmeasured{color:#b7791f}.banner{padding:10px 14px;border-radius:6px;margin:12px 0;font-weight:600}
.banner.ok{background:#e3f9e5;color:#1c7c3c}.banner.bad{background:#ffeeee;color:#c62828}
.charts{display:flex;flex-wrap:wrap;gap:12px}.charts svg{border:1px solid #e4e7eb;border-radius:4px}
pre{white-space:pre-wrap;max-height:180px;overflow:auto;margin:0;font-size:12px}
.muted{color:#7b8794}
"""


def render_report(reports: list[EvalReport], *, title: str) -> str:
    """The whole report as an HTML string."""
    body = [f"<h1>{escape(title)}</h1>",
            f"<p class='muted'>written {escape(time.strftime('%Y-%m-%d %H:%M:%S'))}</p>"]
    for report in reports:
        body.extend(_section(report))
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        + "\n".join(body) + "</body></html>"
    )


def _section(report: EvalReport) -> list[str]:
    run, baseline = report.run, report.baseline
    counts = run.counts
    out = [
        f"<h2>eval {escape(run.eval)} · run {escape(run.id)}</h2>",
        f"<p>dataset <b>{escape(str(run.dataset.get('name')))}@"
        f"{escape(str(run.dataset.get('version')))}</b> · {counts.get('total', 0)} rows: "
        f"{counts.get('ok', 0)} ok, <b>{counts.get('error', 0)} errors</b>, "
        f"<b>{counts.get('invalid', 0)} invalid</b> · target {escape(str(run.target.get('name')))}"
        f" · seed {run.seed} · {run.cached} cached rows · spent ${run.spent_usd:.4f} · "
        f"baseline {escape(baseline.id) if baseline else 'none'}</p>",
    ]
    out.extend(f"<p class='muted'>{escape(n)}</p>" for n in report.notes)
    if run.gate_passed is not None:
        failing = [c for c in run.gate if c.status in ("fail", "regressed")]
        if run.gate_passed:
            out.append("<div class='banner ok'>gate passed</div>")
        else:
            names = ", ".join(escape(c.name) for c in failing) or "see checks"
            out.append(f"<div class='banner bad'>gate failed: {names}</div>")
    out.append(_metrics_table(run, baseline))
    out.append("<h3>this run against the baseline</h3><div class='charts'>")
    for metric in run.metrics:
        bars: list[Any] = []
        if baseline is not None:
            previous = _find(baseline, metric.name)
            if previous is not None:
                bars.append(("baseline", previous.value, previous.low, previous.high, False))
        bars.append(("this run", metric.value, metric.low, metric.high, True))
        out.append(bar_chart(bars, title=metric.name, unit=metric.higher_is_better))
    out.append("</div>")
    if len(report.history) > 1:
        out.append(f"<h3>trend over the last {len(report.history)} runs</h3>"
                   "<div class='charts'>")
        for metric in run.metrics:
            points, bad = [], []
            for past in report.history:
                found = _find(past, metric.name)
                points.append((past.id, found.value if found else None,
                               found.low if found else None, found.high if found else None))
                bad.append(past.gate_passed is False)
            out.append(line_chart(points, title=metric.name, bad=bad,
                                  unit=metric.higher_is_better))
        out.append("</div>")
    if run.suites:
        out.append(_suites(run))
    if run.judge_agreement:
        out.append(_agreement(run.judge_agreement))
    out.append(_failures(run, report.rows))
    return out


def _find(run: RunSummary, name: str) -> Any:
    return next((m for m in run.metrics if m.name == name), None)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _metrics_table(run: RunSummary, baseline: RunSummary | None) -> str:
    rows = ["<table><tr><th>metric</th><th>value</th><th>95% CI</th><th>n</th>"
            "<th>baseline</th><th>gate</th></tr>"]
    for m in run.metrics:
        previous = _find(baseline, m.name) if baseline else None
        checks = [c for c in run.gate if c.metric == m.name]
        gate = "; ".join(f"<span class='{c.status}'>{c.status}</span> {escape(c.message)}"
                         for c in checks)
        ci = f"[{_num(m.low)}, {_num(m.high)}]" if m.low is not None else "-"
        rows.append(
            f"<tr><td>{escape(m.name)}</td><td class='num'>{_num(m.value)}</td>"
            f"<td class='num'>{ci}</td><td class='num'>{m.n} ({m.not_applicable} n/a, "
            f"{m.errors} metric errors)</td><td class='num'>"
            f"{_num(previous.value if previous else None)}</td><td>{gate}</td></tr>"
        )
    for c in run.gate:
        if c.metric not in {m.name for m in run.metrics}:
            rows.append(f"<tr><td>{escape(c.name)}</td><td class='num'>{_num(c.value)}</td>"
                        f"<td>-</td><td>-</td><td>-</td><td><span class='{c.status}'>"
                        f"{c.status}</span> {escape(c.message)}</td></tr>")
    rows.append("</table>")
    return "".join(rows)


def _suites(run: RunSummary) -> str:
    parts = ["<h3>behavioural suites</h3><table><tr><th>suite</th><th>case</th>"
             "<th>passed</th><th>total</th><th>pass rate</th></tr>"]
    for suite in run.suites:
        for case, (ok, total) in suite.by_case.items():
            parts.append(f"<tr><td>{escape(suite.kind)}</td><td>{escape(case)}</td>"
                         f"<td class='num'>{ok}</td><td class='num'>{total}</td>"
                         f"<td class='num'>{ok / total:.1%}</td></tr>")
    parts.append("</table>")
    bars = [(s.kind, s.pass_rate, None, None, True) for s in run.suites]
    parts.append(f"<div class='charts'>{bar_chart(bars, title='suite pass rate')}</div>")
    for suite in run.suites:
        if suite.failures:
            parts.append(f"<details><summary>{len(suite.failures)} failing {escape(suite.kind)}"
                         " cases</summary><table><tr><th>case</th><th>inputs</th><th>why</th>"
                         "</tr>")
            for failure in suite.failures:
                parts.append(f"<tr><td>{escape(failure['case'])}</td><td><pre>"
                             f"{escape(json.dumps(failure['inputs'], ensure_ascii=False))}</pre>"
                             f"</td><td>{escape(failure['detail'])}</td></tr>")
            parts.append("</table></details>")
    return "".join(parts)


def _agreement(agreement: dict[str, Any]) -> str:
    kappa = agreement.get("kappa")
    verdict = "trusted" if agreement.get("trusted") else "not trusted"
    return (f"<h3>judge agreement with human labels</h3><p>Cohen's kappa "
            f"{_num(kappa)} over {agreement.get('n')} rows (needs {agreement.get('min_kappa')}):"
            f" <b>{verdict}</b></p>")


def _failures(run: RunSummary, rows: list[RowResult], limit: int = 25) -> str:
    broken = [r for r in rows if r.status != "ok"]
    quality = next((m.name for m in run.metrics if m.higher_is_better), None)
    low = []
    if quality:
        scored = [r for r in rows if r.status == "ok" and r.scores.get(quality) is not None]
        low = sorted(scored, key=lambda r: (r.scores[quality], r.index))[:limit]
    parts = [f"<h3>rows to inspect</h3><p>{len(broken)} rows failed or were invalid"
             + (f"; the {len(low)} lowest by {escape(quality)} follow them" if quality else "")
             + "</p><table><tr><th>row</th><th>status</th><th>inputs</th><th>expected</th>"
             "<th>output</th><th>scores / error</th></tr>"]
    for row in broken[:limit] + low:
        detail = (f"{escape(row.error_type or '')} {escape(row.error or '')}"
                  if row.status != "ok" else "<br>".join(
                      f"{escape(k)} = {_num(v)} {escape(row.reasons.get(k, ''))}"
                      for k, v in row.scores.items()))
        parts.append(
            f"<tr><td>{row.index} <span class='muted'>{escape(row.id[:16])}</span></td>"
            f"<td class='{'pass' if row.status == 'ok' else 'fail'}'>{row.status}</td>"
            f"<td><pre>{escape(_short(row.inputs))}</pre></td>"
            f"<td><pre>{escape(_short(row.expected))}</pre></td>"
            f"<td><pre>{escape(row.output)}</pre></td><td>{detail}</td></tr>"
        )
    parts.append("</table>")
    return "".join(parts)


def _short(value: Any, limit: int = 600) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + " ..."


def write_report(path: str | os.PathLike[str], reports: list[EvalReport], *,
                 title: str = "compound eval report") -> Path:
    """Write the report of ``reports`` to ``path`` (folders are created)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_report(reports, title=title), encoding="utf-8")
    return target

