"""Tracing: spans in the store, redaction, the trace command, OTLP export."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from compound.intelligence.llm import ScriptedLLM, ToolCall
from compound.intelligence.llm.errors import InvalidResponse
from compound.orchestration.tools import tool
from compound.store import MemoryStore, SQLiteStore
from compound.workflow import Agent, RunContext, Step, Workflow, start
from compound.workflow.tracing import ListSink, StoreSink, Tracer, read_spans, walk_tree


@tool
def card_lookup(card: str) -> str:
    """Look up a card."""
    return f"card {card} is valid"


def build() -> Workflow:
    llm = ScriptedLLM([ToolCall("card_lookup", {"card": "CARD-SECRET-77"}), "Valid."])
    return Workflow([Agent(llm=llm, tools=[card_lookup], name="checker")], name="cards")


def test_every_run_step_model_and_tool_call_is_a_span_in_the_store() -> None:
    store = MemoryStore()
    result = start(build(), {"task": "is CARD-SECRET-77 valid?"}, store=store)
    spans = read_spans(store, result.run_id)
    tree = [(depth, s["kind"], s["name"]) for depth, s in walk_tree(spans)]
    assert tree == [
        (0, "run", "workflow cards"),
        (1, "step", "checker"),
        (2, "agent", "invoke_agent checker"),
        (3, "model", "chat scripted"),
        (3, "tool", "execute_tool card_lookup"),
        (3, "model", "chat scripted"),
    ]
    assert all(s["trace_id"] == result.run_id for s in spans)
    run = spans[0]
    assert run["attributes"]["compound.run.status"] == "completed"
    assert all(s["end_ns"] >= s["start_ns"] > 0 for s in spans)


def test_the_redaction_hook_sees_inputs_and_outputs_before_any_sink() -> None:
    sink = ListSink()
    seen: list[str] = []

    def redact(key: str, value: Any) -> Any:
        seen.append(key)
        import json

        return json.loads(json.dumps(value).replace("CARD-SECRET-77", "[card]"))

    tracer = Tracer(sink, redact=redact)
    build().run({"task": "is CARD-SECRET-77 valid?"}, ctx=RunContext(tracer=tracer))
    tracer.flush()
    text = repr([s["attributes"] for s in sink.spans])
    assert "SECRET" not in text and "[card]" in text
    assert "redaction failed" not in text
    assert {"gen_ai.input.messages", "gen_ai.tool.call.arguments", "compound.input",
            "compound.output"} <= set(seen)

    quiet = ListSink()
    tracer = Tracer(quiet, capture_content=False)
    build().run({"task": "is CARD-SECRET-77 valid?"}, ctx=RunContext(tracer=tracer))
    tracer.flush()
    assert "SECRET" not in repr([s["attributes"] for s in quiet.spans])
    assert quiet.spans[0]["attributes"]["gen_ai.usage.input_tokens"] > 0


def test_a_failing_sink_does_not_break_the_run_or_other_sinks() -> None:
    class Broken:
        def export(self, spans: object) -> None:
            raise OSError("disk full")

        def shutdown(self) -> None:
            return None

    sink = ListSink()
    tracer = Tracer(Broken(), sink)
    assert build().run({"task": "x"}, ctx=RunContext(tracer=tracer)).output.answer == "Valid."
    tracer.flush()
    assert len(sink.spans) == 6 and tracer.dropped == 6


def test_a_slow_sink_never_blocks_the_request_path() -> None:
    class Slow:
        def export(self, spans: object) -> None:
            time.sleep(1.0)

        def shutdown(self) -> None:
            return None

    tracer = Tracer(Slow(), interval_s=0.01)
    flow = Workflow([Step(lambda x: x + 1, name="inc")])
    flow.run({"x": 1}, ctx=RunContext(tracer=tracer))
    time.sleep(0.05)  # the exporter is now stuck in the slow sink
    start_time = time.perf_counter()
    for _ in range(20):
        flow.run({"x": 1}, ctx=RunContext(tracer=tracer))
    assert time.perf_counter() - start_time < 0.5


def test_the_trace_command_prints_the_tree_with_tokens_and_dropped_context(
    tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from compound.cli import app
    from compound.cli import build as build_cli

    @dataclass(frozen=True)
    class Built:
        prompt: str

    def context(question: str, ctx: RunContext) -> Built:
        with ctx.span("build context", kind="context") as span:
            assert span is not None
            span.set("compound.context.dropped", ["faq.md#3: over the 512-token budget"])
            span.set("compound.context.tokens", 480)
        return Built(f"Q: {question}")

    store = SQLiteStore(tmp_path / "compound.db")
    flow = Workflow([context, Step(lambda prompt: prompt, name="answer",
                                   inputs={"prompt": "context.prompt"})], name="ctx")
    result = start(flow, {"question": "why?"}, store=store)
    store.close()
    out = CliRunner().invoke(build_cli(), ["trace", result.run_id, "--home", str(tmp_path)])
    assert out.exit_code == 0, out.output
    assert f"run {result.run_id}  workflow=ctx  status=completed" in out.output
    assert "  context [step]" in out.output
    assert "    build context [context]" in out.output and "context tokens=480" in out.output
    assert "context dropped 1:" in out.output
    assert "- faq.md#3: over the 512-token budget" in out.output
    missing = CliRunner().invoke(app, ["trace", "f" * 32, "--home", str(tmp_path)])
    assert missing.exit_code != 0


class _Collector(BaseHTTPRequestHandler):
    bodies: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        type(self).bodies.append(self.rfile.read(length))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def collector() -> Iterator[str]:
    _Collector.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1/traces"
    server.shutdown()
    server.server_close()


@pytest.mark.integration
def test_spans_are_exported_over_otlp_with_genai_attributes(collector: str) -> None:
    pytest.importorskip("opentelemetry.exporter.otlp.proto.http")
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    from compound.workflow.otlp import OTLPSink

    otlp = OTLPSink(endpoint=collector, service_name="cards-test")
    store = MemoryStore()
    tracer = Tracer(StoreSink(store), otlp)
    result = build().run({"task": "x"}, ctx=RunContext(tracer=tracer))
    tracer.close()
    assert otlp.exported == 6 and otlp.dropped == 0
    spans = []
    for body in _Collector.bodies:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        for resource in request.resource_spans:
            service = {a.key: a.value.string_value for a in resource.resource.attributes}
            assert service["service.name"] == "cards-test"
            for scope in resource.scope_spans:
                spans.extend(scope.spans)
    assert {s.trace_id.hex() for s in spans} == {result.run_id}
    model = next(s for s in spans if s.name == "chat scripted")
    attrs = {a.key: a.value for a in model.attributes}
    assert attrs["gen_ai.request.model"].string_value == "scripted"
    assert attrs["gen_ai.usage.input_tokens"].int_value == 1  # "x": one word
    by_id = {s.span_id: s for s in spans}
    assert by_id[model.parent_span_id].name == "invoke_agent checker"


def test_export_to_an_unreachable_collector_drops_spans_without_failing_the_run() -> None:
    pytest.importorskip("opentelemetry.exporter.otlp.proto.http")
    from compound.workflow.otlp import OTLPSink

    otlp = OTLPSink(endpoint="http://127.0.0.1:9/v1/traces", timeout_s=0.5)
    tracer = Tracer(otlp)
    assert build().run({"task": "x"}, ctx=RunContext(tracer=tracer)).output.answer == "Valid."
    tracer.close(timeout_s=10)
    assert otlp.exported == 0 and otlp.dropped == 6


# -- spans built after the run (plain steps) and off the request path ------------------------


@dataclass(frozen=True)
class Number:
    x: int


def _double(x: int) -> int:
    return x * 2


def _boom(y: int) -> int:
    raise ValueError(f"no luck with {y}")


def test_plain_steps_get_their_spans_after_the_run_with_times_inputs_and_outputs() -> None:
    sink = ListSink()
    tracer = Tracer(sink)

    def describe(y: int, ctx: RunContext) -> str:  # takes the context: a live span
        with ctx.span("lookup", kind="retrieval"):
            return f"y={y}"

    flow = Workflow([Step(_double, name="double"), Step(describe, name="describe")],
                    name="mixed")
    result = flow.run({"x": 4}, ctx=RunContext(tracer=tracer))
    assert flow.by_name["double"].span_after and not flow.by_name["describe"].span_after
    assert tracer.flush()
    spans = {s["name"]: s for s in sink.spans}
    tree = [(depth, s["kind"], s["name"]) for depth, s in walk_tree(sink.spans)]
    assert tree == [(0, "run", "workflow mixed"), (1, "step", "double"),
                    (1, "step", "describe"), (2, "retrieval", "lookup")]
    double, run = spans["double"], spans["workflow mixed"]
    assert double["attributes"]["compound.input"] == {"x": 4}
    assert double["attributes"]["compound.output"] == 8
    assert run["attributes"]["compound.output"] == "y=8"
    assert run["start_ns"] <= double["start_ns"] <= double["end_ns"] <= run["end_ns"]
    # both clocks agree: the live step span sits after the deferred one, inside the run
    assert double["end_ns"] <= spans["describe"]["start_ns"] <= run["end_ns"]
    assert set(result.step_seconds) == {"double", "describe"}
    assert all(seconds >= 0 for seconds in result.step_seconds.values())


def test_a_failing_plain_step_is_a_failed_span_and_the_run_too() -> None:
    sink = ListSink()
    tracer = Tracer(sink)
    flow = Workflow([Step(_double, name="double"), Step(_boom, name="boom")], name="bad")
    with pytest.raises(Exception, match="no luck with 4"):
        flow.run({"x": 2}, ctx=RunContext(tracer=tracer))
    tracer.flush()
    spans = {s["name"]: s for s in sink.spans}
    assert spans["boom"]["status"] == "error"
    # the exception's text goes to the log under the error id, not into the trace
    assert re.fullmatch(r"ValueError \(err_[0-9a-f]{12}\)", spans["boom"]["error"])
    assert "compound.output" not in spans["boom"]["attributes"]
    assert spans["workflow bad"]["attributes"]["compound.run.status"] == "failed"
    assert spans["double"]["status"] == "ok"


def test_a_nested_workflows_plain_steps_sit_under_its_step() -> None:
    sink = ListSink()
    tracer = Tracer(sink)
    inner = Workflow([Step(_double, name="double")], name="inner", input=Number)
    outer = Workflow([Step(inner, name="inner_step")], name="outer", input=Number)
    assert outer.run(Number(3), ctx=RunContext(tracer=tracer)).output == 6
    tracer.flush()
    tree = [(depth, s["name"]) for depth, s in walk_tree(sink.spans)]
    assert tree == [(0, "workflow outer"), (1, "inner_step"), (2, "double")]


def test_attributes_worked_out_later_fail_alone() -> None:
    sink = ListSink()
    tracer = Tracer(sink)
    good = tracer.start("good", "model", trace_id="1" * 32)
    good.set_later(lambda n: {"gen_ai.usage.output_tokens": n}, 7)
    bad = tracer.start("bad", "model", trace_id="1" * 32)
    bad.set_later(lambda n: {"x": 1 / n}, 0)
    tracer.end(good)
    tracer.end(bad)
    tracer.flush()
    spans = {s["name"]: s["attributes"] for s in sink.spans}
    assert spans["good"] == {"gen_ai.usage.output_tokens": 7}
    assert spans["bad"] == {"compound.trace.error": "ZeroDivisionError: division by zero"}


def test_each_agent_turn_records_the_whole_conversation_sent_to_the_model() -> None:
    sink = ListSink()
    tracer = Tracer(sink)
    llm = ScriptedLLM([ToolCall("card_lookup", {"card": "1"}, id="a"),
                       ToolCall("card_lookup", {"card": "2"}, id="b"), "Both valid."])
    Agent(llm=llm, tools=[card_lookup]).run("check cards 1 and 2", RunContext(tracer=tracer))
    tracer.flush()
    turns = [s["attributes"]["gen_ai.input.messages"] for s in sink.spans
             if s["kind"] == "model"]
    assert [len(t) for t in turns] == [1, 3, 5]
    assert turns[2][:3] == turns[1] and turns[1][:1] == turns[0]  # each converted once
    assert turns[2][4]["content"].endswith("card 2 is valid")
    outputs = [s["attributes"]["gen_ai.output.messages"][0] for s in sink.spans
               if s["kind"] == "model"]
    assert outputs[2]["content"] == "Both valid."
    assert outputs[0]["tool_calls"] == [{"name": "card_lookup", "arguments": {"card": "1"},
                                         "id": "a"}]


def _timeless(value: Any) -> Any:
    """``value`` without the durations in it (they differ from run to run)."""
    if isinstance(value, dict):
        return {k: _timeless(v) for k, v in value.items()
                if k not in ("duration_s", "compound.latency_s")}
    if isinstance(value, list):
        return [_timeless(v) for v in value]
    return value


class LiveTracer(Tracer):
    deferred = False  # every span starts and ends live, as under serving


@tool
def flaky(card: str) -> str:
    """Check a card, badly."""
    raise RuntimeError(f"lookup service down for {card}")


@pytest.mark.parametrize("run", ["sync", "async"])
@pytest.mark.parametrize("stop", ["answer", "max_steps"])
def test_spans_built_after_the_run_match_the_live_ones(stop: str, run: str) -> None:
    def trace(tracer_class: type[Tracer]) -> list[tuple[Any, ...]]:
        replies: list[Any] = [ToolCall("card_lookup", {"card": "1"}, id="a"),
                              InvalidResponse("no action", raw="not json {"),  # repaired
                              ToolCall("flaky", {"card": "2"}, id="b"), "Card 1 is valid."]
        agent = Agent(llm=ScriptedLLM(replies), tools=[card_lookup, flaky], name="checker",
                      max_steps=2 if stop == "max_steps" else 10)
        flow = Workflow([agent, Step(_double, name="double",
                                     inputs={"x": "checker.iterations"})], name="cards")
        sink = ListSink()
        tracer = tracer_class(sink)
        ctx = RunContext(tracer=tracer, run_id="f" * 32)
        if run == "sync":
            flow.run({"task": "check cards"}, ctx=ctx)
        else:
            asyncio.run(flow.arun({"task": "check cards"}, ctx=ctx))
        tracer.flush()
        # error ids differ from run to run
        return [(depth, s["kind"], s["name"], s["status"],
                 s["error"] and re.sub(r"err_[0-9a-f]{12}", "err_*", s["error"]),
                 _timeless(s["attributes"])) for depth, s in walk_tree(sink.spans)]

    deferred, live = trace(Tracer), trace(LiveTracer)
    assert deferred == live
    kinds = [kind for _, kind, *_ in deferred]
    assert kinds[:3] == ["run", "step", "agent"] and kinds[-1] == "step"
    failed = {(kind, error) for _, kind, _, status, error, _ in deferred if status == "error"}
    assert ("model", "InvalidResponse (err_*)") in failed  # the repaired turn
    if stop == "answer":
        assert ("tool", "tool 'flaky' failed: RuntimeError: lookup service down for 2"
                ) in failed
        assert deferred[2][5]["compound.agent.repairs"] == 1
    else:
        assert deferred[2][3:5] == ("stopped", "stopped: max_steps after 2 iterations")


def test_a_deferred_runs_span_id_comes_from_its_run_id() -> None:
    from compound.workflow.tracing import run_span_id

    assert run_span_id("ab" * 16) == int("ab" * 8, 16)
    assert run_span_id("my run") == run_span_id("my run") > 0  # not hex: hashed, still stable
    sink = ListSink()
    tracer = Tracer(sink)

    def lookup(x: int, ctx: RunContext) -> int:
        return x

    Workflow([Step(lookup, name="lookup")], name="named").run(
        {"x": 1}, ctx=RunContext(tracer=tracer, run_id="my run"))
    tracer.flush()
    spans = {s["kind"]: s for s in sink.spans}
    assert spans["step"]["parent_id"] == spans["run"]["span_id"] == f"{run_span_id('my run'):016x}"


def test_an_output_json_cannot_hold_is_kept_as_text_and_the_trace_is_stored() -> None:
    store = MemoryStore()
    tracer = Tracer(StoreSink(store))
    result = Workflow([Step(lambda x: float("nan"), name="ratio")], name="odd").run(
        {"x": 1}, ctx=RunContext(tracer=tracer))
    tracer.flush()
    spans = {s["name"]: s for s in read_spans(store, result.run_id)}
    assert spans["ratio"]["attributes"]["compound.output"] == "nan"
    assert spans["workflow odd"]["attributes"]["compound.output"] == "nan"
