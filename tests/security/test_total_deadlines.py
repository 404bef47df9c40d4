"""Every outbound request is bounded in total time, not per read (issue 14).

A server that trickles one byte every half second never trips a per-read timeout. The OTLP
exporter's thread, ``compound up --ask``'s requests and the agent loop run under one
:class:`~compound.intelligence.llm.deadline.Deadline` each, through the deadline-bound HTTP
transport; the tests point them at the shipped LocalOpenAIServer in its trickle and stall
modes (it answers so on any route) on 127.0.0.1.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from compound.intelligence.llm import ScriptedLLM, ToolCall
from compound.intelligence.llm.local_server import LocalOpenAIServer
from compound.workflow.agent import Agent
from compound.workflow.context import RunContext

BOUND_S = 15.0


@pytest.fixture(params=["trickle:0.5", "stall:60"])  # trickle: under every per-read timeout
def slow(request: pytest.FixtureRequest) -> Iterator[LocalOpenAIServer]:
    with LocalOpenAIServer(ScriptedLLM(["ok"]), fault=request.param) as running:
        yield running


def test_an_otlp_export_to_a_trickling_collector_is_given_up_at_its_timeout(
        slow: LocalOpenAIServer) -> None:
    pytest.importorskip("opentelemetry.exporter.otlp.proto.common")
    from compound.workflow.otlp import OTLPSink
    from compound.workflow.tracing import Tracer

    sink = OTLPSink(endpoint=f"{slow.base_url}/v1/traces", timeout_s=1.0)
    tracer = Tracer(sink)
    agent = Agent(llm=ScriptedLLM(["Done."]), name="probe")
    agent.run("go", RunContext(tracer=tracer))
    start = time.monotonic()
    tracer.close(timeout_s=BOUND_S)
    assert time.monotonic() - start < BOUND_S
    assert sink.exported == 0 and sink.dropped > 0


def test_up_ask_gives_up_on_a_trickling_server_in_total_time(
        slow: LocalOpenAIServer, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from compound.cli import lifecycle

    monkeypatch.setattr(lifecycle, "ASK_READY_S", 1.0)
    monkeypatch.setattr(lifecycle, "ASK_TIMEOUT_S", 1.5)
    start = time.monotonic()
    lifecycle._ask(slow.base_url.removesuffix("/v1"), "support", "hello?", None)
    assert time.monotonic() - start < BOUND_S
    assert "asking the served system failed" in capsys.readouterr().err


def test_the_agent_loop_stops_at_its_time_budget_with_a_call_in_flight() -> None:
    slow_model = ScriptedLLM([ToolCall("noop", {})], delay_s=60.0)

    def noop() -> str:
        """Do nothing."""
        return "ok"

    agent = Agent(llm=slow_model, tools=[noop], max_time_s=1.0, max_repeats=None)
    start = time.monotonic()
    result = agent.run("go")
    assert time.monotonic() - start < BOUND_S
    assert result.stop_reason == "time_budget"


def test_the_agent_loop_stops_at_its_time_budget_against_a_trickling_provider(
        slow: LocalOpenAIServer) -> None:
    pytest.importorskip("openai")
    from compound.intelligence.llm.openai_compat import OpenAICompatibleLLM

    llm = OpenAICompatibleLLM(model="m", base_url=slow.base_url, timeout_s=120.0)
    start = time.monotonic()
    result = Agent(llm=llm, max_time_s=1.5).run("go")
    assert time.monotonic() - start < BOUND_S
    assert result.stop_reason == "time_budget"


def test_a_time_budget_must_be_positive() -> None:
    from compound.errors import UserError

    with pytest.raises(UserError, match="max_time_s must be more than 0; received 0"):
        Agent(llm=ScriptedLLM(["x"]), max_time_s=0)


def test_a_dataset_download_from_a_trickling_server_stops_in_total_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx

    from compound.datafetch import download as downloading

    monkeypatch.setattr(downloading, "DOWNLOAD_TIMEOUT_S", 1.0)
    with (LocalOpenAIServer(ScriptedLLM(["ok"]), fault="trickle:0.05") as server,
          httpx.Client(timeout=30) as client):
        start = time.monotonic()
        with pytest.raises(downloading.FetchFailed, match="more than 1s in total") as caught:
            downloading.download(f"{server.base_url}/data.zip", tmp_path / "data.zip",
                                 client=client)
        assert time.monotonic() - start < BOUND_S
    assert caught.value.resumable and (tmp_path / "data.zip.part").exists()


def test_a_dataset_download_past_the_size_limit_is_stopped_and_deleted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx

    from compound.datafetch import download as downloading

    monkeypatch.setattr(downloading, "MAX_DOWNLOAD_BYTES", 10)
    with (LocalOpenAIServer(ScriptedLLM(["ok"]), fault="trickle:0.01") as server,
          httpx.Client(timeout=30) as client,
          pytest.raises(downloading.FetchFailed, match="passed 10 bytes")):
        downloading.download(f"{server.base_url}/data.zip", tmp_path / "data.zip",
                             client=client)
    assert not (tmp_path / "data.zip.part").exists()
