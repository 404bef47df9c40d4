"""The examples in the workflow modules' docstrings run and show what they claim."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "compound.orchestration.tools", "compound.workflow.adapters", "compound.workflow.agent",
    "compound.workflow.conditions", "compound.workflow.context", "compound.workflow.graph",
    "compound.workflow.handoff", "compound.workflow.loader", "compound.workflow.runs",
    "compound.workflow.state", "compound.workflow.step", "compound.workflow.tracing",
    "compound.workflow.workers",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
