"""Haystack 2.x: a 5-component Pipeline and the Agent with a scripted chat generator."""

from __future__ import annotations

import json
import sys
import time
import warnings
from typing import Any

warnings.filterwarnings("ignore")
start = time.perf_counter()
import haystack  # noqa: E402

IMPORT_S = time.perf_counter() - start

from common import median_per_call, plain_pipeline, tool_functions  # noqa: E402
from haystack import Pipeline, component  # noqa: E402
from haystack.components.agents import Agent  # noqa: E402
from haystack.dataclasses import ChatMessage, ToolCall  # noqa: E402
from haystack.tools import create_tool_from_function  # noqa: E402


@component
class Inc:
    @component.output_types(x=int)
    def run(self, x: int) -> dict[str, int]:
        return {"x": x + 1}


def pipeline() -> Any:
    pipe = Pipeline()
    for i in range(1, 6):
        pipe.add_component(f"s{i}", Inc())
    for i in range(1, 5):
        pipe.connect(f"s{i}.x", f"s{i + 1}.x")
    return lambda: pipe.run({"s1": {"x": 0}})


@component
class ScriptedChat:
    """Answers from a script: tool calls, then a final text."""

    def __init__(self, iterations: int) -> None:
        self.iterations = iterations
        self.i = 0

    @component.output_types(replies=list[ChatMessage])
    def run(self, messages: list[ChatMessage], tools: Any = None, **kwargs: Any
            ) -> dict[str, Any]:
        if self.i < self.iterations:
            reply = ChatMessage.from_assistant(tool_calls=[ToolCall(
                tool_name="add", arguments={"a": self.i, "b": 1}, id=f"c{self.i}")])
        else:
            reply = ChatMessage.from_assistant("done")
        self.i += 1
        return {"replies": [reply]}


def agent(iterations: int) -> Any:
    chat = ScriptedChat(iterations)
    tools = [create_tool_from_function(f) for f in tool_functions()]
    runner = Agent(chat_generator=chat, tools=tools)
    runner.warm_up()

    def run() -> None:
        chat.i = 0
        runner.run(messages=[ChatMessage.from_user("go")])

    return run


def main() -> None:
    number = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    plain = median_per_call(plain_pipeline(), number=number * 20, repeat=7)
    pipe = median_per_call(pipeline(), number=number, repeat=7)
    a10 = median_per_call(agent(10), number=max(5, number // 10), repeat=5)
    a0 = median_per_call(agent(0), number=max(5, number // 10), repeat=5)
    print(json.dumps({
        "version": haystack.__version__,
        "per_step_us": (pipe - plain) / 5 * 1e6,
        "per_agent_iteration_us": (a10 - a0) / 10 * 1e6,
        "import_s": IMPORT_S,
    }))


if __name__ == "__main__":
    main()
