"""The agent loop: tool calls, observations, repair, limits and stop reasons."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import pytest

from compound.intelligence.llm import InvalidResponse, Message, ScriptedLLM, ToolCall
from compound.intelligence.llm.types import GenerationParams
from compound.orchestration.tools import Tool, tool
from compound.store import MemoryStore
from compound.workflow import Agent, Budget, RunContext, Session
from compound.workflow.tracing import ListSink, Tracer


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@tool
def explode(reason: str) -> str:
    """Always fails."""
    raise RuntimeError(f"boom: {reason}")


@tool(timeout_s=0.1)
def hang(x: int) -> int:
    """Never answers in time."""
    time.sleep(3)
    return x


@tool
def weird(x: int) -> object:
    """Returns something that is not JSON."""
    return {1, 2} if x else object()


def test_a_tool_call_then_an_answer() -> None:
    llm = ScriptedLLM([ToolCall("add", {"a": 2, "b": 3}, id="c1"), "The sum is 5."])
    result = Agent(llm=llm, tools=[add]).run("2+3?")
    assert (result.answer, result.stop_reason, result.iterations) == ("The sum is 5.", "answer", 2)
    assert [r.value for r in result.tool_results] == [5]
    second_call_messages = llm.calls[1][0]
    assert second_call_messages[-1] == Message("tool", "5", tool_call_id="c1", name="add")
    assert llm.calls[0][1].tools[0].name == "add"


@pytest.mark.parametrize(
    ("call", "observation"),
    [(ToolCall("explode", {"reason": "x"}), "error: tool 'explode' failed: RuntimeError: boom: x"),
     (ToolCall("hang", {"x": 1}), "error: tool 'hang' did not answer within 0.1s"),
     (ToolCall("weird", {"x": 0}), "error: tool 'weird' returned something that cannot be shown"),
     (ToolCall("add", {"a": "two", "b": 1}), "error: invalid arguments for tool 'add': a: "),
     (ToolCall("ad", {"a": 1}), "error: there is no tool named 'ad' (did you mean 'add'?)")],
    ids=["raises", "hangs", "unserialisable", "bad-arguments", "unknown-tool"],
)
def test_tool_failures_become_observations_the_model_reads(call: ToolCall, observation: str
                                                           ) -> None:
    llm = ScriptedLLM([call, "I could not do it."])
    sink = ListSink()
    tracer = Tracer(sink)
    result = Agent(llm=llm, tools=[add, explode, hang, weird]).run(
        "try", RunContext(tracer=tracer))
    assert result.stop_reason == "answer"
    tool_message = llm.calls[1][0][-1]
    assert tool_message.role == "tool" and tool_message.content.startswith(observation)
    tracer.flush()
    if call.name != "ad":
        tool_span = next(s for s in sink.spans if s["kind"] == "tool")
        assert tool_span["status"] == "error" and tool_span["error"].startswith(observation[7:])


def test_malformed_tool_json_gets_one_repair_attempt() -> None:
    bad = InvalidResponse("tool call arguments are not JSON (Expecting value)", raw='{"tool": ')
    llm = ScriptedLLM([bad, ToolCall("add", {"a": 1, "b": 1}), "2"])
    result = Agent(llm=llm, tools=[add]).run("1+1?")
    assert result.answer == "2" and result.iterations == 2
    repair = llm.calls[1][0]
    assert repair[-2] == Message("assistant", '{"tool": ')
    assert repair[-1].content.startswith("Your last reply was not a valid action: tool call "
                                         "arguments are not JSON")


def test_malformed_json_twice_becomes_an_observation_and_the_loop_goes_on() -> None:
    bad = InvalidResponse("not an action", raw="garbage")
    llm = ScriptedLLM([bad, bad, "fine, 4"])
    result = Agent(llm=llm, tools=[add]).run("2+2?")
    assert result.answer == "fine, 4" and result.iterations == 2
    observation = llm.calls[2][0][-1]
    assert observation.content.startswith("Observation: your reply was not a valid action twice")


def test_a_model_that_loops_forever_stops_at_max_steps() -> None:
    counter = iter(range(1000))
    llm = ScriptedLLM(lambda m, p: ToolCall("add", {"a": next(counter), "b": 0}))
    sink = ListSink()
    tracer = Tracer(sink)
    result = Agent(llm=llm, tools=[add], max_steps=4).run("loop", RunContext(tracer=tracer))
    assert (result.stop_reason, result.iterations, result.answer) == ("max_steps", 4, "")
    tracer.flush()
    agent_span = next(s for s in sink.spans if s["kind"] == "agent")
    assert agent_span["attributes"]["compound.agent.stop_reason"] == "max_steps"
    assert agent_span["status"] == "stopped"


def test_the_same_call_repeated_stops_the_loop() -> None:
    llm = ScriptedLLM([ToolCall("add", {"a": 1, "b": 1})])
    result = Agent(llm=llm, tools=[add], max_steps=10, max_repeats=3).run("again")
    assert (result.stop_reason, result.iterations) == ("repeated_action", 3)


def test_token_and_cost_budgets_stop_the_loop() -> None:
    llm = ScriptedLLM([ToolCall("add", {"a": 1, "b": 2}), ToolCall("add", {"a": 2, "b": 2})])
    by_agent = Agent(llm=llm, tools=[add], max_tokens=5, max_repeats=None).run("many words " * 4)
    assert by_agent.stop_reason == "token_budget" and by_agent.iterations == 1
    run_budget = RunContext(budget=Budget(max_tokens=20))
    by_run = Agent(llm=ScriptedLLM([ToolCall("add", {"a": 1, "b": 2})]), tools=[add],
                   max_repeats=None).run("few words", run_budget)
    assert by_run.stop_reason == "token_budget"
    assert run_budget.budget.tokens >= 20
    priced = ScriptedLLM([ToolCall("add", {"a": 1, "b": 2})])
    priced.price_per_mtok = {"input": 1e6, "output": 1e6}
    priced.provider = "custom"  # type: ignore[misc]
    by_cost = Agent(llm=priced, tools=[add], max_cost_usd=1.0, max_repeats=None).run("x")
    assert by_cost.stop_reason == "cost_budget"


def test_a_session_remembers_the_conversation() -> None:
    store = MemoryStore()
    session = Session(store, "u1")
    llm = ScriptedLLM(["Hello Ana.", "Your name is Ana."])
    agent = Agent(llm=llm, tools=[add], instructions="Be brief.")
    agent.run("I am Ana.", session=session)
    agent.run("What is my name?", session=session)
    seen = [(m.role, m.content) for m in llm.calls[1][0]]
    assert seen == [("system", "Be brief."), ("user", "I am Ana."), ("assistant", "Hello Ana."),
                    ("user", "What is my name?")]
    assert len(session.messages()) == 4


def test_the_async_loop_matches_the_sync_one() -> None:
    llm = ScriptedLLM([ToolCall("add", {"a": 2, "b": 3}, id="c1"), "5"])
    result = asyncio.run(Agent(llm=llm, tools=[add]).arun("2+3?"))
    assert (result.answer, result.stop_reason, [r.value for r in result.tool_results]) == (
        "5", "answer", [5])


def test_model_spans_carry_genai_attributes() -> None:
    sink = ListSink()
    tracer = Tracer(sink)
    llm = ScriptedLLM([ToolCall("add", {"a": 2, "b": 3}, id="c1"), "5"], model="tiny")
    Agent(llm=llm, tools=[add], name="calc").run("2+3?", RunContext(tracer=tracer,
                                                                     run_id="f" * 32))
    tracer.flush()
    model = next(s for s in sink.spans if s["kind"] == "model")
    attrs = model["attributes"]
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "scripted"
    assert attrs["gen_ai.request.model"] == "tiny"
    assert attrs["gen_ai.usage.input_tokens"] == 1 and attrs["gen_ai.usage.output_tokens"] == 1
    assert attrs["gen_ai.input.messages"] == [{"role": "user", "content": "2+3?",
                                               "tool_calls": [], "tool_call_id": None,
                                               "name": None}]
    agent = next(s for s in sink.spans if s["kind"] == "agent")
    assert model["parent_id"] == agent["span_id"]
    assert agent["attributes"]["gen_ai.agent.name"] == "calc"
    tool_span = next(s for s in sink.spans if s["kind"] == "tool")
    assert tool_span["attributes"]["gen_ai.tool.call.arguments"] == {"a": 2, "b": 3}
    assert tool_span["attributes"]["gen_ai.tool.call.result"] == 5


# -- the real providers ---------------------------------------------------------------------


@pytest.mark.integration
def test_native_tool_calling_over_an_openai_compatible_server() -> None:
    from compound.intelligence.llm.local_server import LocalOpenAIServer
    from compound.intelligence.llm.openai_compat import OpenAICompatibleLLM

    def backend(messages: Sequence[Message], params: GenerationParams) -> object:
        if not any(m.role == "tool" for m in messages):
            assert [t.name for t in params.tools] == ["add"]
            return ToolCall("add", {"a": 20, "b": 22}, id="call_1")
        return f"The answer is {messages[-1].content}."

    with LocalOpenAIServer(ScriptedLLM(backend)) as server:
        llm = OpenAICompatibleLLM(model="backend", base_url=server.base_url)
        result = Agent(llm=llm, tools=[add]).run("What is 20 + 22?")
        sent = server.requests[1]["messages"]
    assert (result.answer, result.stop_reason) == ("The answer is 42.", "answer")
    assert sent[-2]["tool_calls"][0]["function"]["name"] == "add"
    assert sent[-1] == {"role": "tool", "content": "42", "tool_call_id": "call_1"}


@pytest.mark.integration
def test_grammar_constrained_actions_with_the_embedded_model(embedded_llm: object) -> None:
    @tool
    def capital(country: str) -> str:
        """The capital city of a country."""
        return {"france": "Paris"}.get(country.strip().lower(), "unknown")

    agent = Agent(llm=embedded_llm, tools=[capital], max_steps=1, max_tokens_per_call=32,  # type: ignore[arg-type]
                  instructions="Use the capital tool to answer.")
    result = agent.run("What is the capital of France?")
    # One grammar-constrained turn: the tiny base model either answers or calls the tool;
    # either way its action parsed (the grammar guarantees the shape) and the loop ended
    # with an explicit reason. A malformed action would have raised or been repaired.
    assert result.iterations == 1
    if result.tool_results:
        assert result.stop_reason == "max_steps"
        assert [r.tool for r in result.tool_results] == ["capital"]
        assert result.tool_results[0].outcome in ("ok", "invalid_arguments")
    else:
        assert result.stop_reason == "answer" and result.answer
    assert isinstance(Tool(capital.function).definition.parameters, dict)


def test_required_tool_choice_holds_until_the_first_call() -> None:
    llm = ScriptedLLM([ToolCall("add", {"a": 2, "b": 3}), "5."])
    result = Agent(llm=llm, tools=[add], tool_choice="required").run("2+3?")
    assert result.answer == "5."
    assert [params.tool_choice for _, params in llm.calls] == ["required", "auto"]
    plain = ScriptedLLM(["5."])
    Agent(llm=plain, tools=[add]).run("2+3?")
    assert plain.calls[0][1].tool_choice == "auto"


def test_tool_choice_is_checked() -> None:
    from compound.errors import UserError

    with pytest.raises(UserError, match="tool_choice is one of auto, required"):
        Agent(llm=ScriptedLLM([]), tools=[add], tool_choice="always")  # type: ignore[arg-type]
    with pytest.raises(UserError, match="'required' needs tools"):
        Agent(llm=ScriptedLLM([]), tool_choice="required")
    with pytest.raises(UserError, match="tool_choice is one of"):
        ScriptedLLM(["x"]).complete("hi", tools=[add.definition], tool_choice="must")  # type: ignore[arg-type]
