"""The examples in the rails modules' docstrings run and show what they claim."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "compound.production.rails", "compound.production.rails.base",
    "compound.production.rails.classifier", "compound.production.rails.engine",
    "compound.production.rails.grounded", "compound.production.rails.heuristics",
    "compound.production.rails.injection", "compound.production.rails.normalization",
    "compound.production.rails.pii", "compound.privacy.recognizers",
    "compound.production.rails.redaction", "compound.production.rails.secrets",
    "compound.production.rails.steps", "compound.production.rails.stream",
    "compound.production.rails.structured", "compound.production.rails.topic",
    "compound.production.rails.verdict", "compound.privacy.secrets", "compound.privacy.spans",
    "compound.privacy.redactor",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
