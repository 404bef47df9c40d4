"""The HTML report of eval runs: one self-contained file with inline SVG plots.

For each eval: the gate, the metrics of this run beside the baseline (bars with 95% intervals),
the trend of every metric over past runs, behavioural suites, judge agreement, and the rows to
inspect (errors, invalid rows, lowest scores) with their inputs, expected and actual output.

Example:
    >>> import tempfile, pathlib
    >>> from compound.evaluation.results import MetricSummary, RunSummary
    >>> run = RunSummary(id="qa-1", eval="qa", metrics=[MetricSummary(name="f1",
    ...                  metric="token_f1", value=0.5, low=0.4, high=0.6, n=10)])
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "report.html"
    >>> _ = write_report(path, [EvalReport(run=run, rows=[], history=[run])])
    >>> "<svg" in path.read_text()
    True
"""

from compound.evaluation.report.document import EvalReport
from compound.evaluation.report.html import render_report, write_report

__all__ = ["EvalReport", "render_report", "write_report"]
