"""The examples in the serving, feedback and monitoring modules' docstrings run and show what
they claim."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "compound.production.serving_spec",
    "compound.production.serving.app", "compound.production.serving.batcher",
    "compound.production.serving.chat", "compound.production.serving.disclosure",
    "compound.production.serving.events",
    "compound.production.serving.keys", "compound.production.serving.limits",
    "compound.production.serving.recorder", "compound.production.serving.runner",
    "compound.production.serving.served_llm", "compound.production.serving.tracer",
    "compound.production.feedback.client", "compound.production.feedback.log",
    "compound.production.feedback.signals",
    "compound.production.monitoring.drift", "compound.production.monitoring.drift_monitor",
    "compound.production.monitoring.metrics", "compound.production.monitoring.monitor",
    "compound.production.monitoring.quality", "compound.production.monitoring.rollups",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
