"""Patterns from a spec, a dataset or a request cannot backtrack catastrophically (issue 14).

Every pattern that comes from outside compound (a JSON schema's ``pattern``,
``patternProperties`` and ``format: regex``) goes through :mod:`compound.linear_regex`
(RE2). Each catastrophic pattern below, against a 30-50 character input that makes Python's
``re`` backtrack for minutes, must answer within a generous bound through every entry point:
the structured output of a model, the schema rail, the json_valid metric, the eval target's
schema; a pattern RE2 cannot compile is refused when the spec loads, with the file, line and
field.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compound import linear_regex
from compound.errors import SpecError, UserError
from compound.intelligence.llm.errors import InvalidResponse
from compound.intelligence.llm.scripted import ScriptedLLM
from compound.metrics.structured import json_valid
from compound.production.rails.structured import SchemaRail
from compound.production.rails.verdict import RailInput
from compound.system import System

BOUND_S = 5.0
# (pattern, a subject that makes a backtracking engine take exponential time)
EVIL = [
    (r"^(a+)+$", "a" * 40 + "!"),
    (r"^(a|aa)+$", "a" * 45 + "!"),
    (r"^(.*a){20}$", "a" * 30 + "!" * 10),
    (r"^(\w+\s?)*$", "word " * 8 + "!"),
]


@contextmanager
def bounded() -> Iterator[None]:
    start = time.perf_counter()
    yield
    elapsed = time.perf_counter() - start
    assert elapsed < BOUND_S, f"took {elapsed:.1f}s: the pattern backtracked"


@pytest.mark.parametrize(("pattern", "subject"), EVIL)
def test_a_models_structured_output_is_checked_in_linear_time(pattern: str,
                                                              subject: str) -> None:
    schema = {"type": "object", "properties": {"id": {"type": "string", "pattern": pattern}},
              "patternProperties": {pattern: {"type": "string"}}}
    llm = ScriptedLLM([json.dumps({"id": subject, subject: "x"})])
    with bounded(), pytest.raises(InvalidResponse, match="does not match"):
        llm.complete("id?", json_schema=schema)


@pytest.mark.parametrize(("pattern", "subject"), EVIL)
def test_the_schema_rail_checks_patterns_in_linear_time(pattern: str, subject: str) -> None:
    rail = SchemaRail(name="format", schema={
        "type": "object", "properties": {"id": {"pattern": pattern}},
        "patternProperties": {pattern: {}}, "additionalProperties": False})
    with bounded():
        verdict = rail.check(RailInput(text=json.dumps({"id": subject})))
        keys = rail.check(RailInput(text=json.dumps({subject: 1})))
    assert verdict.action == "block" and "does not match" in verdict.reason
    assert keys.action == "block" and "does not match any of the regexes" in keys.reason


@pytest.mark.parametrize(("pattern", "subject"), EVIL)
def test_the_json_valid_metric_checks_patterns_in_linear_time(pattern: str,
                                                              subject: str) -> None:
    with bounded():
        score = json_valid(json.dumps(subject), schema={"pattern": pattern})
    assert score.value == 0.0 and "does not match" in (score.reason or "")


def test_matches_still_pass_and_keys_still_route() -> None:
    schema = {"type": "object", "patternProperties": {"^x-": {"type": "integer"}},
              "properties": {"id": {"pattern": "^[a-z]+-[0-9]{3}$"}},
              "additionalProperties": False}
    linear_regex.validate({"id": "ab-123", "x-n": 1}, schema)
    with pytest.raises(jsonschema.ValidationError, match="is not of type 'integer'"):
        linear_regex.validate({"x-n": "one"}, schema)
    with pytest.raises(jsonschema.ValidationError,
                       match=r"Additional properties|does not match any"):
        linear_regex.validate({"other": 1}, schema)


def test_format_regex_values_must_be_re2() -> None:
    linear_regex.validate("^a+$", {"format": "regex"})
    with pytest.raises(jsonschema.ValidationError, match="is not a 'regex'"):
        linear_regex.validate("(?<=a)b", {"format": "regex"})


NOT_RE2 = [r"(a)\1", r"(?=a)b", r"(?<!a)b", r"a{2000}"]

SPEC = """name: probe
loop: interaction
task: Answer.
models:
  llm: {{provider: scripted}}
guardrails:
  answer_format:
    type: schema
    json_schema:
      type: object
      properties:
        id: {{type: string, pattern: '{pattern}'}}
"""

EVAL_SPEC = """name: probe
loop: interaction
task: Answer.
models:
  llm: {{provider: scripted}}
evals:
  qa:
    dataset: {{path: qa.jsonl, inputs: [q], expected: a}}
    target:
      model: llm
      json_schema: {{type: object, patternProperties: {{'{pattern}': {{type: string}}}}}}
    metrics:
      - {{name: valid, metric: json_valid, options: {{schema: {{pattern: '{pattern}'}}}}}}
"""


@pytest.mark.parametrize("pattern", NOT_RE2)
@pytest.mark.parametrize("spec", [SPEC, EVAL_SPEC], ids=["rail", "eval"])
def test_a_pattern_re2_cannot_compile_is_refused_at_load_with_file_and_line(
        tmp_path: Path, spec: str, pattern: str) -> None:
    path = tmp_path / "compound.yaml"
    path.write_text(spec.format(pattern=pattern))
    with pytest.raises(SpecError) as caught:
        System.load(path)
    message = str(caught.value)
    assert str(path) in message and "RE2 syntax" in message
    assert "line " in message or f"{path.name}:" in message
    assert "Traceback" not in message


@pytest.mark.parametrize("pattern", NOT_RE2)
def test_a_requests_schema_re2_cannot_compile_is_a_user_error_before_the_model(
        pattern: str) -> None:
    llm = ScriptedLLM(['{"id": "a"}'])
    with pytest.raises(UserError, match="RE2 syntax"):
        llm.complete("id?", json_schema={"properties": {"id": {"pattern": pattern}}})
    assert llm.calls == []


def test_unevaluated_properties_with_pattern_properties_is_refused() -> None:
    schema = {"patternProperties": {"^a": {}}, "unevaluatedProperties": False}
    with pytest.raises(linear_regex.PatternError, match="additionalProperties instead"):
        linear_regex.check_schema(schema)


@settings(max_examples=60, deadline=None)
@given(pattern=st.sampled_from([p for p, _ in EVIL]),
       subject=st.text(alphabet="a!\u00e9 ", min_size=30, max_size=50))
def test_any_subject_answers_in_bounded_time(pattern: str, subject: str) -> None:
    check: Callable[[], Any] = lambda: linear_regex.search(pattern, subject)  # noqa: E731
    with bounded():
        check()


def test_patterns_inside_enum_and_const_are_data_not_patterns() -> None:
    schema = {"enum": [{"pattern": r"(a)\1"}], "const": {"pattern": "(?=x)"}}
    linear_regex.check_schema(schema)
    assert list(linear_regex.schema_patterns(schema)) == []


def test_the_local_openai_server_answers_a_hostile_schema_at_once() -> None:
    import httpx

    from compound.intelligence.llm.local_server import LocalOpenAIServer

    reply = json.dumps({"id": "a" * 40 + "!"})
    with LocalOpenAIServer(ScriptedLLM([reply])) as server:
        def ask(pattern: str) -> httpx.Response:
            schema = {"type": "object", "properties": {"id": {"pattern": pattern}}}
            return httpx.post(f"{server.base_url}/chat/completions", timeout=30, json={
                "model": "m", "messages": [{"role": "user", "content": "id?"}],
                "response_format": {"type": "json_schema",
                                    "json_schema": {"name": "o", "schema": schema}}})

        with bounded():
            evil = ask(r"^(a+)+$")
            refused = ask(r"(?=a)")
    assert evil.status_code == 500 and "does not match" in evil.text
    assert refused.status_code == 400 and "RE2 syntax" in refused.text


STEP_SPEC = """name: probe
loop: interaction
task: Answer.
models:
  llm: {{provider: scripted}}
workflows:
  ask:
    steps:
      - name: draft
        uses: llm
        options:
          json_schema: {{type: object, properties: {{id: {{pattern: '{pattern}'}}}}}}
"""


def test_a_steps_schema_pattern_re2_cannot_compile_is_refused_at_load(tmp_path: Path) -> None:
    path = tmp_path / "compound.yaml"
    path.write_text(STEP_SPEC.format(pattern=r"(?<=a)b"))
    with pytest.raises(SpecError, match=r"compound\.yaml:\d+: .*json_schema: .*RE2 syntax"):
        System.load(path)
    path.write_text(STEP_SPEC.format(pattern=r"^(a+)+$"))
    System.load(path)  # a catastrophic pattern for re is valid RE2: it loads, and runs linear


# compound's own patterns run on request text too: the probe that found '={3,}\s*end' (quadratic:
# 100,000 '=' took minutes) searches every built-in pattern over long runs of one or two chars
RUNS = [c * 100_000 for c in "=<#a0 .-@\n"] + [(a + b) * 50_000 for a in "=a0 " for b in ".-@:"]


@pytest.mark.parametrize("subject", RUNS, ids=lambda s: repr(s[:2]))
def test_the_injection_heuristics_scan_long_runs_in_linear_time(subject: str) -> None:
    from compound.production.rails.heuristics import scan

    with bounded():
        scan(subject)
        scan(subject + " end")
