"""The HTML report is self-contained and escapes what it shows."""

from __future__ import annotations

from pathlib import Path

from compound.evaluation.report import EvalReport, write_report
from compound.evaluation.report.svg import bar_chart, line_chart
from compound.evaluation.results import GateCheck, MetricSummary, RowResult, RunSummary


def test_report_escapes_model_output_and_shows_gate_and_failures(tmp_path: Path) -> None:
    metrics = [MetricSummary(name="f1", metric="token_f1", value=0.4, low=0.3, high=0.5, n=3)]
    old = RunSummary(id="qa-1", eval="qa", metrics=[MetricSummary(
        name="f1", metric="token_f1", value=0.6, low=0.5, high=0.7, n=3)], gate_passed=True)
    run = RunSummary(id="qa-2", eval="qa", metrics=metrics, gate_passed=False, gate=[GateCheck(
        name="f1", metric="f1", value=0.4, status="regressed", message="f1 regressed")])
    rows = [
        RowResult(index=0, id="a", status="ok", output="<script>alert(1)</script>",
                  scores={"f1": 0.0}, inputs={"q": "x"}),
        RowResult(index=1, id="b", status="error", error="boom <b>", error_type="RuntimeError"),
    ]
    path = write_report(tmp_path / "r.html", [EvalReport(run=run, rows=rows, history=[old, run],
                                                          baseline=old)])
    html = path.read_text()
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "boom &lt;b&gt;" in html
    assert "gate failed: f1" in html
    assert "trend over the last 2 runs" in html
    assert html.count("<svg") == 2


def test_charts_handle_missing_values_and_non_unit_scales() -> None:
    svg = bar_chart([("a", None, None, None, False), ("b", 250.0, 200.0, 300.0, True)],
                    title="latency")
    assert "250" in svg and svg.endswith("</svg>")
    line = line_chart([("r1", 0.5, 0.4, 0.6), ("r2", None, None, None), ("r3", 0.7, 0.6, 0.8)],
                      title="f1", bad=[False, False, True])
    assert line.count("<circle") == 2 and "#d64545" in line
