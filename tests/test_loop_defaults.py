"""The loop type's default criteria: what a system is judged by where its spec is silent."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from compound.loop_defaults import COHERENCE_RUBRIC, default_criteria, eval_defaults
from compound.system import System

PREDICTION = """\
name: router
loop: prediction
task: Route requests.
models:
  intent: {kind: predictor, task: text_classification, dataset: t.jsonl, target: label}
"""

INTERACTION = """\
name: faq
loop: interaction
task: Answer questions from the help pages.
retrievers:
  kb: {kind: bm25, documents: [docs]}
evals:
  answers:
    dataset: {path: qa.jsonl, expected: answer}
    target: {model: llm, prompt: "{question}", contexts: passages}
  named:
    dataset: {path: qa.jsonl, expected: answer}
    target: {model: llm, prompt: "{question}"}
    metrics: [token_f1]
"""


def test_a_silent_prediction_spec_gets_accuracy_ece_and_stability() -> None:
    found = [(d.component, d.name, d.where) for d in default_criteria(
        System.from_yaml(PREDICTION))]
    assert found == [("intent", "accuracy", "promotion gate"),
                     ("intent", "ece", "promotion gate"),
                     ("intent", "negative_flips",
                      "promotion gate; the prediction loop's default")]


def test_a_declared_criterion_replaces_the_metric_defaults_but_not_stability() -> None:
    system = System.from_yaml(PREDICTION + "criteria:\n  acc: {metric: accuracy, "
                              "threshold: 0.8}\n")
    assert [d.name for d in default_criteria(system)] == ["negative_flips"]


def test_an_interaction_eval_without_metrics_is_judged_by_rubric_and_groundedness() -> None:
    system = System.from_yaml(INTERACTION)
    metrics = eval_defaults(system, "answers")
    assert [(m.name, m.registered_name) for m in metrics] == [
        ("usefulness", "llm_judge"), ("coherence", "llm_judge"),
        ("groundedness", "groundedness")]
    assert metrics[1].options["rubric"] == COHERENCE_RUBRIC
    assert eval_defaults(system, "named") == []  # it says what to measure
    listed = [(d.component, d.name, d.where) for d in default_criteria(system)]
    assert ("answers", "usefulness", "eval 'answers', rubric judge 'llm'") in listed


def test_judged_defaults_need_a_declared_llm() -> None:
    # a prediction system that evaluates an LLM-free workflow: no judge is conjured up
    system = System.from_yaml(PREDICTION + """\
workflows:
  route:
    input: {text: str}
    steps:
      - {name: classify, uses: intent, inputs: {text: input.text}}
evals:
  routes:
    dataset: {path: qa.jsonl, expected: label}
    target: {workflow: route, output: classify.label}
""")
    assert not system.llms() and eval_defaults(system, "routes") == []


def test_compound_check_lists_the_default_criteria(tmp_path: Path) -> None:
    (tmp_path / "compound.yaml").write_text(PREDICTION)
    (tmp_path / "t.jsonl").write_text('{"text": "a", "label": "x"}\n')
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    out = subprocess.run([sys.executable, "-m", "compound", "check", str(tmp_path)],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "default criteria" in out.stdout and "negative_flips <= 0.05" in out.stdout


PETS = """\
name: pets
loop: interaction
task: Answer questions about pets from the pages.
models:
  llm: {kind: llm, provider: scripted, options: {replies: ["Cats purr when they are content."]}}
retrievers:
  pages: {kind: bm25, documents: [docs], top_k: 1}
workflows:
  answer:
    input: {question: str}
    steps:
      - {name: retrieve, uses: pages, inputs: {query: input.question}}
      - name: draft
        uses: llm
        inputs: {sources: retrieve, question: input.question}
        options: {template: "{sources}\\n\\nQuestion: {question}"}
  chat:
    input: {question: str}
    steps:
      - {name: draft, uses: llm, options: {template: "{question}"}}
evals:
  answers:
    dataset: {path: qa.jsonl, inputs: [question], expected: answer}
    target: {workflow: answer}
    concurrency: 1
  chats:
    dataset: {path: qa.jsonl, inputs: [question], expected: answer}
    target: {workflow: chat}
store: {path: home/compound.db}
"""


def test_a_workflow_eval_that_retrieves_is_grounded_in_what_its_runs_retrieved(
        tmp_path: Path) -> None:
    from compound.evaluation import EvalRunner, plan_eval
    from compound.orchestration.ingest import read_documents
    from compound.orchestration.retrieval.build import open_index
    from compound.store import open_store

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "cats.md").write_text(
        "# Cats\n\nCats purr when they are content, and sometimes when they heal.\n")
    (tmp_path / "docs" / "dogs.md").write_text(
        "# Dogs\n\nDogs bark to warn their owners of strangers at the door.\n")
    (tmp_path / "qa.jsonl").write_text('{"question": "Why do cats purr?", "answer": "content"}\n'
                                       '{"question": "Why do dogs bark?", "answer": "warn"}\n')
    (tmp_path / "compound.yaml").write_text(PETS)
    system = System.load(tmp_path)
    assert [m.name for m in eval_defaults(system, "answers")] == [
        "usefulness", "coherence", "groundedness"]
    assert [m.name for m in eval_defaults(system, "chats")] == ["usefulness", "coherence"]
    listed = [(d.component, d.name, d.where) for d in default_criteria(system)]
    assert ("answers", "groundedness", "eval 'answers', against the passages the run "
            "retrieved (step 'retrieve')") in listed
    index = open_index(system, "pages")
    index.open()
    index.ingest(list(read_documents([system.resolve_path("docs")], base_dir=system.base_dir)))
    index.close()
    store = open_store(system)
    run = EvalRunner(store, progress=False).run(plan_eval(system, "answers", store=store),
                                                resume=False)
    # the one answer, about cats, rests on the cats page the first run retrieved, not on the
    # dogs page the second one did (though the index holds both)
    assert run.metric("groundedness").value == 0.5
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    out = subprocess.run([sys.executable, "-m", "compound", "check", str(tmp_path)],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "groundedness no drop beyond 0.1 from the last run (eval 'answers', against the " \
           "passages the run retrieved (step 'retrieve'))" in out.stdout
