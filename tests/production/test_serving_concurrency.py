"""Concurrency: ML predictions batched across requests; LLM calls queued, never interleaved."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from serving_apps import classify_flow, label_of

from compound.intelligence.llm import ScriptedLLM
from compound.intelligence.llm.base import RawResult
from compound.intelligence.llm.types import GenerationParams, Message, Usage
from compound.intelligence.ml import ScriptedPredictor
from compound.production.serving import AsyncBatcher, LLMQueue, ServedLLM
from compound.production.serving.app import create_app
from compound.production.serving.events import Cancelled, RunChannel, current_channel
from compound.production.serving.served_llm import Overloaded
from compound.production.serving_spec import ServeSpec
from compound.store import MemoryStore


def test_concurrent_submissions_share_batches_and_keep_their_order() -> None:
    model = ScriptedPredictor(label_of)
    batcher = AsyncBatcher(model.predict_batch, max_size=16, max_wait_s=0.005)

    async def many() -> list[str]:
        texts = [f"card {i}" if i % 3 else f"other {i}" for i in range(50)]
        predictions = await asyncio.gather(*(batcher.submit(t) for t in texts))
        return [p.label for p in predictions]

    labels = asyncio.run(many())
    assert labels == [label_of(f"card {i}" if i % 3 else f"other {i}") for i in range(50)]
    assert sum(model.batches) == 50
    assert len(model.batches) <= 5 and max(model.batches) <= 16
    batcher.close()


def test_a_slow_model_is_scored_off_the_event_loop_and_batches_what_queued_meanwhile() -> None:
    calls: list[tuple[int, str]] = []

    def slow_batch(items: list[int]) -> list[int]:
        calls.append((len(items), threading.current_thread().name))
        time.sleep(0.02)
        return [i * 2 for i in items]

    batcher = AsyncBatcher(slow_batch, max_size=64)

    async def waves() -> list[int]:
        first = asyncio.ensure_future(batcher.submit(1))
        await asyncio.sleep(0.005)  # the first batch is being scored: these queue up
        rest = [asyncio.ensure_future(batcher.submit(i)) for i in range(2, 12)]
        ticks = 0
        while not first.done():  # the loop keeps running while the model works
            ticks += 1
            await asyncio.sleep(0.001)
        assert ticks > 3
        return [await first, *[await r for r in rest]]

    assert asyncio.run(waves()) == [i * 2 for i in range(1, 12)]
    assert [size for size, _ in calls] == [1, 10]
    assert all(name.startswith("compound-batch") for _, name in calls)
    batcher.close()


def test_a_failing_batch_fails_each_of_its_requests() -> None:
    def broken(items: list[str]) -> list[str]:
        raise RuntimeError("model crashed")

    batcher = AsyncBatcher(broken)

    async def two() -> list[BaseException | str]:
        return await asyncio.gather(batcher.submit("a"), batcher.submit("b"),
                                    return_exceptions=True)

    results = asyncio.run(two())
    assert all(isinstance(r, RuntimeError) and "crashed" in str(r) for r in results)


def test_the_served_app_batches_predictor_steps_across_concurrent_requests() -> None:
    model = ScriptedPredictor(label_of, name="intent")
    app = create_app({"classify": classify_flow(model)}, store=MemoryStore(),
                     spec=ServeSpec(auth=False, batch={"max_size": 32, "max_wait_ms": 20}))
    with TestClient(app) as client:
        app_state = app.state.compound

        async def concurrently() -> list[str]:
            flows = [app_state.runner.run("classify", {"text": f"card {i}"}) for i in range(20)]
            return [o.output["label"] for o in await asyncio.gather(*flows)]

        labels = client.portal.call(concurrently)  # type: ignore[union-attr]
        assert labels == ["card_arrival"] * 20
        assert len(model.batches) < 20 and sum(model.batches) == 20
        metrics = client.get("/metrics").text
        assert 'compound_ml_batch_size_count{model="intent"}' in metrics


class OverlapLLM(ScriptedLLM):
    """Records whether two generations ever ran at the same time (they would corrupt an
    in-process model's shared state)."""

    def __init__(self) -> None:
        super().__init__(["one two three four five"], token_delay_s=0.002)
        self.active = 0
        self.max_active = 0
        self.lock = threading.Lock()

    def _stream_raw(self, messages: tuple[Message, ...], params: GenerationParams
                    ) -> Iterator[str | RawResult]:
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            yield from super()._stream_raw(messages, params)
        finally:
            with self.lock:
                self.active -= 1


def test_the_queue_never_lets_two_generations_overlap() -> None:
    inner = OverlapLLM()
    llm = ServedLLM(inner, LLMQueue("embedded", concurrency=1, max_waiting=64))
    threads = [threading.Thread(target=lambda: llm.complete("hi")) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert inner.max_active == 1
    assert len(inner.calls) == 12


def test_a_full_queue_refuses_at_once_and_a_long_wait_times_out() -> None:
    queue = LLMQueue("m", concurrency=1, max_waiting=1, wait_timeout_s=0.2)
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with queue.slot():
            held.set()
            release.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(5)
    waiter_error: list[BaseException] = []

    def wait_in_line() -> None:
        try:
            with queue.slot():
                pass
        except Overloaded as exc:
            waiter_error.append(exc)

    waiter = threading.Thread(target=wait_in_line)
    waiter.start()
    time.sleep(0.05)
    with pytest.raises(Overloaded, match="busy"), queue.slot():
        pass
    waiter.join(5)
    assert waiter_error and "waited 0.2s" in str(waiter_error[0])
    release.set()
    holder.join(5)
    with queue.slot():  # free again
        assert queue.running == 1
    assert queue.running == 0 and queue.waiting == 0


def test_a_cancelled_request_stops_generating_and_frees_the_model() -> None:
    inner = ScriptedLLM([" ".join(["tok"] * 500)], token_delay_s=0.002)
    llm = ServedLLM(inner, LLMQueue("m", concurrency=1))

    async def start_then_cancel() -> int:
        channel = RunChannel("r1")
        token = current_channel.set(channel)
        try:
            task = asyncio.ensure_future(llm.acomplete("go"))
            seen = 0
            while seen < 5:
                event, _ = await channel.queue.get()
                seen += event == "token"
            channel.cancelled.set()
            with pytest.raises(Cancelled):
                await task
            await asyncio.sleep(0.05)
            return channel.queue.qsize() + seen
        finally:
            current_channel.reset(token)

    tokens = asyncio.run(start_then_cancel())
    assert tokens < 50  # stopped long before the 500 tokens of the reply
    assert llm.queue.running == 0
    assert llm.complete("again").text.startswith("tok")


def test_usage_and_cost_keep_the_real_provider_name() -> None:
    llm = ServedLLM(ScriptedLLM(["fine"]), LLMQueue("m"))
    completion = llm.complete("hello there")
    assert (completion.provider, completion.usage) == ("scripted", Usage(2, 1))


class FeaturesModel:
    """Shaped like the ML layer's predictor step: named feature inputs, and the loaded
    model behind ``predictor(ctx)``."""

    output_type = dict

    def __init__(self) -> None:
        self.name = "risk"
        self.features = ["amount", "country"]
        self.input_types: dict[str, type] = {"amount": float, "country": str}
        self.model = ScriptedPredictor(lambda row: "high" if row["amount"] > 100 else "low")

    def predictor(self, ctx: object) -> ScriptedPredictor:
        return self.model

    def run(self, ctx: object, **inputs: object) -> object:
        return self.model.run(inputs)


def test_a_predictor_step_with_named_features_is_batched_too() -> None:
    from dataclasses import make_dataclass

    from compound.workflow import Step, Workflow

    step = FeaturesModel()
    row = make_dataclass("Row", [("amount", float), ("country", str)], frozen=True)
    flow = Workflow([Step(step, name="risk")], name="risk", input=row)
    app = create_app({"risk": flow}, store=MemoryStore(),
                     spec=ServeSpec(auth=False, batch={"max_wait_ms": 20}))
    with TestClient(app) as client:
        runner = app.state.compound.runner

        async def concurrently() -> list[str]:
            outcomes = await asyncio.gather(*(runner.run(
                "risk", {"amount": float(a), "country": "FR"}) for a in (5, 500, 50, 5000)))
            return [o.output["label"] for o in outcomes]

        assert client.portal.call(concurrently) == ["low", "high", "low", "high"]  # type: ignore[union-attr]
    assert step.model.batches == [4]
