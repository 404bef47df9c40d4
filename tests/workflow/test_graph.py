"""The step graph: wiring checked at build, branches, loops, fan-out, timeouts, retries."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass

import pytest

from compound.errors import RuntimeFailure, UserError
from compound.workflow import Loop, RunContext, Step, StepFailed, WiringError, Workflow
from compound.workflow.tracing import ListSink, Tracer


@dataclass(frozen=True)
class Question:
    text: str


@dataclass(frozen=True)
class Route:
    kind: str
    confidence: float


@dataclass(frozen=True)
class Docs:
    items: list[str]


def route(text: str) -> Route:
    return Route("faq" if "?" in text else "chat", 0.9)


def retrieve(text: str) -> Docs:
    return Docs([f"doc about {w}" for w in text.split()])


# -- wiring errors at build time ------------------------------------------------------------


def test_a_type_mismatch_fails_at_build_naming_both_steps_and_the_field() -> None:
    def answer(confidence: str) -> str:
        return confidence

    with pytest.raises(WiringError) as info:
        Workflow([route, answer], input=Question)
    message = str(info.value)
    assert "step 'answer' parameter 'confidence: str' receives 'route.confidence' (float)" \
        in message


def test_an_unknown_source_lists_what_is_available() -> None:
    def answer(query: str) -> str:
        return query

    with pytest.raises(WiringError, match=r"parameter 'query: str' has no source: no step it "
                                          r"needs is named 'query' or has a field 'query' \(it "
                                          r"needs route \(Route with kind, confidence\)\)"):
        Workflow([route, answer], input=Question)


def test_explicit_inputs_are_checked_too() -> None:
    def answer(query: str) -> str:
        return query

    with pytest.raises(WiringError, match=r"refers to 'route.knd', but Route has no field "
                                          r"'knd' \(did you mean 'kind'\?\)"):
        Workflow([route, Step(answer, inputs={"query": "route.knd"})], input=Question)
    flow = Workflow([route, Step(answer, inputs={"query": "route.kind"})], input=Question)
    assert flow.run(Question("hi?")).output == "faq"


def test_a_cycle_fails_with_a_clear_message() -> None:
    with pytest.raises(WiringError, match=r"steps form a cycle a -> b -> a; a workflow must be "
                                          r"acyclic. To repeat work, give a step "
                                          r"loop=Loop\(max_iterations=N\)"):
        Workflow([Step(lambda x: x, name="a", needs=["b"]),
                  Step(lambda x: x, name="b", needs=["a"])])


def test_a_loop_without_a_limit_is_refused() -> None:
    with pytest.raises(UserError, match="a loop needs max_iterations of at least 1"):
        Loop(max_iterations=0)


def test_unknown_needs_and_ambiguous_fields_are_reported_together() -> None:
    def both(kind: str) -> str:
        return kind

    def other(text: str) -> Route:
        return Route("x", 1.0)

    with pytest.raises(WiringError) as info:
        Workflow([route, Step(other, needs=[]), Step(both, needs=["route", "other"]),
                  Step(lambda x: x, name="z", needs=["rout"])], input=Question)
    problems = info.value.problems
    assert problems == ["step 'z' needs unknown step 'rout' (did you mean 'route'?)"]
    with pytest.raises(WiringError, match=r"could come from 'route.kind' or 'other.kind'"):
        Workflow([route, Step(other, needs=[]), Step(both, needs=["route", "other"])],
                 input=Question)


def test_a_condition_reading_an_unknown_step_fails_at_build() -> None:
    with pytest.raises(WiringError, match=r"when 'rout.kind == 1' reads 'rout', which is not an "
                                          r"earlier step \(did you mean 'route'\?\)"):
        Workflow([route, Step(retrieve, needs=[], when="rout.kind == 1")], input=Question)


# -- running --------------------------------------------------------------------------------


def test_branches_run_or_skip_by_condition_and_skips_propagate() -> None:
    def faq(items: list[str]) -> str:
        return f"faq with {len(items)} docs"

    def chat(text: str) -> str:
        return "chatting"

    def reply(faq: str | None, chat: str | None) -> str:
        return faq or chat or "nothing"

    def after_faq(faq: str) -> str:
        return faq + "!"

    flow = Workflow([
        route, Step(retrieve, needs=[]),
        Step(faq, needs=["retrieve"], when="route.kind == 'faq'"),
        Step(chat, needs=[], when=lambda out: out["route"].kind == "chat"),
        Step(reply, needs=["faq", "chat"]),
        Step(after_faq, needs=["faq"]),
    ], input=Question, output="reply")
    asked = flow.run(Question("what is it?"))
    assert asked.output == "faq with 3 docs" and set(asked.skipped) == {"chat"}
    told = flow.run(Question("hello there"))
    assert told.output == "chatting"
    assert told.skipped == {"faq": "its condition \"route.kind == 'faq'\" was false",
                            "after_faq": "it needs 'faq', which was skipped"}


def test_loops_stop_on_until_or_at_the_limit_with_the_reason_traced() -> None:
    def improve(text: str, previous: str | None = None) -> str:
        return (previous or text) + "+"

    sink = ListSink()
    tracer = Tracer(sink)
    flow = Workflow([Step(improve, loop=Loop(max_iterations=5, until="len(output) >= 4"))],
                    input=Question)
    assert flow.run(Question("ab"), ctx=RunContext(tracer=tracer)).output == "ab++"
    forever = Workflow([Step(improve, loop=Loop(max_iterations=3,
                                                until=lambda out: out.endswith("?")))],
                       input=Question)
    assert forever.run(Question("x"), ctx=RunContext(tracer=tracer)).output == "x+++"
    tracer.flush()
    steps = [s for s in sink.spans if s["kind"] == "step"]
    assert [(s["attributes"]["compound.loop.iterations"],
             s["attributes"]["compound.loop.stop_reason"]) for s in steps] == [
        (2, "until"), (3, "max_iterations")]


def test_fan_out_and_fan_in_sync_and_async() -> None:
    def score(doc: str) -> int:
        return len(doc)

    def best(score: list[int]) -> int:
        return max(score)

    flow = Workflow([retrieve, Step(score, map_over="doc", inputs={"doc": "retrieve.items"},
                                    concurrency=3), best], input=Question)
    assert flow.run(Question("a bb ccc")).output == len("doc about ccc")
    assert asyncio.run(flow.arun(Question("a bb"))).output == len("doc about bb")


def test_fan_out_over_something_that_is_not_a_list_fails_at_build() -> None:
    def score(doc: str) -> int:
        return len(doc)

    with pytest.raises(WiringError, match=r"fans out over 'doc', but 'route.kind' is str, not "
                                          r"a list"):
        Workflow([route, Step(score, map_over="doc", inputs={"doc": "route.kind"})],
                 input=Question)


def test_independent_steps_run_in_parallel_sync_and_async() -> None:
    barrier = threading.Barrier(2, timeout=5)

    def left(text: str) -> str:
        barrier.wait()  # deadlocks (and times out) unless both run at once
        return "L"

    def right(text: str) -> str:
        barrier.wait()
        return "R"

    def join(left: str, right: str) -> str:
        return left + right

    flow = Workflow([left, Step(right, needs=[]), Step(join, needs=["left", "right"])],
                    input=Question)
    assert flow.run(Question("x")).output == "LR"

    async def aleft(text: str) -> str:
        await asyncio.sleep(0.2)
        return "L"

    async def aright(text: str) -> str:
        await asyncio.sleep(0.2)
        return "R"

    aflow = Workflow([Step(aleft, name="left"), Step(aright, name="right", needs=[]),
                      Step(join, needs=["left", "right"])], input=Question)
    start = time.perf_counter()
    assert asyncio.run(aflow.arun(Question("x"))).output == "LR"
    assert time.perf_counter() - start < 0.39


def test_a_step_past_its_timeout_fails_the_run_naming_the_step() -> None:
    def slow(text: str) -> str:
        time.sleep(3)
        return text

    flow = Workflow([Step(slow, timeout_s=0.1)], input=Question)
    with pytest.raises(StepFailed, match=r"step 'slow' failed: CallTimeout: step 'slow' did not "
                                         r"finish within 0.1s"):
        flow.run(Question("x"))

    async def aslow(text: str) -> str:
        await asyncio.sleep(3)
        return text

    aflow = Workflow([Step(aslow, timeout_s=0.1)], input=Question)
    with pytest.raises(StepFailed, match=r"did not finish within 0\.1s"):
        asyncio.run(aflow.arun(Question("x")))


def test_retries_repeat_runtime_failures_but_not_user_errors() -> None:
    attempts: list[int] = []

    def flaky(text: str) -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise RuntimeFailure("temporarily down")
        return "ok"

    sink = ListSink()
    tracer = Tracer(sink)
    assert Workflow([Step(flaky, retries=2)], input=Question).run(
        Question("x"), ctx=RunContext(tracer=tracer)).output == "ok"
    tracer.flush()
    assert sink.spans[0]["attributes"]["compound.step.retries"] == 2

    mistakes: list[int] = []

    def wrong(text: str) -> str:
        mistakes.append(1)
        raise UserError("bad argument")

    with pytest.raises(UserError, match="bad argument"):
        Workflow([Step(wrong, retries=3)], input=Question).run(Question("x"))
    assert len(mistakes) == 1


def test_async_steps_run_in_a_sync_run_and_sync_steps_in_an_async_run() -> None:
    async def fetch(text: str) -> str:
        await asyncio.sleep(0)
        return text.upper()

    def shout(fetch: str) -> str:
        return fetch + "!"

    flow = Workflow([fetch, shout], input=Question)
    assert flow.run(Question("hi")).output == "HI!"
    assert asyncio.run(flow.arun(Question("hi"))).output == "HI!"


def test_a_sub_workflow_is_a_step_and_can_loop_over_several_steps() -> None:
    @dataclass(frozen=True)
    class Draft:
        text: str

    def write(text: str) -> Draft:
        return Draft(text + ".")

    def review(text: str) -> str:
        return text.upper()

    inner = Workflow([write, Step(review, inputs={"text": "write.text"})], name="draft",
                     input=Draft)
    until = Loop(max_iterations=3, until=lambda out: out.endswith(".."))
    outer = Workflow([Step(inner, loop=until),
                      Step(lambda draft: f"final: {draft}", name="final")], input=Question)
    assert outer.run(Question("x")).output == "final: X."


def test_the_context_reaches_steps_that_ask_for_it() -> None:
    def greet(text: str, ctx: RunContext) -> str:
        return f"{ctx.settings['greeting']} {text} ({ctx.path})"

    out = Workflow([greet], input=Question).run(
        Question("ana"), ctx=RunContext(settings={"greeting": "hola"})).output
    assert out == "hola ana (greet)"


def test_dict_input_is_converted_to_the_declared_type_or_rejected() -> None:
    flow = Workflow([route], input=Question)
    assert flow.run({"text": "hi?"}).output == Route("faq", 0.9)
    with pytest.raises(UserError, match="the input does not fit Question"):
        flow.run({"txt": "hi?"})


def test_what_a_step_may_wrap_is_read_by_one_rule_each() -> None:
    class Shout:
        def run(self, text: str) -> str:
            return text.upper()

    class Declared:
        input_types = {"text": str}  # noqa: RUF012
        output_type = str

        async def run(self, ctx: RunContext | None, **inputs: str) -> str:
            return inputs["text"] + "?"

    assert Step(Shout()).params["text"].type is str and Step(Shout()).output_type is str
    flow = Workflow([Declared(), Step(Shout(), inputs={"text": "declared"})], input=Question)
    assert flow.run(Question("hi")).output == "HI?"
    assert asyncio.run(flow.arun(Question("hi"))).output == "HI?"


def test_anything_else_is_refused_saying_what_was_received_and_what_a_step_takes() -> None:
    class Shout:
        def run(self, text: str) -> str:
            return text

    class Half:
        input_types = ("text",)
        output_type = str

        def run(self, ctx: RunContext | None, **inputs: str) -> str:
            return ""

    with pytest.raises(UserError, match=r"received the class Shout.*pass an instance"):
        Step(Shout, name="shout")
    with pytest.raises(UserError, match=r"received int 42, which cannot run; a step wraps a "
                                        r"function, a component with a run\(\) method"):
        Step(42, name="answer")
    with pytest.raises(UserError, match="its input_types is not a mapping"):
        Step(Half(), name="half")


def test_a_workflow_keeps_one_pool_for_its_parallel_steps() -> None:
    def left(text: str) -> str:
        return "L"

    def right(text: str) -> str:
        return "R"

    def join(left: str, right: str) -> str:
        return left + right

    flow = Workflow([left, Step(right, needs=[]), Step(join, needs=["left", "right"])],
                    input=Question, max_parallel=2)
    assert [flow.run(Question("x")).output for _ in range(3)] == ["LR"] * 3
    pool = flow.executor()
    assert pool is flow.executor() and pool._max_workers == 2
