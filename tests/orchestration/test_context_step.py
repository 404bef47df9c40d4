"""Retrieval into an LLM in YAML alone: the built-in ``context`` step, citations in the answer,
passage text (never a repr) in the prompt, and `compound check` rejecting templates that
cannot be filled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from compound.errors import SpecError
from compound.intelligence.llm import Message, ScriptedLLM
from compound.system import System
from compound.workflow import build_workflow
from compound.workflow.loader import build_problems

PAGES = {
    "cats.md": "# Cats\n\nCats purr when they are content, and sometimes when they heal.\n",
    "dogs.md": "# Dogs\n\nDogs bark to warn their owners of strangers at the door.\n",
    "fish.md": "# Fish\n\nGoldfish remember things for months, not for three seconds.\n",
}
QUESTIONS = [
    {"question": "Why do cats purr?", "answer": "when they are content"},
    {"question": "Why do dogs bark?", "answer": "to warn their owners"},
]
REPLY = "Cats purr when they are content [1]."
REPLIES = [REPLY, "Dogs bark to warn their owners [1]."]


def spec_text(*, provider: str = "scripted", draft: str | None = None,
              evals: bool = True) -> str:
    llm = (f"provider: scripted\n    options: {{replies: {json.dumps(REPLIES)}}}"
           if provider == "scripted" else
           "provider: embedded\n    timeout_s: 600    # a loaded 2-core machine: bound hangs only\n"
           "    generation: {max_tokens: 40, temperature: 0.0}")
    draft = draft or textwrap.dedent("""\
          - name: draft
            uses: llm
            options:
              system: Answer in one sentence from the sources, citing them as [n].
              template: "{context}"   # a base model's prompt adds its own 'Answer:'
    """)
    text = textwrap.dedent("""\
        name: pages
        loop: interaction
        task: Answer questions about the pages, citing them.
        criteria:
          answer_groundedness: {metric: groundedness, threshold: 0.5}
        models:
          llm:
            LLM
        retrievers:
          pages: {kind: bm25, documents: [pages], top_k: 3}
        workflows:
          answer:
            input: {question: str}
            steps:
              - name: retrieve
                uses: pages
                inputs: {query: input.question}
              - name: context
                uses: context
                inputs: {passages: retrieve, question: input.question}
                options:
                  budget: 300
                  instructions: Answer from the sources only.
        DRAFT""").replace("LLM", llm).replace("DRAFT", textwrap.indent(draft, "      "))
    if evals:
        text += textwrap.dedent("""\
            evals:
              answers:
                dataset: {path: questions.jsonl, inputs: [question], expected: answer}
                target: {workflow: answer}
                metrics: [groundedness]
                concurrency: 1      # the scripted model answers in call order
        """)
    return text


def compound(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "COMPOUND_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "compound", *args], capture_output=True,
                          text=True, env=env, timeout=300)


def write_system(folder: Path, text: str) -> Path:
    (folder / "pages").mkdir(parents=True, exist_ok=True)
    for name, body in PAGES.items():
        (folder / "pages" / name).write_text(body)
    (folder / "questions.jsonl").write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    (folder / "compound.yaml").write_text(text)
    return folder / "compound.yaml"


def ingest(spec: Path) -> None:
    from compound.orchestration.ingest import read_documents
    from compound.orchestration.retrieval.build import open_index

    system = System.load(spec)
    index = open_index(system, "pages")
    index.open()
    index.ingest(list(read_documents([system.resolve_path("pages")],
                                     base_dir=system.base_dir)))
    index.close()


@pytest.fixture
def yaml_system(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COMPOUND_HOME", str(tmp_path / "home"))
    spec = write_system(tmp_path / "sys", spec_text())
    ingest(spec)
    return spec


def test_retrieve_context_draft_in_yaml_answers_with_citations_and_passage_text(
        yaml_system: Path) -> None:
    system = System.load(yaml_system)
    assert build_problems(system) == []
    prompts: list[tuple[Message, ...]] = []

    def reply(messages: tuple[Message, ...], params: Any) -> str:
        prompts.append(messages)
        return REPLY

    flow = build_workflow(system, "answer", shared={"llm:llm": ScriptedLLM(reply)})
    result = flow.run(question="Why do cats purr?")
    answer = result.output
    assert answer.text == REPLY
    assert answer.citations, "the answer carries the passages it was given"
    first = answer.citations[0]
    assert (first.number, first.title) == (1, "Cats") and first.id.startswith(first.doc_id)
    assert "cats" in first.doc_id
    user = prompts[0][-1].content
    assert "[1] Cats" in user and "Cats purr when they are content" in user
    assert user.endswith("Question: Why do cats purr?")
    assert "SearchResult(" not in user and "Hit(" not in user and "Context(" not in user
    assert prompts[0][0].role == "system"
    context = result.outputs["context"]
    assert context.tokens <= 300 and context.citations["1"].doc_id == first.doc_id


def test_the_context_budget_is_counted_with_the_reading_models_tokenizer(
        yaml_system: Path) -> None:
    counted: list[str] = []

    class Counting(ScriptedLLM):
        def count_tokens(self, text: str) -> int:
            counted.append(text)
            return 2 * len(text)  # a greedy tokenizer: 300 tokens hold 150 characters

    system = System.load(yaml_system)
    flow = build_workflow(system, "answer", shared={"llm:llm": Counting([REPLY])})
    result = flow.run(question="Why do cats purr?")
    context = result.outputs["context"]
    assert counted and context.tokens == 2 * len(context.text) <= 300
    assert [d.item for d in context.dropped] == ["pages/cats.md#0"]
    assert "Cats purr" not in context.text and result.output.citations == ()


def test_a_search_result_wired_into_a_template_renders_as_cited_passages(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPOUND_HOME", str(tmp_path / "home"))
    draft = textwrap.dedent("""\
          - name: draft
            uses: llm
            inputs: {sources: retrieve, question: input.question}
            options: {template: "{sources}\\n\\nQuestion: {question}"}
    """)
    spec = write_system(tmp_path / "sys", spec_text(draft=draft, evals=False))
    ingest(spec)
    system = System.load(spec)
    assert build_problems(system) == []
    llm = ScriptedLLM([REPLY])
    answer = build_workflow(system, "answer", shared={"llm:llm": llm}).run(
        question="Why do cats purr?").output
    prompt = llm.calls[0][0][-1].content
    assert prompt.startswith("[1] Cats") and "SearchResult(" not in prompt
    assert answer.citations[0].title == "Cats"


def test_check_passes_the_yaml_system_and_the_eval_scores_groundedness(
        yaml_system: Path, tmp_path: Path) -> None:
    checked = compound("check", str(yaml_system), home=tmp_path / "home")
    assert checked.returncode == 0, checked.stderr + checked.stdout
    evaluated = compound("eval", str(yaml_system), "--json", home=tmp_path / "home")
    assert evaluated.returncode == 0, evaluated.stderr + evaluated.stdout[-2000:]
    assert groundedness(evaluated.stdout) == 1.0


def groundedness(stdout: str) -> float:
    [run] = json.loads(stdout)
    [metric] = [m for m in run["metrics"] if m["name"] == "groundedness"]
    return float(metric["value"])


def problems_of(tmp_path: Path, text: str) -> list[str]:
    spec = write_system(tmp_path / "sys", text)
    with pytest.raises(SpecError) as error:
        problems = build_problems(System.load(spec))
        if problems:
            raise SpecError(problems, path=str(spec))
    return error.value.problems


def test_check_rejects_a_template_field_that_does_not_flow_in(tmp_path: Path) -> None:
    draft = textwrap.dedent("""\
          - name: draft
            uses: llm
            options: {template: "{contxt}"}
    """)
    text = spec_text(draft=draft, evals=False)
    [problem] = problems_of(tmp_path, text)
    line = next(n for n, t in enumerate(text.splitlines(), 1) if "{contxt}" in t)
    assert f"compound.yaml:{line}:" in problem
    assert "workflows.answer.steps[2].options.template" in problem
    assert "step 'draft' template field '{contxt}' does not flow into the step" in problem
    assert "did you mean 'context'" in problem and "available: context" in problem


def test_check_rejects_a_structured_value_wired_into_a_template(tmp_path: Path) -> None:
    draft = textwrap.dedent("""\
          - name: screen
            uses: pii
            needs: []
            inputs: {text: input.question}
          - name: draft
            uses: llm
            needs: [context, screen]
            inputs: {verdict: screen}
            options: {template: "{context} {verdict}"}
    """)
    text = spec_text(draft=draft, evals=False).replace(
        "workflows:", "guardrails:\n  pii: {type: pii, stage: input}\nworkflows:")
    [problem] = problems_of(tmp_path, text)
    assert "steps[3].options.template" in problem
    assert "template field '{verdict}' receives 'screen' (GuardResult)" in problem
    assert "wire one of its fields instead" in problem and "action" in problem


def test_check_rejects_template_syntax_and_eval_prompt_fields_with_lines(
        tmp_path: Path) -> None:
    draft = textwrap.dedent("""\
          - name: draft
            uses: llm
            options: {template: "{context} {context[0]}"}
    """)
    text = spec_text(draft=draft, evals=False) + textwrap.dedent("""\
        evals:
          direct:
            dataset: {path: questions.jsonl, expected: answer}
            target: {model: llm, prompt: "Q: {questoin}"}
    """)
    spec = write_system(tmp_path / "sys", text)
    with pytest.raises(SpecError) as error:
        System.load(spec)
    [problem] = error.value.problems
    assert "steps[2].options.template" in problem and "indexes a value" in problem
    fixed = text.replace(" {context[0]}", "")
    spec.write_text(fixed)
    [problem] = build_problems(System.load(spec))
    line = next(n for n, t in enumerate(fixed.splitlines(), 1) if "{questoin}" in t)
    assert f"compound.yaml:{line}: evals.direct.target.prompt" in problem
    assert "did you mean 'question'" in problem and "questions.jsonl" in problem


def test_the_cli_check_exits_2_on_a_template_problem(tmp_path: Path) -> None:
    draft = textwrap.dedent("""\
          - name: draft
            uses: llm
            options: {template: "{contxt}"}
    """)
    spec = write_system(tmp_path / "sys", spec_text(draft=draft, evals=False))
    out = compound("check", str(spec), home=tmp_path / "home")
    assert out.returncode == 2 and "did you mean 'context'" in out.stderr
    assert "Traceback" not in out.stderr


def test_the_context_step_rejects_unknown_options_and_models(tmp_path: Path) -> None:
    text = spec_text(evals=False).replace("budget: 300", "budgt: 300")
    [problem] = problems_of(tmp_path, text)
    assert "steps[1]" in problem and "did you mean 'budget'" in problem
    text = spec_text(evals=False).replace("budget: 300", "model: gpt")
    [problem] = problems_of(tmp_path, text)
    assert "model 'gpt' is not an LLM of the system" in problem


@pytest.mark.integration
def test_the_yaml_system_answers_with_the_embedded_model(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from compound.intelligence.llm.embedded import EmbeddedLLM

    monkeypatch.setenv("COMPOUND_HOME", str(tmp_path / "home"))
    spec = write_system(tmp_path / "sys", spec_text(provider="embedded"))
    ingest(spec)
    system = System.load(spec)
    assert build_problems(system) == []
    seen: list[Any] = []
    original = EmbeddedLLM.complete

    def spy(self: EmbeddedLLM, prompt: Any, **params: Any) -> Any:
        seen.append(prompt)
        return original(self, prompt, **params)

    monkeypatch.setattr(EmbeddedLLM, "complete", spy)
    shared: dict[str, Any] = {}
    result = build_workflow(system, "answer", shared=shared).run(question="Why do cats purr?")
    answer = result.output
    assert answer.text.strip() and answer.citations
    assert answer.citations[0].title == "Cats"
    user = next(m for m in seen[0] if m.role == "user").content
    assert "Cats purr when they are content" in user and "SearchResult(" not in user
    context = result.outputs["context"]
    assert shared["llm:llm"].count_tokens(context.text) == context.tokens <= 300
    monkeypatch.undo()
    checked = compound("check", str(spec), home=tmp_path / "home")
    assert checked.returncode == 0, checked.stderr
    evaluated = compound("eval", str(spec), "--json", home=tmp_path / "home")
    assert evaluated.returncode in (0, 1), evaluated.stderr[-2000:]  # 1: below the gate
    assert 0.0 <= groundedness(evaluated.stdout) <= 1.0


def test_a_template_field_naming_an_earlier_step_reads_its_output(
        yaml_system: Path, tmp_path: Path) -> None:
    draft = textwrap.dedent("""\
          - name: draft
            uses: llm
            options: {template: "{retrieve}\\n\\nQuestion: {question}"}
    """)
    spec = yaml_system.parent / "compound.yaml"
    spec.write_text(spec_text(draft=draft, evals=False))
    system = System.load(spec)
    assert build_problems(system) == []
    llm = ScriptedLLM([REPLY])
    build_workflow(system, "answer", shared={"llm:llm": llm}).run(question="Why do cats purr?")
    prompt = llm.calls[0][0][-1].content
    assert prompt.startswith("[1] Cats") and prompt.endswith("Question: Why do cats purr?")


def test_a_record_reaching_a_template_at_run_time_is_refused_naming_the_step() -> None:
    from compound.intelligence.ml.types import Prediction
    from compound.orchestration.context.template import TemplateValueError
    from compound.workflow import Step, Workflow
    from compound.workflow.adapters import LLMStep

    def classify(text: str):  # type: ignore[no-untyped-def]  # untyped: checked when it runs
        return Prediction("card_arrival", 0.9)

    llm = ScriptedLLM([REPLY])
    flow = Workflow([classify, Step(LLMStep(llm, template="Intent: {intent}", name="draft"),
                                    name="draft", inputs={"intent": "classify"})])
    with pytest.raises(TemplateValueError, match=r"step 'draft': .*received a Prediction.*label"):
        flow.run(text="where is my card?")
    assert llm.calls == []


def test_check_reports_a_step_whose_code_fails_to_import(tmp_path: Path) -> None:
    draft = textwrap.dedent("""\
          - name: draft
            uses: broken:answer
    """)
    spec = write_system(tmp_path / "sys", spec_text(draft=draft, evals=False))
    (spec.parent / "broken.py").write_text("raise ValueError('half-written module')\n\n"
                                           "def answer(question: str) -> str:\n    return ''\n")
    assert build_problems(System.load(spec)) == []  # read, not run: the raise is not reached
    [problem] = build_problems(System.load(spec), run_code=True)  # compound check --import
    assert "workflows.answer.steps[2]" in problem and "half-written module" in problem
    assert "Traceback" not in problem
