"""Text we did not write is never markup: questions, spec values, model answers and dataset
rows print as they are through the real `compound` command (subprocesses), with no Rich markup,
emoji codes or raw control characters reaching the terminal."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from compound.console import visible

PAYLOADS = [
    "[/x]", "[bold]b", "[link=https://evil.example]click[/link]", ":smile:", "openai:m:",
    "\x1b[31mred", "\x1b]8;;https://evil.example\x07osc", "bell\x07", "cr\rret",
    "bidi\u202eevil", "esc\\",
]
# what may reach the terminal: no C0 control but tab and newline, no C1, no bidi override
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f\x80-\x9f\u202a-\u202e\u2066-\u2069]")
SRC = Path(__file__).resolve().parents[2] / "src" / "compound"


def compound(*args: str, cwd: Path | None = None, **extra: str
             ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "250", "NO_COLOR": "1", **extra}
    return subprocess.run([sys.executable, "-m", "compound", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=120)


def assert_shown_as_text(out: subprocess.CompletedProcess[str], *expected: str) -> None:
    both = out.stdout + out.stderr
    assert "Traceback" not in both and "MarkupError" not in both, both[-3000:]
    assert RAW.search(both) is None, f"a raw control character reached the terminal: {both!r}"
    assert "😄" not in both and "Ⓜ" not in both, "an emoji code was replaced"
    for text in expected:
        assert visible(text) in both, f"{visible(text)!r} not shown in:\n{both}"


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    """A system whose task, model answer, review items and dataset rows hold every payload."""
    text = " ".join(PAYLOADS)
    (tmp_path / "data").mkdir()
    rows = [{"id": f"r{i}", "question": p, "answer": p} for i, p in enumerate(PAYLOADS)]
    rows.append({"id": "[/x]:smile:\x1b[2J"})  # no question: an invalid row, listed by id
    (tmp_path / "data" / "qa.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (tmp_path / "compound.yaml").write_text(f"""\
name: marks
loop: interaction
task: {json.dumps(text)}
criteria:
  match: {{metric: normalized_match, threshold: 0.0}}
models:
  llm:
    provider: scripted
    model: "openai:m:"
    options: {{replies: [{json.dumps(text)}]}}
strategy:
  review: {{queue: support, labels: [refund, card]}}
workflows:
  answer:
    input: {{question: str}}
    steps:
      - name: draft
        uses: llm
        inputs: {{prompt: input.question}}
        options: {{template: "{{prompt}}"}}
evals:
  qa:
    dataset: {{path: data/qa.jsonl, inputs: [question], expected: answer}}
    target: {{model: llm, prompt: "{{question}}"}}
    metrics: [normalized_match]
    max_error_rate: 1.0
""", encoding="utf-8")
    return tmp_path


def test_review_list_and_show_print_questions_and_reasons_as_text(spec: Path) -> None:
    from compound.store import open_store
    from compound.strategy.review import ReviewQueue
    from compound.system import System

    with open_store(System.load(spec)) as store:
        queue = ReviewQueue(store, queue="support")
        ids = [queue.submit(p, proposed=p, confidence=0.3, reason=f"flagged: {p}",
                            source="rail").id for p in PAYLOADS]
    listed = compound("review", "list", str(spec))
    assert listed.returncode == 0, listed.stderr
    assert_shown_as_text(listed, *PAYLOADS)
    for item_id, payload in zip(ids, PAYLOADS, strict=True):
        shown = compound("review", "show", str(spec), str(item_id))
        assert shown.returncode == 0, shown.stderr
        assert_shown_as_text(shown, payload, f"flagged: {payload}")


@pytest.mark.parametrize("payload", ["[/x]", "[bold]", ":smile:", "\x1b[31m"])
def test_check_prints_a_bad_spec_key_and_value_as_text(tmp_path: Path, payload: str) -> None:
    (tmp_path / "compound.yaml").write_text(
        f"name: k\nloop: interaction\ntask: t\n{json.dumps(payload)}: 1\n"
        f"models:\n  {json.dumps(payload)}: {{provider: scripted}}\n", encoding="utf-8")
    out = compound("check", str(tmp_path))
    assert out.returncode == 2, out.stderr
    assert_shown_as_text(out, payload)
    assert "compound.yaml:4" in out.stderr  # still says where


def test_check_and_models_list_print_spec_values_as_text(spec: Path) -> None:
    checked = compound("check", str(spec))
    assert checked.returncode == 0, checked.stderr
    assert_shown_as_text(checked)
    listed = compound("models", "list", str(spec))
    assert listed.returncode == 0, listed.stderr
    assert_shown_as_text(listed, "openai:m:")


def test_run_and_trace_print_inputs_and_answers_as_text(spec: Path) -> None:
    question = " ".join(PAYLOADS)
    ran = compound("run", str(spec), "answer", "-i", json.dumps({"question": question}))
    assert ran.returncode == 0, ran.stderr
    assert_shown_as_text(ran)
    assert json.loads(ran.stdout)["text"] == question  # JSON keeps them, escaped
    run_id = re.search(r"run ([0-9a-f]{32}) completed", ran.stderr)
    assert run_id is not None, ran.stderr
    traced = compound("trace", run_id.group(1), "--spec", str(spec), "--io")
    assert traced.returncode == 0, traced.stderr
    assert_shown_as_text(traced, "[/x]", ":smile:", "[link=https://evil.example]click[/link]")


def test_a_failed_step_s_message_and_its_logged_detail_print_as_text(tmp_path: Path) -> None:
    (tmp_path / "boom.py").write_text(
        "from compound.workflow import Workflow\n\n"
        "def explode(question: str) -> str:\n"
        "    raise ValueError(f'cannot handle {question}')\n\n"
        "flow = Workflow([explode], name='boom')\n", encoding="utf-8")
    out = compound("run", "boom:flow", "-i", json.dumps({"question": "\x1b[31m [/x] \x1b]0;t\x07"}),
                   PYTHONPATH=str(tmp_path))
    assert out.returncode == 1, out.stderr
    # the detail is logged under an error id (with its traceback): as text, like the rest
    assert RAW.search(out.stderr) is None, repr(out.stderr)
    assert "failed: workflow 'boom'" in out.stderr
    assert out.stderr.count("cannot handle ␛[31m [/x] ␛]0;t␇") >= 2, out.stderr


def test_the_server_log_writes_a_failed_run_s_detail_as_text_once(tmp_path: Path) -> None:
    import signal
    import socket
    import time

    import httpx

    (tmp_path / "boomapp.py").write_text(
        "from compound.production.serving import create_app\n"
        "from compound.production.serving_spec import ServeSpec\n"
        "from compound.store import MemoryStore\n"
        "from compound.workflow import Workflow\n\n"
        "def explode(question: str) -> str:\n"
        "    raise ValueError(f'cannot handle {question}')\n\n"
        "def app():\n"
        "    return create_app({'boom': Workflow([explode], name='boom')}, store=MemoryStore(),\n"
        "                      spec=ServeSpec(auth=False, rate_limit=None))\n", encoding="utf-8")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "NO_COLOR": "1"}
    server = subprocess.Popen([sys.executable, "-m", "compound", "serve", "boomapp:app",
                               "--port", str(port), "--no-auth"], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        response = httpx.post(f"http://127.0.0.1:{port}/v1/workflows/boom",
                              json={"question": "\x1b[31m [/x] \x1b]0;t\x07"}, timeout=30)
        assert response.status_code == 500
    finally:
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=30)
    assert RAW.search(err) is None, repr(err[-2000:])
    logged = [line for line in err.splitlines() if "WARNING compound.errors" in line]
    assert len(logged) == 1 and logged[0].endswith("ValueError: cannot handle ␛[31m [/x] ␛]0;t␇")
    assert not any(line.startswith("err_") for line in err.splitlines()), err  # not twice


def test_ask_prints_the_answer_and_the_model_name_as_text(spec: Path) -> None:
    out = compound("ask", str(spec), "[/x] :smile:")
    assert out.returncode == 0, out.stderr
    assert_shown_as_text(out, *PAYLOADS, "scripted:openai:m:")


def test_eval_tables_print_dataset_rows_as_text(spec: Path) -> None:
    out = compound("eval", str(spec))
    assert_shown_as_text(out, "[/x]:smile:")  # the invalid row's id, in 'rows not scored'


def test_up_scorecard_prints_the_task_as_text(spec: Path) -> None:
    out = compound("up", str(spec), "--no-serve")
    assert out.returncode == 0, out.stderr
    assert "scorecard of marks" in out.stdout
    assert_shown_as_text(out, "[/x]", "[bold]b", ":smile:", "openai:m:")


# -- the mechanism ---------------------------------------------------------------------------

def test_a_progress_bar_and_a_table_from_the_library_show_data_as_text() -> None:
    import io

    from rich.progress import Progress, TextColumn
    from rich.table import Table

    from compound.console import new_console, plain, styled

    out = new_console(file=io.StringIO(), width=120, force_terminal=True)
    table = Table(title="[/x] \x1b[2J")
    table.add_column("a")
    table.add_row("[bold]x :smile:", plain("\x1b[31mred", style="red"),
                  styled("[green]{v}[/]", v="[/] \x07"))
    out.print(table)
    with Progress(TextColumn("{task.description}", markup=False), console=out) as bar:
        bar.add_task("[/x] evaluating \x1b[2J")
    written = out.file.getvalue()  # type: ignore[attr-defined]
    assert "[bold]x :smile:" in written and "[/x]" in written and "␛[31mred" in written
    assert "␛[2J" in written and "[/] ␇" in written
    # the only escape sequences left are the console's own styles and cursor moves
    assert "\x1b[2J" not in written and "\x1b[31mred" not in written and "\x07" not in written


def test_no_markup_literal_reaches_a_console_unescaped() -> None:
    """Our consoles parse no markup, so a ``print(f"[bold]{x}[/]")`` would show brackets, and
    a ``markup=True`` on a formatted string would parse data again: styles go through
    ``styled(template, values)`` or ``plain(text, style=...)``."""
    problems = []
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("print", "add_row", "rule", "status")):
                continue
            for arg in node.args:
                literal = "".join(
                    part.value for part in (arg.values if isinstance(arg, ast.JoinedStr)
                                            else [arg])
                    if isinstance(part, ast.Constant) and isinstance(part.value, str))
                if re.search(r"\[/\]|\[(bold|dim|red|green|yellow)\b", literal):
                    problems.append(f"{path.relative_to(SRC)}:{node.lineno}")
            if any(k.arg == "markup" and isinstance(k.value, ast.Constant) and k.value.value
                   for k in node.keywords):
                problems.append(f"{path.relative_to(SRC)}:{node.lineno} (markup=True)")
    assert not problems, "markup in a printed literal: " + ", ".join(problems)
