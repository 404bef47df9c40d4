"""The examples in the workflow modules' docstrings run and show what they claim."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "compound.conditions", "compound.json_values", "compound.orchestration.tools",
    "compound.orchestration.workers", "compound.type_fit", "compound.workflow.adapters",
    "compound.workflow.agent", "compound.workflow.context", "compound.workflow.graph",
    "compound.workflow.loader", "compound.workflow.runs", "compound.workflow.state",
    "compound.workflow.step", "compound.workflow.tracing",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
