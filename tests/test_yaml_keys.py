"""A mapping key is text: YAML 1.1 reads a bare `on`, `yes`, `no` as a boolean, which made a
fallback chain's `on:` the key True and the error "unknown key 'True'"."""

from __future__ import annotations

from compound.system import System
from compound.yaml_loader import load_yaml


def test_a_bare_on_key_is_the_text_on_and_values_stay_booleans() -> None:
    doc = load_yaml("on: [timeout]\nyes: 1\nflag: yes\nother: on\n", source="c.yaml")
    assert doc.data == {"on": ["timeout"], "yes": 1, "flag": True, "other": True}
    assert doc.line_of(("yes",)) == 2


def test_a_fallback_chain_s_on_needs_no_quotes() -> None:
    system = System.from_yaml("""\
name: chain
loop: interaction
task: Answer.
models:
  a: {provider: scripted}
  b: {provider: scripted}
strategy:
  fallbacks:
    answer:
      options: [a, b]
      on: [timeout, rate_limit]
""")
    assert system.strategy.fallbacks["answer"].on == ["timeout", "rate_limit"]
