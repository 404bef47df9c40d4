"""The guard: rails run concurrently, each within its time limit; failures decide by
``on_error``; verdicts combine by severity and land in the trace; rails come from the spec
through the ``compound.rails`` entry points."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from compound.errors import SpecError, UserError
from compound.production.rails import (
    BaseRail,
    Guard,
    GuardResult,
    PIIRail,
    RailInput,
    SecretsRail,
    Verdict,
)
from compound.production.rails.base import RailRequest, build_rail
from compound.store import MemoryStore
from compound.system import System
from compound.workflow import RunContext
from compound.workflow.tracing import StoreSink, Tracer, read_spans


class Fixed(BaseRail):
    """A rail deciding ``decision`` after ``delay_s`` (or raising ``error``)."""

    type = "fixed"
    default_stages = ("input", "output")
    allowed_actions = ("block", "escalate", "redact")

    def __init__(self, *, decision: str = "allow", delay_s: float = 0.0,
                 error: Exception | None = None, **common: Any) -> None:
        super().__init__(**common)
        self.decision = decision
        self.delay_s = delay_s
        self.error = error
        self.threads: list[str] = []

    def check(self, subject: RailInput, ctx: RunContext | None = None) -> Verdict:
        self.threads.append(threading.current_thread().name)
        time.sleep(self.delay_s)
        if self.error is not None:
            raise self.error
        return Verdict(self.name, subject.stage, self.decision, f"decided {self.decision}")  # type: ignore[arg-type]


def test_rails_run_at_the_same_time() -> None:
    rails = [Fixed(name=f"slow{i}", delay_s=0.3) for i in range(3)]
    with Guard(rails) as guard:
        started = time.perf_counter()
        result = guard.check_input("hello")
        elapsed = time.perf_counter() - started
    assert result.action == "allow"
    assert elapsed < 0.75, elapsed  # three 0.3 s rails one after the other would take 0.9 s
    assert len({t for rail in rails for t in rail.threads}) == 3


def test_async_check_runs_rails_concurrently() -> None:
    rails = [Fixed(name=f"slow{i}", delay_s=0.3) for i in range(3)]
    guard = Guard(rails)
    started = time.perf_counter()
    result = asyncio.run(guard.acheck(RailInput("hello")))
    assert time.perf_counter() - started < 0.75
    assert [v.rail for v in result.verdicts] == ["slow0", "slow1", "slow2"]


def test_the_most_severe_verdict_decides_and_order_is_kept() -> None:
    rails = [Fixed(name="a"), Fixed(name="b", decision="escalate"),
             Fixed(name="c", decision="block"), Fixed(name="d", decision="redact")]
    with Guard(rails) as guard:
        result = guard.check_input("x")
    assert result.action == "block" and not result.allowed
    assert [v.rail for v in result.verdicts] == ["a", "b", "c", "d"]
    assert result.reasons == ["b: decided escalate", "c: decided block", "d: decided redact"]
    assert result.verdict("b").action == "escalate"


def test_a_rail_past_its_time_limit_gets_its_on_error_decision() -> None:
    with Guard([Fixed(name="slow", delay_s=3.0, timeout_s=0.2, on_error="block"),
                Fixed(name="fast")]) as guard:
        started = time.perf_counter()
        result = guard.check_input("x")
        elapsed = time.perf_counter() - started
    assert elapsed < 1.5  # waiting for the slow rail would take 3 s
    slow = result.verdict("slow")
    assert slow.action == "block"
    assert slow.reason == "the rail did not decide within 0.2s; 'block' is its on_error decision"
    assert result.verdict("fast").action == "allow"


def test_a_failing_rail_escalates_by_default() -> None:
    with Guard([Fixed(name="broken", error=RuntimeError("model file missing"))]) as guard:
        result = guard.check_input("x")
    verdict = result.verdict("broken")
    assert verdict.action == "escalate"
    assert "RuntimeError: model file missing" in verdict.reason


def test_stages_pick_the_rails() -> None:
    rails = [Fixed(name="in", stages=["input"], decision="block"),
             Fixed(name="out", stages=["output"])]
    with Guard(rails) as guard:
        assert [v.rail for v in guard.check_input("x").verdicts] == ["in"]
        assert [v.rail for v in guard.check_output("x").verdicts] == ["out"]


def test_redactions_of_several_rails_combine() -> None:
    with Guard([PIIRail(), SecretsRail()]) as guard:
        result = guard.check_input("mail ada@example.com with ghp_" + "b" * 36)
    assert result.text == "mail <EMAIL_ADDRESS> with <TOKEN>"


def test_verdicts_are_recorded_in_the_trace() -> None:
    store = MemoryStore()
    tracer = Tracer(StoreSink(store))
    ctx = RunContext(store=store, tracer=tracer, run_id="a" * 32)
    with Guard([Fixed(name="gate", decision="block"), PIIRail()]) as guard:
        guard.check_input("ada@example.com", ctx=ctx)
    assert tracer.flush()
    spans = read_spans(store, "a" * 32)
    guard_span = next(s for s in spans if s["kind"] == "guard")
    rails = {s["attributes"]["compound.rail.name"]: s for s in spans if s["kind"] == "rail"}
    assert guard_span["attributes"]["compound.guard.action"] == "block"
    assert guard_span["status"] == "block"
    assert rails["gate"]["parent_id"] == guard_span["span_id"]
    assert rails["gate"]["attributes"]["compound.rail.action"] == "block"
    assert rails["gate"]["attributes"]["compound.rail.reason"] == "decided block"
    assert rails["pii"]["attributes"]["compound.rail.details"] == {"counts": {"EMAIL_ADDRESS": 1}}
    assert guard_span["attributes"]["compound.input"] == "<EMAIL_ADDRESS>"


def test_duplicate_rail_names_are_refused() -> None:
    with pytest.raises(UserError, match="two rails are named 'a'"):
        Guard([Fixed(name="a"), Fixed(name="a")])


SPEC = """
name: demo
loop: interaction
task: Answer.
guardrails:
  injection: {type: injection}
  pii: {type: pii, stage: input, action: block}
  secrets: {type: secrets}
  topics:
    type: topic
    workflows: [support]
    allowed_topics:
      billing: {examples: ["How do I pay my invoice?"], keywords: [invoice, refund]}
  answer_format: {type: schema, json_schema: {type: object, required: [answer]}}
  grounded: {type: groundedness, threshold: 0.5}
workflows:
  support:
    steps: [{name: echo, uses: "builtins:str"}]
  other:
    steps: [{name: echo, uses: "builtins:str"}]
"""


def test_every_builtin_type_builds_from_the_spec() -> None:
    system = System.from_yaml(SPEC)
    built = {name: build_rail(RailRequest(name, spec, system))
             for name, spec in system.guardrails.items()}
    assert {n: type(r).__name__ for n, r in built.items()} == {
        "injection": "InjectionRail", "pii": "PIIRail", "secrets": "SecretsRail",
        "topics": "TopicRail", "answer_format": "SchemaRail", "grounded": "GroundednessRail"}
    assert built["pii"].stages == ("input",) and built["pii"].action == "block"
    assert built["secrets"].stages == ("input", "output")
    assert built["answer_format"].stages == ("output",)


def test_rails_apply_to_the_workflows_they_name() -> None:
    system = System.from_yaml(SPEC)
    names = [r.name for r in Guard.from_system(system, workflow="other").rails]
    assert "topics" not in names and "pii" in names
    assert "topics" in [r.name for r in Guard.from_system(system, workflow="support").rails]
    assert [r.name for r in Guard.from_system(system, names=["pii"]).rails] == ["pii"]


def test_spec_errors_say_what_to_do() -> None:
    with pytest.raises(SpecError, match="'entities' does not apply to a rail of type 'topic'"):
        System.from_yaml(SPEC.replace("type: topic", "type: topic\n    entities: [PERSON]"))
    with pytest.raises(SpecError, match="a rail of type 'injection' cannot redact"):
        System.from_yaml(SPEC.replace("{type: injection}", "{type: injection, action: redact}"))
    with pytest.raises(SpecError, match=r"unknown key 'treshold'.*did you mean 'threshold'"):
        System.from_yaml(SPEC.replace("threshold: 0.5", "treshold: 0.5"))
    with pytest.raises(SpecError, match="unknown PII entity 'EMAIL'"):
        System.from_yaml(SPEC.replace("action: block", "entities: [EMAIL]"))
    with pytest.raises(SpecError, match="json_schema is not a valid JSON schema"):
        System.from_yaml(SPEC.replace("{type: object, required: [answer]}",
                                      "{type: objekt}"))
    with pytest.raises(SpecError, match="a topic needs 'examples' or 'keywords'"):
        System.from_yaml(SPEC.replace('{examples: ["How do I pay my invoice?"], '
                                      'keywords: [invoice, refund]}', "{description: x}"))


def test_the_spec_example_in_the_docs_is_valid() -> None:
    import yaml

    from compound.production import spec

    example = spec.__doc__.split("::", 1)[1]  # type: ignore[union-attr]
    rails = yaml.safe_load(example)["guardrails"]
    system = System.from_yaml(SPEC.split("guardrails:")[0] + yaml.safe_dump(
        {"guardrails": rails, "workflows": {"answer": {"steps": [
            {"name": "echo", "uses": "builtins:str"}]}},
         "models": {"llm": {"kind": "llm", "provider": "scripted"}}}))
    assert set(system.guardrails) == {"injection", "pii", "topics", "answer_format",
                                      "grounded", "secrets"}
    assert system.guardrails["pii"].stages() == ("input", "output")


def test_unknown_options_say_which_there_are() -> None:
    system = System.from_yaml(SPEC.replace("{type: injection}",
                                           "{type: injection, options: {uncertian: [0, 1]}}"))
    with pytest.raises(UserError, match=r"guardrails.injection.options: unknown option "
                                        r"'uncertian'.*did you mean 'uncertain'.*oversize"):
        Guard.from_system(system, names=["injection"])


def test_unknown_rail_type_and_unknown_workflow() -> None:
    system = System.from_yaml(SPEC.replace("{type: secrets}", "{type: secret}"))
    with pytest.raises(UserError, match=r"no rail named 'secret'.*did you mean 'secrets'"):
        Guard.from_system(system)
    system = System.from_yaml(SPEC.replace("workflows: [support]", "workflows: [suport]"))
    with pytest.raises(UserError, match=r"no workflow 'suport'.*did you mean 'support'"):
        Guard.from_system(system)


def test_a_third_party_rail_registers_like_the_builtins(
    plugin_distribution: Callable[..., Path],
) -> None:
    """A package's entry point under compound.rails, found on sys.path as pip installs it."""
    plugin_distribution("shouting-rails", {"compound.rails": {
        "shouting": f"{__name__}:shouting_rail"}})
    system = System.from_yaml(SPEC.replace("{type: secrets}", "{type: shouting}"))
    with Guard.from_system(system, names=["secrets"]) as guard:
        assert guard.check_input("HELLO").action == "block"
        assert guard.check_input("hello").action == "allow"


def shouting_rail(request: RailRequest) -> BaseRail:
    """A rail type as a factory function, the way a third party may register one."""

    class Shouting(BaseRail):
        type = "shouting"

        def check(self, subject: RailInput, ctx: RunContext | None = None) -> Verdict:
            if subject.text.isupper():
                return self.fire(subject, "all capitals")
            return self.allow(subject, "fine")

    return Shouting(**request.common())


def test_guard_result_round_trips_through_json() -> None:
    from compound.json_values import from_json, to_json

    with Guard([PIIRail()]) as guard:
        result = guard.check_input("ada@example.com")
    again = from_json(to_json(result), GuardResult)
    assert again == result
