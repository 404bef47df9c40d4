"""Stream-aware output rails: a streamed answer is checked as it goes, not only at the end."""

from __future__ import annotations

import json

from compound.intelligence.llm import ScriptedLLM
from compound.production.rails import Guard, PIIRail, SchemaRail, SecretsRail
from compound.store import MemoryStore
from compound.workflow import RunContext
from compound.workflow.tracing import StoreSink, Tracer, read_spans


def _pieces(text: str, size: int) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)]


def test_an_entity_split_across_pieces_is_redacted_before_any_of_it_is_shown() -> None:
    answer = ("Sure. " + "Here is some filler text for the stream. " * 6
              + "Your card 4111 1111 1111 1111 is on file, mail ada@example.com. "
              + "More filler text to follow the card. " * 6)
    guard = Guard([PIIRail(stages=["output"])])
    stream = guard.stream(_pieces(answer, 3), check_every=20)
    shown = list(stream)
    assert len(shown) > 3  # released as it went, not all at the end
    joined = "".join(shown)
    assert "1111" not in joined and "ada@" not in joined
    assert "<CREDIT_CARD>" in joined and "<EMAIL_ADDRESS>" in joined
    assert joined == stream.shown
    assert stream.result is not None and stream.result.action == "redact"
    assert stream.checks > 3
    for piece in shown:  # no piece ever held part of the card number
        assert "4111" not in piece and "111 1" not in piece


def test_a_blocking_rail_stops_the_stream_midway() -> None:
    secret = "ghp_" + "Z" * 36
    answer = ("Step one is done. " * 8 + f"The deploy token is {secret} and then "
              + "the rest of a long answer that must never be shown. " * 8)
    guard = Guard([SecretsRail(stages=["output"], action="block")])
    stream = guard.stream(_pieces(answer, 5), check_every=24)
    joined = "".join(stream)
    assert stream.result is not None and stream.result.action == "block"
    assert "ghp_" not in joined
    assert "must never be shown" not in joined
    assert joined.startswith("Step one is done.")


def test_rails_needing_the_whole_answer_decide_at_the_end() -> None:
    guard = Guard([SchemaRail(schema={"type": "object", "required": ["answer"]})])
    stream = guard.stream(_pieces('{"reply": "Paris"}', 4))
    assert "".join(stream) == ""  # no streaming rail: nothing shown before the final check
    assert stream.result is not None and stream.result.action == "block"
    ok = guard.stream(_pieces('{"answer": "Paris"}', 4))
    assert "".join(ok) == '{"answer": "Paris"}'


def test_hold_shows_nothing_until_the_final_check_passes() -> None:
    guard = Guard([PIIRail(stages=["output"])])
    stream = guard.stream(_pieces("call +44 20 7946 0958 now " * 20, 7), hold=True,
                          check_every=10)
    shown = list(stream)
    assert len(shown) == 1 and stream.checks == 0
    assert "<PHONE_NUMBER>" in shown[0] and "7946" not in shown[0]


def test_llm_stream_events_are_read_and_the_decision_is_traced() -> None:
    llm = ScriptedLLM(["Write to ada@example.com or call +1 415 555 0100 for help."])
    store = MemoryStore()
    tracer = Tracer(StoreSink(store))
    ctx = RunContext(store=store, tracer=tracer, run_id="c" * 32)
    guard = Guard([PIIRail(stages=["output"])])
    stream = guard.stream(llm.stream("help?"), ctx=ctx, check_every=8)
    assert "".join(stream) == "Write to <EMAIL_ADDRESS> or call <PHONE_NUMBER> for help."
    assert tracer.flush()
    dump = json.dumps(read_spans(store, "c" * 32))
    assert "compound.rail.action" in dump and "ada@example.com" not in dump


def test_a_stopped_stream_is_traced_too() -> None:
    store = MemoryStore()
    tracer = Tracer(StoreSink(store))
    ctx = RunContext(store=store, tracer=tracer, run_id="d" * 32)
    guard = Guard([PIIRail(stages=["output"], action="block")])
    stream = guard.stream(_pieces("x " * 100 + "mail ada@example.com " + "y " * 100, 6),
                          ctx=ctx, check_every=16)
    list(stream)
    assert stream.result is not None and stream.result.action == "block"
    assert tracer.flush()
    spans = read_spans(store, "d" * 32)
    assert any(s["kind"] == "rail" and s["attributes"]["compound.rail.action"] == "block"
               for s in spans)
