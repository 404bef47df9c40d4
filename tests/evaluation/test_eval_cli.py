"""`compound eval` is the CI gate: a degraded system fails naming the regressed metrics, the
unchanged one passes; `compound datasets` lists, shows and diffs versions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

FAKE_SYSTEM = textwrap.dedent('''
    """A scripted QA system: its model answers from the context when it gets one."""
    import re
    from compound.intelligence.llm import ScriptedLLM

    def _reply(messages, params):
        found = re.search(r"code word of row \\d+ is (\\w+)", messages[-1].content)
        return found.group(1) if found else "I do not know"

    LLM = ScriptedLLM(_reply)

    def answer(inputs, use_retrieval=True):
        if inputs["question"] == "explode":
            raise RuntimeError("the model crashed on this row")
        passages = inputs["contexts"] if use_retrieval else []
        prompt = "\\n".join(passages) + "\\nQuestion: " + inputs["question"]
        return {"text": LLM.complete(prompt).text, "contexts": passages}
''')

SPEC = textwrap.dedent('''
    name: codewords
    loop: interaction
    task: Answer questions about code words from retrieved passages.
    criteria:
      answer_f1: {{metric: token_f1, threshold: 0.5, tolerance: 0.02}}
    models:
      llm: {{provider: scripted}}
      always_a: {{provider: scripted, options: {{replies: ['{{"better": "A"}}']}}}}
    evals:
      qa:
        judge: {{model: always_a}}
        dataset: {{path: qa.jsonl, inputs: [question, contexts], expected: answer}}
        target:
          function: "fake_system:answer"
          options: {{use_retrieval: {retrieval}}}
        metrics:
          - token_f1
          - {{name: exact_match, tolerance: 0.05}}
          - groundedness
          - {{name: p95_latency_ms, metric: latency_ms, aggregate: p95}}
''')


def make_project(folder: Path) -> None:
    rows = []
    for i in range(30):
        word = ["amber", "birch", "cedar", "delta", "ember"][i % 5] + str(i)
        rows.append({"id": f"q{i}", "question": f"What is the code word of row {i}?",
                     "contexts": [f"The code word of row {i} is {word}."], "answer": word})
    rows[5]["question"] = "explode"          # the model errors on this row
    del rows[9]["answer"]                    # a row with a missing field
    lines = [json.dumps(r) for r in rows] + ["{not json"]
    (folder / "qa.jsonl").write_text("\n".join(lines) + "\n")
    (folder / "fake_system.py").write_text(FAKE_SYSTEM)
    (folder / "compound.yaml").write_text(SPEC.format(retrieval="true"))
    (folder / "degraded.yaml").write_text(SPEC.format(retrieval="false"))


def compound(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    code = "import sys; from compound.cli import main; main(sys.argv[1:])"
    env = {**os.environ, "COLUMNS": "160"}
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.integration
def test_degraded_system_fails_the_gate_and_the_unchanged_one_passes(tmp_path: Path) -> None:
    make_project(tmp_path)
    first = compound("eval", "compound.yaml", "--no-progress", cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "gate passed" in first.stderr
    # bad input is counted and shown, not dropped
    assert "31 rows: 28 ok, 1 errors, 2 invalid" in first.stdout
    assert "RuntimeError: the model crashed on this row" in first.stdout
    assert "missing expected field 'answer'" in first.stdout
    assert "qa.jsonl:31: not valid JSON" in first.stdout

    degraded = compound("eval", "degraded.yaml", "--no-progress", cwd=tmp_path)
    assert degraded.returncode == 1, degraded.stdout + degraded.stderr
    assert "gate failed" in degraded.stderr
    assert "answer_f1 fail" in degraded.stderr and "token_f1 regressed" in degraded.stderr
    assert "exact_match regressed" in degraded.stderr

    again = compound("eval", "compound.yaml", "--no-progress", "--json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    [run] = json.loads(again.stdout)
    assert run["gate_passed"] is True
    assert run["baseline"].startswith("qa-") and run["baseline"] != run["id"]
    assert {c["name"]: c["status"] for c in run["gate"]} == {
        "answer_f1": "pass", "exact_match": "pass"}
    alone = compound("eval", "compound.yaml", "--no-progress", "--json", "--baseline", "none",
                     cwd=tmp_path)
    assert json.loads(alone.stdout)[0]["baseline"] is None


@pytest.mark.integration
def test_report_is_one_offline_html_file_with_plots(tmp_path: Path) -> None:
    make_project(tmp_path)
    assert compound("eval", "compound.yaml", "--no-progress", cwd=tmp_path).returncode == 0
    compound("eval", "degraded.yaml", "--no-progress", cwd=tmp_path)
    result = compound("eval", "degraded.yaml", "--no-progress", "--report", "out/report.html",
                      cwd=tmp_path)
    assert result.returncode == 1
    html = (tmp_path / "out" / "report.html").read_text()
    assert html.count("<svg") >= 8  # per-metric bars and trends
    assert "gate failed" in html and "trend over the last 3 runs" in html
    assert "the model crashed on this row" in html  # failures to inspect
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in html and "<script" not in html


def test_user_errors_exit_2(tmp_path: Path) -> None:
    make_project(tmp_path)
    unknown = compound("eval", "compound.yaml", "--name", "qaa", cwd=tmp_path)
    assert unknown.returncode == 2
    assert "no eval named 'qaa' (did you mean 'qa'?)" in unknown.stderr
    (tmp_path / "bad.yaml").write_text(SPEC.format(retrieval="true").replace(
        "function: \"fake_system:answer\"", "model: gpt"))
    bad = compound("eval", "bad.yaml", cwd=tmp_path)
    assert bad.returncode == 2 and "evals.qa.target.model" in bad.stderr


def test_datasets_list_show_and_diff(tmp_path: Path) -> None:
    make_project(tmp_path)
    (tmp_path / "v1.jsonl").write_text(
        "\n".join(json.dumps({"id": str(i), "q": f"q{i}"}) for i in range(5)) + "\n")
    (tmp_path / "v2.jsonl").write_text(
        "\n".join(json.dumps({"id": str(i), "q": f"q{i}" + ("!" if i == 2 else "")})
                  for i in range(1, 7)) + "\n")
    one = compound("datasets", "add", "compound.yaml", "v1.jsonl", "--name", "faq", cwd=tmp_path)
    two = compound("datasets", "add", "compound.yaml", "v2.jsonl", "--name", "faq", cwd=tmp_path)
    assert one.returncode == 0 and two.returncode == 0, one.stderr + two.stderr
    v1 = one.stdout.split()[1].rstrip(":")
    split = compound("datasets", "add", "compound.yaml", "v2.jsonl", "--name", "faq-split",
                     "--split", "train=0.5", "--split", "test=0.5", cwd=tmp_path)
    assert "splits {" in split.stdout and "'test'" in split.stdout
    listed = compound("datasets", "list", "compound.yaml", cwd=tmp_path)
    assert listed.stdout.count("faq ") + listed.stdout.count("faq-split") == 3
    shown = compound("datasets", "show", "compound.yaml", v1, cwd=tmp_path)
    assert "5 rows" in shown.stdout and '"q": "q0"' in shown.stdout
    diff = compound("datasets", "diff", "compound.yaml", v1, "faq", cwd=tmp_path)
    assert "2 added, 1 removed, 1 changed, 3 unchanged" in diff.stdout
    assert "changed: 2" in diff.stdout


@pytest.mark.integration
def test_pairwise_comparison_of_two_runs_cancels_position_bias(tmp_path: Path) -> None:
    make_project(tmp_path)
    first = compound("eval", "compound.yaml", "--no-progress", "--json", cwd=tmp_path)
    good_run = json.loads(first.stdout)[0]["id"]
    result = compound("eval", "degraded.yaml", "--no-progress", "--compare", good_run,
                      cwd=tmp_path)
    # The spec's judge always answers "A": swapping the order turns every verdict into a tie.
    assert "over 28 examples: wins 0, losses 0, ties 28 -> win rate 0.500" in result.stdout
    assert "28 verdicts flipped with the order (position A picked 100% of the time)" in (
        result.stdout)


def _answer(question: str) -> str:
    return "5"


def test_datasets_from_traced_runs_with_corrections(tmp_path: Path) -> None:
    from compound.store import open_store
    from compound.system import System
    from compound.workflow.graph import Workflow
    from compound.workflow.runs import start

    make_project(tmp_path)
    store = open_store(System.load(tmp_path / "compound.yaml"))
    corrected = start(Workflow([_answer], name="qa"), {"question": "2+2?"}, store=store)
    start(Workflow([_answer], name="qa"), {"question": "3+2?"}, store=store)
    store.append("feedback", {"run": corrected.run_id, "rating": 1, "correction": "4"})
    store.close()
    added = compound("datasets", "add", "compound.yaml", "--from-traces", "--corrected-only",
                     "--name", "fixes", cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith("stored fixes@") and ": 1 rows" in added.stdout
    shown = compound("datasets", "show", "compound.yaml", "fixes", cwd=tmp_path)
    assert '"expected": "4"' in shown.stdout and '"question": "2+2?"' in shown.stdout
