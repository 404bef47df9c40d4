"""Metrics: text, structured output, code in a sandbox, groundedness, operational, and the
conformance every registered metric passes."""

from __future__ import annotations

import pytest

from compound.errors import UserError
from compound.evaluation.datasets import Example
from compound.evaluation.targets import TargetOutput
from compound.intelligence.llm import ScriptedLLM
from compound.metrics import Score, available_metrics, get_metric, metric
from compound.metrics.code import code_runs
from compound.metrics.grounding import claims_of, groundedness
from compound.metrics.structured import field_accuracy, json_valid
from compound.metrics.text import (
    contains,
    exact_match,
    key_points,
    normalize_answer,
    normalized_match,
    token_f1,
)


def test_normalisation_and_matches() -> None:
    assert normalize_answer("  The Quick, brown fox!  ") == "quick brown fox"
    assert exact_match("Paris", "Paris ") == 1.0
    assert exact_match("paris", "Paris") == 0.0
    assert normalized_match("The Paris.", "paris") == 1.0
    assert normalized_match("Paris, France", "Paris") == 0.0
    assert exact_match("x", None) is None


def test_token_f1_known_values_and_best_of_references() -> None:
    assert token_f1("Chief of Protocol", "Chief of Protocol") == 1.0
    # pred {chief, protocol, of, us} vs ref {chief, of, protocol}: p=3/4 r=1 -> 6/7
    assert token_f1("Chief of Protocol US", "Chief of Protocol") == pytest.approx(6 / 7)
    assert token_f1("nothing shared", "Chief of Protocol") == 0.0
    assert token_f1("yes", ["no", "yes"]) == 1.0
    assert token_f1("", "") == 1.0


def test_contains_matches_whole_words_only() -> None:
    assert contains("It was Shirley Temple, in 1945.", "shirley temple") == 1.0
    assert contains("The answer is 42.", "4") == 0.0
    assert contains("Paris", ["Lyon", "Paris"]) == 1.0


def test_key_points_reports_what_is_missing() -> None:
    score = key_points("Refunds take 5 days and need a receipt.",
                       ["takes 5 days", "needs a receipt", "manager approval"])
    assert isinstance(score, Score)
    assert score.value == pytest.approx(2 / 3)  # "take"/"takes", "need"/"needs" match
    assert score.reason == "missing: manager approval"


def test_json_validity_and_field_accuracy() -> None:
    schema = {"type": "object", "properties": {"age": {"type": "integer"}}, "required": ["age"]}
    assert json_valid('```json\n{"age": 3}\n```', schema=schema).value == 1.0
    bad = json_valid('{"age": "three"}', schema=schema)
    assert bad.value == 0.0 and "at age" in bad.reason
    assert json_valid("not json").value == 0.0
    reference = {"name": "Ada Lovelace", "born": {"year": 1815, "city": "London"}}
    predicted = TargetOutput("", data={"name": "ada lovelace", "born": {"year": 1816}})
    score = field_accuracy(predicted, "", reference)
    assert score.value == pytest.approx(1 / 3)
    assert "born.year=1816 (expected 1815)" in score.reason and "born.city missing" in score.reason
    tolerant = field_accuracy(predicted, "", reference, fields=["born.year"], number_tolerance=1)
    assert tolerant.value == 1.0


def test_code_runs_in_a_sandbox_with_a_timeout() -> None:
    good = "```python\ndef square(x):\n    return x * x\n```"
    assert code_runs(good, "assert square(4) == 16").value == 1.0
    wrong = code_runs("def square(x):\n    return x + x\n", "assert square(4) == 16")
    assert wrong.value == 0.0 and "AssertionError" in wrong.reason
    hang = code_runs("while True:\n    pass\n", None, timeout_s=1.0)
    assert hang.value == 0.0 and hang.reason == "timed out after 1s"
    env = code_runs("import os\nassert 'COMPOUND_HOME' not in os.environ\n", None)
    assert env.value == 1.0, env.reason  # the sandbox does not inherit our environment


def test_groundedness_checks_each_claim_against_the_passages() -> None:
    passages = ["The Eiffel Tower was completed in 1889 in Paris.",
                "It is 330 metres tall."]
    assert claims_of("It opened in 1889. It is tall!\nMade of cheese.") == [
        "It opened in 1889.", "It is tall!", "Made of cheese."]
    full = groundedness("The Eiffel Tower was completed in 1889.", passages)
    assert full.value == 1.0
    half = groundedness("The tower is 330 metres tall. It was painted by Monet.", passages)
    assert half.value == 0.5 and "Monet" in half.reason
    assert groundedness("anything", []).value is None


def test_groundedness_with_a_judge() -> None:
    judge = ScriptedLLM(['{"supported": true}', '{"supported": false}'])
    score = groundedness("Claim one is here. Claim two is there.", ["passage"], judge,
                         mode="judge")
    assert score.value == 0.5 and len(judge.calls) == 2


def test_user_metric_with_options_and_checks() -> None:
    @metric(higher_is_better=False)
    def words_over(prediction: str, *, limit: int) -> int:
        return max(0, len(prediction.split()) - limit)

    assert words_over.bind({"limit": 2}).score_row(prediction="a b c d").value == 2.0
    with pytest.raises(UserError, match="needs the option 'limit'"):
        words_over.bind({})
    with pytest.raises(UserError, match=r"has no option 'limt'.*its options are: limit"):
        words_over.bind({"limit": 1, "limt": 2})


def test_unknown_metric_names_suggest_the_closest() -> None:
    with pytest.raises(UserError, match="did you mean 'token_f1'"):
        get_metric("token_f2")


STANDARD_ROW = {
    "prediction": '```python\nprint("Paris")\n```',
    "reference": "Paris",
    "output": TargetOutput('print("Paris")', data={"city": "Paris"}, contexts=("Paris.",),
                           latency_s=0.1, cost_usd=0.001, prompt_tokens=3, completion_tokens=2),
    "example": Example(id="1", inputs={"question": "Capital?"}, expected="Paris"),
    "inputs": {"question": "Capital?"},
    "contexts": ("Paris is the capital.",),
    "judge": ScriptedLLM(['{"score": 4, "reason": "ok", "supported": true}']),
}


@pytest.mark.parametrize("name", available_metrics())
def test_every_registered_metric_scores_a_standard_row(name: str) -> None:
    found = get_metric(name)
    assert found.name == name and found.description
    assert found.on_error is None or 0.0 <= found.on_error <= 1.0
    if found.corpus:
        value = found.bind().score_corpus(["1", "2", "3"], ["1", "2", "4"])
        assert isinstance(value, float)
        return
    score = found.bind().score_row(**STANDARD_ROW)
    assert isinstance(score, Score)
    assert score.value is None or isinstance(score.value, float)
    if found.higher_is_better and score.value is not None:
        assert 0.0 <= score.value <= 1.0, (name, score)


def test_corpus_metrics_adapt_the_ml_metrics() -> None:
    from compound.metrics.corpus import accuracy, macro_f1, mae, r2

    assert accuracy(["Yes.", "NO", "maybe"], ["yes", "no", "no"]) == pytest.approx(2 / 3)
    assert macro_f1(["a", "a", "b"], ["a", "b", "b"]) == pytest.approx(2 / 3)
    assert mae(["1", " 2.5"], [1.0, 2.0]) == pytest.approx(0.25)
    assert r2(["1", "2", "3"], [1, 2, 3]) == 1.0
    with pytest.raises(ValueError, match="answer row 1 is not a number"):
        mae(["1", "two"], [1, 2])


def test_binary_recall_and_precision_match_scikit_learn() -> None:
    import random

    from sklearn.metrics import precision_score, recall_score

    from compound.metrics.corpus import precision, recall

    rng = random.Random(7)
    truth = [rng.randint(0, 1) for _ in range(200)]
    answers = [str(t if rng.random() < 0.8 else 1 - t) for t in truth]
    predicted = [int(a) for a in answers]
    assert recall.fn(answers, truth) == pytest.approx(recall_score(truth, predicted))
    assert precision.fn(answers, truth) == pytest.approx(precision_score(truth, predicted))
    with pytest.raises(ValueError, match="undefined"):
        recall.fn(["0", "1"], [0, 0])


def test_the_sandbox_writes_a_scratch_copy_and_keeps_it_inside() -> None:
    from compound.metrics.code import run_sandboxed

    script = ("import os, sys\nsys.path.insert(0, os.path.dirname(__file__))\n"
              "from pkg.mod import VALUE\nprint(VALUE, open('notes/a.txt').read())\n")
    done = run_sandboxed(script, files={"pkg/__init__.py": "", "pkg/mod.py": "VALUE = 3\n",
                                        "notes/a.txt": "hi"})
    assert done is not None and done.stdout == "3 hi\n"
    for outside in ("../escape.py", "/tmp/escape.py", "answer.py"):
        with pytest.raises(ValueError, match="outside the scratch folder"):
            run_sandboxed("pass", files={outside: "x"})
