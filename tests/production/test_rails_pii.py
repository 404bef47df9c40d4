"""PII: each entity type found and redacted on constructed examples, checksums rejecting
near-misses, and no personal data in stored traces."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compound.intelligence.llm import ScriptedLLM
from compound.privacy.recognizers import de_tax_id_valid, iban_valid, luhn_valid
from compound.production.rails import (
    Guard,
    LLMNameFinder,
    PIIRail,
    RailInput,
    RedactingSink,
    TraceRedactor,
    apply_redactions,
    find_entities,
    guarded_run,
)
from compound.store import SQLiteStore
from compound.workflow import RunContext, Workflow
from compound.workflow.tracing import StoreSink, Tracer, read_spans

# one constructed example per entity type: (text, the exact value found, label)
POSITIVE = [
    ("write to jane.doe+news@example.co.uk today", "jane.doe+news@example.co.uk",
     "EMAIL_ADDRESS"),
    ("call +44 20 7946 0958 after six", "+44 20 7946 0958", "PHONE_NUMBER"),
    ("call (415) 555-0100 please", "(415) 555-0100", "PHONE_NUMBER"),
    ("Berlin office: 030 1234 5678.", "030 1234 5678", "PHONE_NUMBER"),
    ("card 4111 1111 1111 1111 expires soon", "4111 1111 1111 1111", "CREDIT_CARD"),
    ("amex 3782-822463-10005 on file", "3782-822463-10005", "CREDIT_CARD"),
    ("pay to DE89 3704 0044 0532 0130 00 AND thanks", "DE89 3704 0044 0532 0130 00",
     "IBAN_CODE"),
    ("iban GB82WEST12345698765432", "GB82WEST12345698765432", "IBAN_CODE"),
    ("my SSN is 123-45-6789", "123-45-6789", "US_SSN"),
    ("ssn: 123456789", "123456789", "US_SSN"),
    ("NI number AB 12 34 56 C", "AB 12 34 56 C", "UK_NINO"),
    ("Steuer-ID 86095742719 bitte", "86095742719", "DE_TAX_ID"),
    ("Hello, my name is Ada Lovelace.", "Ada Lovelace", "PERSON"),
    ("Dear Mr. Brown, thanks", "Brown", "PERSON"),
    ("Best regards,\nJohn Smith", "John Smith", "PERSON"),
]

# look-alikes that must not be taken for personal data
NEGATIVE = [
    "card 4111 1111 1111 1112 fails the Luhn check",
    "order number 1234567890123 is not a card",
    "pay to DE89 3704 0044 0532 0130 01 (wrong check digits)",
    "SSN-like 000-12-3456 has an invalid area",
    "Steuer-ID 86095742718 has a wrong check digit",
    "Meeting on 2023-10-01 at 10:30, version 1.2.3, pi is 3.14159",
    "The Greens and the SPD met in Berlin on Monday.",
    "email me at the office",
]


@pytest.mark.parametrize(("text", "value", "label"), POSITIVE,
                         ids=[f"{p[2]}-{i}" for i, p in enumerate(POSITIVE)])
def test_each_entity_type_is_found_and_redacted(text: str, value: str, label: str) -> None:
    found = find_entities(text)
    assert [(text[f.start:f.end], f.label) for f in found] == [(value, label)]
    verdict = PIIRail().run(text)
    assert verdict.action == "redact"
    redacted = apply_redactions(text, verdict.redactions)
    assert value not in redacted
    assert f"<{label}>" in redacted


@pytest.mark.parametrize("text", NEGATIVE)
def test_near_misses_are_not_personal_data(text: str) -> None:
    assert find_entities(text) == []
    assert PIIRail().run(text).action == "allow"


def test_checksums() -> None:
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert iban_valid("GB82WEST12345698765432") and not iban_valid("GB82WEST12345698765433")
    assert not iban_valid("XX82WEST12345698765432")  # unknown country
    assert de_tax_id_valid("86095742719") and not de_tax_id_valid("86095742718")
    assert not de_tax_id_valid("12345678903")  # no digit repeated


def test_entities_can_be_limited_and_blocking_is_a_choice() -> None:
    text = "mail ada@example.com, card 4111 1111 1111 1111"
    only_cards = PIIRail(entities=["CREDIT_CARD"]).run(text)
    assert [r.label for r in only_cards.redactions] == ["CREDIT_CARD"]
    blocking = PIIRail(action="block").run(text)
    assert blocking.action == "block" and blocking.reason == "found 1 CREDIT_CARD, 1 EMAIL_ADDRESS"


def test_an_unknown_entity_is_a_user_error() -> None:
    from compound.errors import UserError

    with pytest.raises(UserError, match="unknown PII entity 'EMAIL'"):
        PIIRail(entities=["EMAIL"])


def test_names_from_a_model_are_redacted_anywhere() -> None:
    llm = ScriptedLLM(['{"names": ["Grace Hopper"]}'])
    rail = PIIRail(names=LLMNameFinder(llm))
    verdict = rail.run("Grace Hopper wrote the first compiler; ask Grace Hopper.")
    redacted = apply_redactions("Grace Hopper wrote the first compiler; ask Grace Hopper.",
                                verdict.redactions)
    assert redacted == "<PERSON> wrote the first compiler; ask <PERSON>."


def test_guard_redacts_the_text_that_goes_on() -> None:
    with Guard([PIIRail()]) as guard:
        result = guard.check_input("I am at +1 415 555 0100 or ada@example.com")
    assert result.allowed and result.action == "redact"
    assert result.text == "I am at <PHONE_NUMBER> or <EMAIL_ADDRESS>"


SECRET_VALUES = ["ada@example.com", "4111 1111 1111 1111", "123-45-6789",
                 "DE89 3704 0044 0532 0130 00", "+44 20 7946 0958"]


def test_stored_traces_hold_no_personal_data(tmp_path: Path) -> None:
    """A guarded run with the redaction hook: the SQLite trace keeps only placeholders, for
    the guard's spans, the workflow's inputs and outputs, and the model's messages."""
    store = SQLiteStore(tmp_path / "compound.db")
    tracer = Tracer(StoreSink(store), redact=TraceRedactor())
    llm = ScriptedLLM(["Call +44 20 7946 0958 about IBAN DE89 3704 0044 0532 0130 00, "
                       "card 4111 1111 1111 1111."])

    def ask(question: str, ctx: RunContext) -> str:
        return ctx.complete(llm, question).text

    ctx = RunContext(store=store, tracer=tracer)
    question = "My SSN is 123-45-6789 and my mail ada@example.com"
    run = guarded_run(Workflow([ask]), {"question": question},
                      Guard([PIIRail(action="block", stages=["output"]), PIIRail(name="in")]),
                      ctx=ctx)
    assert run.action == "block"  # the answer carries a card number
    assert tracer.flush()
    spans = read_spans(store, ctx.run_id)
    dump = json.dumps(spans)
    assert {s["kind"] for s in spans} >= {"guard", "rail", "run", "model"}
    for value in SECRET_VALUES:
        assert value not in dump, value
    assert "<US_SSN>" in dump and "<EMAIL_ADDRESS>" in dump
    # the model saw the redacted question
    assert "123-45-6789" not in llm.calls[0][0][-1].content
    store.close()


def test_guard_trace_is_redacted_even_when_the_rail_blocks(tmp_path: Path) -> None:
    """Without any tracer hook, the guard itself records the checked text redacted."""
    store = SQLiteStore(tmp_path / "compound.db")
    tracer = Tracer(StoreSink(store))
    ctx = RunContext(store=store, tracer=tracer, run_id="f" * 32)
    with Guard([PIIRail(action="block")]) as guard:
        result = guard.check(RailInput("card 4111 1111 1111 1111"), ctx=ctx)
    assert result.action == "block"
    assert tracer.flush()
    spans = read_spans(store, "f" * 32)
    assert "4111" not in json.dumps(spans)
    rail = next(s for s in spans if s["kind"] == "rail")
    assert rail["attributes"]["compound.rail.action"] == "block"
    assert rail["attributes"]["compound.rail.reason"] == "found 1 CREDIT_CARD"
    store.close()


def test_redacting_sink_covers_every_attribute_and_errors() -> None:
    from compound.workflow.tracing import ListSink

    inner = ListSink()
    sink = RedactingSink(inner)
    sink.export([{"name": "lookup", "error": "failed for ada@example.com",
                  "attributes": {"custom.note": "card 4111 1111 1111 1111",
                                 "http.headers": {"authorization": "Bearer abc.def"}}}])
    span = inner.spans[0]
    assert span["error"] == "failed for <EMAIL_ADDRESS>"
    assert span["attributes"]["custom.note"] == "card <CREDIT_CARD>"
    assert span["attributes"]["http.headers"] == {"authorization": "<SECRET>"}
