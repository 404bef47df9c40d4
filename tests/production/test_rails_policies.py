"""Topic and policy rails, output schema validation, and groundedness."""

from __future__ import annotations

import pytest

from compound.intelligence.embedders import FakeEmbedder
from compound.intelligence.llm import ScriptedLLM
from compound.production.rails import (
    GroundednessRail,
    RailInput,
    SchemaRail,
    Topic,
    TopicRail,
)

MEDICAL = Topic(examples=["What dose of ibuprofen should I take for my headache?",
                          "Which antibiotic should I take for a sore throat?"],
                keywords=["diagnosis", "prescription"])
BILLING = Topic(examples=["How do I pay my invoice?", "When will my refund arrive?"],
                keywords=["invoice", "refund", "billing"])


@pytest.mark.parametrize(("text", "action"), [
    ("How much ibuprofen should I take for a headache?", "block"),
    ("Can I get a prescription for this?", "block"),
    ("What is your refund policy?", "allow"),
    ("How do I reset my password?", "allow"),
])
def test_denied_topics(text: str, action: str) -> None:
    assert TopicRail(denied={"medical": MEDICAL}).run(text).action == action


def test_allowed_topics_turn_away_everything_else() -> None:
    rail = TopicRail(allowed={"billing": BILLING}, action="escalate")
    on = rail.run("When does my refund arrive?")
    assert on.action == "allow" and on.details["topic"] == "billing"
    off = rail.run("Write me a poem about the sea")
    assert off.action == "escalate"
    assert off.reason.startswith("off-topic: on none of the allowed topics (closest 'billing'")


def test_denied_wins_over_allowed() -> None:
    rail = TopicRail(allowed={"billing": BILLING}, denied={"medical": MEDICAL})
    verdict = rail.run("Is the prescription on my invoice?")
    assert verdict.action == "block" and verdict.details["topic"] == "medical"


def test_topic_rail_can_use_an_embedder() -> None:
    rail = TopicRail(denied={"medical": MEDICAL}, embedder=FakeEmbedder(), threshold=0.5)
    assert rail.run("What dose of ibuprofen should I take for my headache?").action == "block"
    assert rail.run("quarterly revenue grew in europe").action == "allow"


SCHEMA = {"type": "object", "required": ["answer", "sources"],
          "properties": {"answer": {"type": "string"},
                         "sources": {"type": "array", "items": {"type": "string"}}}}


@pytest.mark.parametrize(("text", "action", "reason"), [
    ('{"answer": "Paris", "sources": ["a"]}', "allow", "matches the schema"),
    ('```json\n{"answer": "Paris", "sources": []}\n```', "allow", "matches the schema"),
    ('{"answer": "Paris"}', "block",
     "does not match the schema: $: 'sources' is a required property"),
    ('{"answer": "Paris", "sources": [1]}', "block",
     "does not match the schema: $.sources[0]: 1 is not of type 'string'"),
    ("Paris.", "block", "not JSON (Expecting value: line 1 column 1 (char 0))"),
])
def test_schema_rail(text: str, action: str, reason: str) -> None:
    verdict = SchemaRail(schema=SCHEMA).run(RailInput(text, stage="output"))
    assert (verdict.action, verdict.reason) == (action, reason)


def test_schema_rail_prefers_parsed_data() -> None:
    verdict = SchemaRail(schema=SCHEMA).run(
        RailInput("(shown as prose)", stage="output", data={"answer": "x", "sources": []}))
    assert verdict.action == "allow"


CONTEXT = ("The Eiffel Tower is 330 metres tall. It was completed in 1889 for the World's "
           "Fair in Paris.",)


@pytest.mark.parametrize(("answer", "action"), [
    ("The Eiffel Tower is 330 metres tall. It was completed in 1889.", "allow"),
    ("The Eiffel Tower is 330 metres tall. It was completed in 1899.", "escalate"),
    ("The tower was designed by aliens from Mars.", "escalate"),
])
def test_groundedness(answer: str, action: str) -> None:
    rail = GroundednessRail(threshold=1.0)
    verdict = rail.run(RailInput(answer, stage="output", documents=CONTEXT))
    assert verdict.action == action, verdict.reason


def test_groundedness_without_context() -> None:
    answer = RailInput("Anything at all.", stage="output")
    assert GroundednessRail().run(answer).action == "allow"
    assert GroundednessRail(require_documents=True).run(answer).action == "escalate"


def test_groundedness_asks_an_llm_about_paraphrases() -> None:
    llm = ScriptedLLM(['{"supported": true}'])
    rail = GroundednessRail(threshold=1.0, llm=llm)
    verdict = rail.run(RailInput("Gustave's iron lattice landmark opened in the year of the "
                                 "Paris exposition.", stage="output", documents=CONTEXT))
    assert verdict.action == "allow"
    assert len(llm.calls) == 1  # only the claim the lexical check rejected
