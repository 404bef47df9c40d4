"""Tools: schema from hints and docstrings, validation, and failures as observations."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import pytest

from compound.errors import UserError
from compound.orchestration.spec import ToolSpec
from compound.orchestration.tools import Tool, parse_docstring, tool
from compound.workflow.adapters import tool_from_spec


@dataclass
class Order:
    id: str
    quantity: int = 1


@tool
def lookup(order_id: str, verbose: bool = False) -> dict[str, object]:
    """Look up an order by its id.

    Args:
        order_id: the order's id, like "A-17".
        verbose: include the full history.
    """
    return {"id": order_id, "status": "shipped", "verbose": verbose}


def test_schema_comes_from_type_hints_and_docstring() -> None:
    definition = lookup.definition
    assert definition.name == "lookup"
    assert definition.description == "Look up an order by its id."
    params = definition.parameters
    assert params["required"] == ["order_id"]
    assert params["properties"]["order_id"] == {
        "type": "string", "description": 'the order\'s id, like "A-17".'}
    assert params["properties"]["verbose"]["type"] == "boolean"
    assert params["properties"]["verbose"]["default"] is False


def test_nested_types_are_validated_and_converted() -> None:
    def place(order: Order) -> int:
        """Place an order."""
        assert isinstance(order, Order)
        return order.quantity

    result = Tool(place).call({"order": {"id": "x", "quantity": "3"}})
    assert result.ok and result.value == 3


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [({}, "order_id: Field required"),
     ({"order_id": 5}, "order_id: Input should be a valid string"),
     ({"order_id": "a", "colour": "red"}, "colour: unknown argument; this tool takes order_id, "
                                          "verbose")],
)
def test_invalid_arguments_are_an_observation_not_an_exception(
    arguments: dict[str, object], fragment: str
) -> None:
    calls: list[object] = []
    spy = Tool(lambda order_id: calls.append(order_id), name="spy")
    result = lookup.call(arguments)
    assert result.outcome == "invalid_arguments"
    assert fragment in result.observation()
    assert "Expected arguments: order_id (string), verbose (boolean)" in result.observation()
    assert spy.call({"wrong": 1}).outcome == "invalid_arguments" and not calls


def test_a_tool_that_raises_becomes_an_observation() -> None:
    def broken(x: int) -> int:
        """Always fails."""
        raise KeyError("no such record")

    result = Tool(broken).call({"x": 1})
    assert result.outcome == "error"
    assert result.observation() == "error: tool 'broken' failed: KeyError: 'no such record'"


def test_a_tool_that_hangs_times_out_as_an_observation() -> None:
    def hang(x: int) -> int:
        """Never returns in time."""
        time.sleep(5)
        return x

    start = time.perf_counter()
    result = Tool(hang, timeout_s=0.2).call({"x": 1})
    assert time.perf_counter() - start < 2
    assert result.outcome == "timeout"
    assert "did not answer within 0.2s" in result.observation()


def test_an_unserialisable_result_becomes_an_observation() -> None:
    def handle(x: int) -> object:
        """Returns a lock."""
        import threading

        return {"lock": threading.Lock()}

    result = Tool(handle).call({"x": 1})
    assert result.outcome == "unserialisable"
    assert "the result.lock is a _thread.lock, which cannot be written as JSON" in result.error


def test_async_tools_run_and_time_out() -> None:
    async def fetch(url: str) -> str:
        """Fetch a page."""
        await asyncio.sleep(0.01 if "fast" in url else 5)
        return f"page {url}"

    fast = Tool(fetch, timeout_s=1)
    assert fast.call({"url": "fast"}).value == "page fast"
    assert asyncio.run(fast.acall({"url": "fast"})).value == "page fast"
    slow = Tool(fetch, timeout_s=0.1)
    assert asyncio.run(slow.acall({"url": "slow"})).outcome == "timeout"


def test_a_context_parameter_is_injected_and_hidden_from_the_schema() -> None:
    def whoami(name: str, ctx: object = None) -> str:
        """Say who is asking."""
        return f"{name} in {ctx}"

    t = Tool(whoami)
    assert list(t.parameters["properties"]) == ["name"] and t.takes_context
    assert t.call({"name": "ana"}, ctx="run-1").value == "ana in run-1"


def test_side_effecting_tools_must_be_allowed_in_the_spec() -> None:
    spec = ToolSpec(function="tests.orchestration.test_tools:refund")
    with pytest.raises(UserError, match=r"has side effects .* add 'side_effects: true' under "
                                        r"tools.refund"):
        tool_from_spec("refund", spec)
    allowed = tool_from_spec("refund", ToolSpec(function="tests.orchestration.test_tools:refund",
                                                side_effects=True, timeout_s=3))
    assert allowed.side_effects and allowed.timeout_s == 3
    assert allowed.call({"amount": 2}).value == "refunded 2"


def test_a_missing_function_is_a_user_error_naming_it() -> None:
    with pytest.raises(UserError, match="has no attribute 'nope'"):
        tool_from_spec("x", ToolSpec(function="tests.orchestration.test_tools:nope"))


def test_docstring_parser_reads_multiline_argument_descriptions() -> None:
    summary, args = parse_docstring(
        "Search the web.\n\nArgs:\n    query: what to look for,\n        in plain words.\n"
        "    k (int): how many results.\n\nReturns:\n    the results.\n")
    assert summary == "Search the web."
    assert args == {"query": "what to look for, in plain words.", "k": "how many results."}


@tool(side_effects=True)
def refund(amount: int) -> str:
    """Refund money."""
    return f"refunded {amount}"
