"""LangGraph: a 5-node StateGraph and create_react_agent with a scripted chat model."""

from __future__ import annotations

import itertools
import json
import sys
import time
import warnings
from typing import Any, TypedDict

warnings.filterwarnings("ignore")
start = time.perf_counter()
import langgraph.graph  # noqa: E402, F401 - timed on purpose

IMPORT_S = time.perf_counter() - start

from common import median_per_call, plain_pipeline, tool_functions  # noqa: E402
from langchain_core.language_models.fake_chat_models import (  # noqa: E402
    FakeMessagesListChatModel,
)
from langchain_core.messages import AIMessage  # noqa: E402
from langgraph.graph import END, START, StateGraph  # noqa: E402
from langgraph.prebuilt import create_react_agent  # noqa: E402


class State(TypedDict):
    x: int


def pipeline() -> Any:
    graph = StateGraph(State)
    names = [f"s{i}" for i in range(1, 6)]
    for name in names:
        graph.add_node(name, lambda state: {"x": state["x"] + 1})
    graph.add_edge(START, names[0])
    for a, b in itertools.pairwise(names):
        graph.add_edge(a, b)
    graph.add_edge(names[-1], END)
    app = graph.compile()
    return lambda: app.invoke({"x": 0})


class ToolModel(FakeMessagesListChatModel):
    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self


def agent(iterations: int) -> Any:
    calls = [AIMessage(content="", tool_calls=[{"name": "add", "args": {"a": i, "b": 1},
                                                 "id": f"c{i}"}]) for i in range(iterations)]
    model = ToolModel(responses=[*calls, AIMessage(content="done")])
    app = create_react_agent(model, list(tool_functions()))

    def run() -> None:
        model.i = 0
        app.invoke({"messages": [("user", "go")]})

    return run


def main() -> None:
    number = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    plain = median_per_call(plain_pipeline(), number=number * 20, repeat=7)
    graph = median_per_call(pipeline(), number=number, repeat=7)
    a10 = median_per_call(agent(10), number=max(5, number // 20), repeat=5)
    a0 = median_per_call(agent(0), number=max(5, number // 20), repeat=5)
    print(json.dumps({
        "version": __import__("importlib.metadata").metadata.version("langgraph"),
        "per_step_us": (graph - plain) / 5 * 1e6,
        "per_agent_iteration_us": (a10 - a0) / 10 * 1e6,
        "import_s": IMPORT_S,
    }))


if __name__ == "__main__":
    main()
