"""The design review: each rule on a small spec (fires where the principle is broken, stays
quiet where it is kept), the examples' real findings, a bad spec with every finding,
silencing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compound.design_review import RULES, review
from compound.design_review.evaluation import needed_rows, wilson_half_width
from compound.system import System

ROOT = Path(__file__).resolve().parents[2]
BAD = Path(__file__).parent / "bad_system"

HEAD = """\
name: demo
loop: interaction
task: Answer questions.
"""
# an input rail screening the request before the LLM: what a kept spec has
SCREENED = """\
guardrails:
  injection: {type: injection, stage: input}
workflows:
  answer:
    input: {question: str}
    steps:
      - {name: screen, uses: injection, inputs: {text: input.question}}
      - name: draft
        uses: llm
        needs: [screen]
        inputs: {question: input.question}
        options: {template: "{question}"}
"""


def spec(text: str, folder: Path | None = None) -> System:
    if folder is None:
        return System.from_yaml(text)
    path = folder / "compound.yaml"
    path.write_text(text, encoding="utf-8")
    return System.load(path)


def ids(system: System) -> list[str]:
    return [f.id for f in review(system).findings]


def test_every_rule_has_a_unique_id_a_severity_and_a_reason() -> None:
    names = [rule.id for rule in RULES]
    assert len(names) == len(set(names)) == 13
    assert all(rule.severity in ("error", "warning", "info") and rule.reason for rule in RULES)


# -- the right model for the job -------------------------------------------------------------

LABELLER = HEAD + """\
models: {llm: {provider: scripted}}
workflows:
  answer:
    input: {question: str}
    steps:
      - name: label
        uses: llm
        inputs: {question: input.question}
        options:
          template: "{question}"
          json_schema: %s
"""


@pytest.mark.parametrize("schema, what", [
    ('{type: object, properties: {label: {enum: [billing, sync]}}}', "a label from a fixed set"),
    ('{type: number}', "a number"),
    ('{type: object, properties: {ok: {type: boolean}, score: {type: integer}}}', "a yes/no"),
])
def test_an_llm_asked_for_a_label_or_a_number_is_a_classifier(schema: str, what: str) -> None:
    found = [f for f in review(spec(LABELLER % schema)).findings if f.id == "llm-as-classifier"]
    assert len(found) == 1 and what in found[0].message
    assert found[0].loc == ("workflows", "answer", "steps", 0, "options", "json_schema")


def test_an_llm_asked_for_open_text_is_not_a_classifier() -> None:
    system = spec(LABELLER % "{type: object, properties: {answer: {type: string}}}")
    assert "llm-as-classifier" not in ids(system)


def test_an_llm_behind_a_when_is_routed_not_used_at_volume() -> None:
    text = (LABELLER % "{enum: [a, b]}").replace("      - name: label\n",
                                                 "      - name: label\n        when: 'true'\n")
    assert "llm-as-classifier" not in ids(spec(text))


def test_an_eval_scoring_an_llm_by_accuracy_finds_a_classifier() -> None:
    system = spec(HEAD + """\
models: {llm: {provider: scripted}}
evals:
  labels:
    dataset: {path: t.jsonl, expected: label}
    target: {model: llm, prompt: "{text}"}
    metrics: [accuracy]
""")
    found = [f for f in review(system).findings if f.id == "llm-as-classifier"]
    assert [f.loc for f in found] == [("evals", "labels", "target")]


def _write_rows(path: Path, rows: list[dict[str, str]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


CLASSIFIER = """\
name: demo
loop: hybrid
task: Answer questions.
models:
  faq: {kind: predictor, task: text_classification, dataset: rows.jsonl, target: answer,
        features: [question]}
"""


def test_a_classifier_trained_on_free_text_needs_an_llm(tmp_path: Path) -> None:
    _write_rows(tmp_path / "rows.jsonl", [
        {"question": f"q{i}", "answer": f"Answer number {i} is a sentence of some words."}
        for i in range(30)])
    found = [f for f in review(spec(CLASSIFIER, tmp_path)).findings
             if f.id == "classifier-on-open-language"]
    assert len(found) == 1 and "30 distinct values" in found[0].message


def test_a_classifier_of_a_few_labels_is_right(tmp_path: Path) -> None:
    _write_rows(tmp_path / "rows.jsonl", [
        {"question": f"q{i}", "answer": ["billing", "sync", "account"][i % 3]}
        for i in range(30)])
    assert "classifier-on-open-language" not in ids(spec(CLASSIFIER, tmp_path))


def test_an_llm_given_only_numbers_is_the_reverse_mistake() -> None:
    base = HEAD + """\
models: {llm: {provider: scripted}}
workflows:
  decide:
    input: {amount: float, late: bool, note: str}
    steps:
      - name: decide
        uses: llm
        inputs: %s
        options: {template: "decide"}
"""
    numbers = review(spec(base % "{amount: input.amount, late: input.late}")).findings
    assert [f.loc for f in numbers if f.id == "llm-on-structured-input"] == [
        ("workflows", "decide", "steps", 0, "inputs")]
    words = spec(base % "{amount: input.amount, note: input.note}")
    assert "llm-on-structured-input" not in ids(words)


# -- rails -----------------------------------------------------------------------------------

def test_an_llm_workflow_without_an_input_rail_is_an_error() -> None:
    bare = spec(HEAD + """\
models: {llm: {provider: scripted}}
workflows:
  answer:
    steps: [{name: draft, uses: llm}]
""")
    found = [f for f in review(bare).findings if f.id == "no-input-rail"]
    assert len(found) == 1 and found[0].severity == "error"
    assert "no input rail is declared" in found[0].message
    elsewhere = spec(HEAD + """\
models: {llm: {provider: scripted}}
guardrails:
  injection: {type: injection, workflows: [other]}   # guards another workflow only
workflows:
  answer:
    steps: [{name: draft, uses: llm}]
  other:
    steps: [{name: draft, uses: llm}]
""")
    found = [f for f in review(elsewhere).findings if f.id == "no-input-rail"]
    assert [f.loc for f in found] == [("workflows", "answer")]
    assert "none guards it" in found[0].message


def test_an_input_rail_no_step_uses_guards_the_run() -> None:
    system = spec(HEAD + """\
models: {llm: {provider: scripted}}
guardrails:
  injection: {type: injection}        # no step uses it: it screens every run's input
workflows:
  answer:
    steps: [{name: draft, uses: llm}]
""")
    assert "no-input-rail" not in ids(system)


def test_a_screened_workflow_has_its_input_rail() -> None:
    found = ids(spec(HEAD + "models: {llm: {provider: scripted}}\n" + SCREENED))
    assert "no-input-rail" not in found and "output-rail-unused" not in found


def test_a_prediction_system_needs_no_input_rail() -> None:
    system = spec("""\
name: demo
loop: prediction
task: Classify.
models:
  intent: {kind: predictor, task: text_classification, dataset: t.jsonl, target: label}
workflows:
  classify:
    steps: [{name: classify, uses: intent}]
""")
    assert "no-input-rail" not in ids(system)


def test_an_output_rail_that_guards_no_served_workflow_is_reported() -> None:
    def text(pii: str) -> str:
        return (HEAD + "models: {llm: {provider: scripted}}\n" + SCREENED.replace(
            "guardrails:\n", f"guardrails:\n  pii: {pii}\n")
            + "  internal:\n    steps: [{name: draft, uses: llm}]\n"
            + "serve: {workflows: [answer]}\n")

    around = spec(text("{type: pii, stage: output}"))   # guards every run: used
    assert "output-rail-unused" not in ids(around)
    unserved = spec(text("{type: pii, stage: output, workflows: [internal]}"))
    found = [f for f in review(unserved).findings if f.id == "output-rail-unused"]
    assert [f.loc for f in found] == [("guardrails", "pii")]
    assert "not served (internal)" in found[0].message


# -- fallbacks, timeouts, budgets ------------------------------------------------------------

REMOTE = HEAD + """\
models:
  gpt: {provider: openai, model: gpt-4o-mini%s}
  local: {provider: scripted}
"""


def test_a_remote_model_needs_a_fallback_and_a_timeout() -> None:
    found = ids(spec(REMOTE % ""))
    assert "remote-without-fallback" in found and "remote-without-timeout" in found


def test_a_remote_model_with_a_chain_and_a_timeout_is_kept() -> None:
    system = spec(REMOTE % ", timeout_s: 10" + """\
strategy:
  fallbacks:
    answer: {options: [gpt, local]}
""")
    found = ids(system)
    assert "remote-without-fallback" not in found and "remote-without-timeout" not in found


def test_a_step_that_skips_the_chain_has_no_fallback() -> None:
    system = spec(REMOTE % ", timeout_s: 10" + """\
strategy:
  fallbacks:
    answer: {options: [gpt, local]}
workflows:
  ask:
    steps: [{name: draft, uses: gpt}]
""")
    found = [f for f in review(system).findings if f.id == "remote-without-fallback"]
    assert len(found) == 1 and "uses: answer" in found[0].fix


def test_an_agent_needs_a_token_or_cost_budget() -> None:
    text = HEAD + """\
models: {llm: {provider: scripted}}
workflows:
  act:
    steps:
      - {name: act, uses: llm, agent: {max_steps: 5%s}}
"""
    assert "agent-without-budget" in ids(spec(text % ""))
    assert "agent-without-budget" not in ids(spec(text % ", max_tokens: 4000"))
    budgeted = text % "" + "strategy: {budgets: {request: {max_cost_usd: 0.05}}}\n"
    assert "agent-without-budget" not in ids(spec(budgeted))


# -- evaluation before scaling ---------------------------------------------------------------

def test_a_served_system_without_criteria() -> None:
    system = spec(HEAD + "models: {llm: {provider: scripted}}\n" + SCREENED)
    assert "no-criteria" in ids(system)
    assert "no-criteria" not in ids(spec(HEAD))  # nothing served, nothing to hold


def test_a_criterion_no_eval_measures() -> None:
    system = spec(HEAD + "criteria: {answer_f1: {metric: token_f1, threshold: 0.5}}\n")
    found = [f for f in review(system).findings if f.id == "criterion-without-eval"]
    assert [f.loc for f in found] == [("criteria", "answer_f1")]


def test_the_wilson_half_width_and_the_rows_it_needs() -> None:
    assert wilson_half_width(0.5, 12) == pytest.approx(0.246, abs=1e-3)
    need = needed_rows(0.9, 0.05)
    assert wilson_half_width(0.9, need) <= 0.05 < wilson_half_width(0.9, need - 1)


THIN = HEAD + """\
models: {llm: {provider: scripted}}
criteria:
  f1: {metric: token_f1, threshold: 0.5}
evals:
  qa:
    dataset: {path: qa.jsonl, expected: answer}
    target: {model: llm, prompt: "{question}"}
    metrics: [token_f1]
"""


@pytest.mark.parametrize("rows, thin", [(10, True), (92, True), (93, False), (400, False)])
def test_an_eval_is_thin_when_its_interval_is_wider_than_the_resolution(
        tmp_path: Path, rows: int, thin: bool) -> None:
    _write_rows(tmp_path / "qa.jsonl", [{"question": "q", "answer": "a"}] * rows)
    found = [f for f in review(spec(THIN, tmp_path)).findings if f.id == "thin-eval"]
    assert bool(found) is thin
    if thin:
        assert f"on {rows} rows" in found[0].message and "sample: 93" in found[0].fix


def test_the_resolution_is_the_spec_s_and_sample_bounds_the_rows(tmp_path: Path) -> None:
    _write_rows(tmp_path / "qa.jsonl", [{"question": "q", "answer": "a"}] * 400)
    coarse = THIN + "design_review: {resolution: 0.3}\n"
    assert "thin-eval" not in ids(spec(coarse, tmp_path))
    sampled = THIN.replace("    metrics:", "    sample: 20\n    metrics:")
    found = [f for f in review(spec(sampled, tmp_path)).findings if f.id == "thin-eval"]
    assert found[0].loc == ("evals", "qa", "sample") and "sample: 20 of 400" in found[0].message


def test_a_stored_dataset_without_sample_is_not_guessed() -> None:
    assert "thin-eval" not in ids(spec(THIN.replace("qa.jsonl", "store:qa")))


# -- the flywheel and latency ----------------------------------------------------------------

def test_a_predictor_no_served_step_uses_has_no_flywheel() -> None:
    text = """\
name: demo
loop: prediction
task: Classify.
models:
  intent: {kind: predictor, task: text_classification, dataset: t.jsonl, target: label}
workflows:
  classify:
    steps: [{name: classify, uses: intent}]
"""
    assert "no-flywheel" not in ids(spec(text))
    unserved = spec(text + "serve: {workflows: [other]}\n")
    assert "no-flywheel" in ids(unserved)


LATENCY = HEAD + """\
models: {llm: {provider: scripted}}
criteria:
  p95_ms: {metric: p95_ms, threshold: 3000, direction: lower}
workflows:
  answer:
    input: {question: str}
    steps:
      - {name: draft, uses: llm, inputs: {question: input.question},
         options: {template: "{question}"}}
evals:
  qa:
    dataset: {path: qa.jsonl, expected: answer}
    target: {workflow: answer}
    metrics: [{name: p95_ms, metric: latency_ms, aggregate: p95}]
"""


def test_a_latency_criterion_with_nothing_in_front_of_the_llm() -> None:
    found = [f for f in review(spec(LATENCY)).findings if f.id == "latency-without-mitigation"]
    assert [f.loc for f in found] == [("criteria", "p95_ms")] and "step draft" in found[0].message
    cached = LATENCY + "strategy: {cache: {semantic: {enabled: true}}}\n"
    assert "latency-without-mitigation" not in ids(spec(cached))
    routed = LATENCY.replace("{name: draft,", "{name: draft, when: \"len(input.question) > 3\",")
    assert "latency-without-mitigation" not in ids(spec(routed))


# -- the examples, a bad spec, silencing -----------------------------------------------------

def test_the_support_desk_shows_its_thin_groundedness_eval() -> None:
    found = review(System.load(ROOT / "examples" / "support_desk")).findings
    # its pii output rail guards every run of 'answer' (no step uses it), so it is used
    assert "output-rail-unused" not in {f.id for f in found}
    thin = [f for f in found if f.id == "thin-eval"]
    grounded = next(f for f in thin if "answer_groundedness" in f.message)
    assert grounded.loc == ("evals", "answers", "dataset")
    assert "76 rows" in grounded.message and "rows that have passages" in grounded.message
    assert "no-input-rail" not in {f.id for f in found}  # its injection rail is a step


@pytest.mark.parametrize("example, expected", [
    ("support_desk", ["thin-eval"]),
    ("credit_risk", ["thin-eval", "latency-without-mitigation"]),
    ("quickstart", ["thin-eval"]),
    ("research_agent", ["no-input-rail", "no-input-rail"]),  # both silenced, with the reason
    ("code_assistant", ["no-input-rail", "thin-eval", "thin-eval"]),  # silenced, with reasons
])
def test_the_examples_real_findings(example: str, expected: list[str]) -> None:
    assert ids(System.load(ROOT / "examples" / example)) == expected


def test_the_bad_spec_breaks_every_principle() -> None:
    system = System.load(BAD)
    found = set(ids(system))
    # no-criteria and criterion-without-eval exclude each other: one needs criteria
    assert found == {rule.id for rule in RULES} - {"no-criteria"}
    bare = system.model_copy(update={"criteria": {}})
    assert "no-criteria" in ids(bare)


def test_a_silenced_finding_shows_with_its_reason_and_a_wrong_id_is_reported() -> None:
    system = spec(LATENCY + """\
design_review:
  silence:
    latency-without-mitigation: clients use the stream endpoint
    thin-evals: typo
""")
    result = review(system)
    silenced = next(f for f in result.findings if f.id == "latency-without-mitigation")
    assert silenced.silenced_because == "clients use the stream endpoint"
    assert silenced not in result.open
    unknown = next(f for f in result.open if f.id == "silence-unknown")
    assert "did you mean 'thin-eval'" in unknown.message
    assert result.findings[-1] is silenced  # silenced findings come last


def test_silencing_needs_a_reason() -> None:
    from compound.errors import SpecError

    with pytest.raises(SpecError, match="needs a reason"):
        spec(HEAD + "design_review: {silence: {no-criteria: '  '}}\n")
