"""The strategy section of compound.yaml: validated at load, references checked with lines."""

from __future__ import annotations

import pytest

from compound.errors import SpecError
from compound.system import System

HEAD = """name: s
loop: hybrid
task: Route requests.
models:
  llm: {kind: llm, provider: scripted}
  gpt: {kind: llm, provider: scripted}
  intent: {kind: predictor, task: text_classification, dataset: train.jsonl, target: label}
"""


def load(strategy: str) -> System:
    return System.from_yaml(HEAD + strategy, source="compound.yaml")


def test_a_full_strategy_section_loads() -> None:
    system = load("""strategy:
  routers:
    by_confidence: {kind: confidence, model: intent, fallback: answer, threshold: 0.8}
    by_rule:
      kind: rules
      rules: [{when: "length > 2000", use: gpt}, {when: "'refund' in input", use: review}]
      default: by_confidence
  fallbacks:
    answer: {options: [gpt, {model: llm, timeout_s: 30, retries: 2}], partial: hide}
  ensembles:
    vote: {members: [gpt, llm], combine: agreement, review_below: 0.5}
  review: {queue: support, below: 0.4}
  cache:
    exact: {ttl_s: 3600}
    semantic: {enabled: true, threshold: 0.95, guards: [numbers, intent], intent_model: intent}
  budgets:
    request: {max_tokens: 4000}
    periods: [{period: day, max_cost_usd: 5}]
""")
    strategy = system.strategy
    assert strategy.fallbacks["answer"].options[1].retries == 2
    assert strategy.routers["by_rule"].kind == "rules"
    assert strategy.budgets.periods[0].period == "day"


@pytest.mark.parametrize(("strategy", "expected"), [
    ("strategy:\n  routers:\n    r: {kind: confidence, model: intnet, fallback: llm, "
     "threshold: 0.5}\n", "compound.yaml:10: strategy.routers.r.model: predictor 'intnet' is "
     "not declared (did you mean 'intent'?)"),
    ("strategy:\n  fallbacks:\n    f: {options: [gtp]}\n",
     "strategy.fallbacks.f.options[0].model: LLM 'gtp' is not declared (did you mean 'gpt'?)"),
    ("strategy:\n  routers:\n    r: {kind: confidence, model: intent, fallback: reveiw, "
     "threshold: 0.5}\n", "did you mean 'review'?"),
    ("strategy:\n  routers:\n    r: {kind: confidence, model: intent, fallback: llm}\n",
     "set 'threshold', or a 'target'"),
    ("strategy:\n  ensembles:\n    e: {members: [gpt], combine: best_of_n}\n",
     "needs a 'judge'"),
    ("strategy:\n  cache:\n    semantic: {enabled: true, guards: [intent]}\n",
     "needs 'intent_model'"),
    ("strategy:\n  routers:\n    llm: {kind: rules, rules: [{when: 'length > 1', use: gpt}], "
     "default: gpt}\n", "names both a model and a strategy component"),
    ("strategy:\n  fallbacks:\n    f: {options: [gpt], on: [tiemout]}\n", "strategy.fallbacks"),
    ("strategy:\n  cahce: {}\n", "unknown key 'cahce' (did you mean 'cache'?)"),
])
def test_mistakes_name_the_line_and_the_fix(strategy: str, expected: str) -> None:
    with pytest.raises(SpecError) as caught:
        load(strategy)
    assert expected in str(caught.value)


def test_a_plugin_router_kind_takes_options() -> None:
    system = load("strategy:\n  routers:\n    r: {kind: bandit, options: {arms: 3}}\n")
    assert system.strategy.routers["r"].options == {"arms": 3}  # type: ignore[union-attr]
